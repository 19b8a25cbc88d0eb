"""Cache of the real side's per-image features (KID, precision/recall), as FID caches its statistics.

KID and precision/recall need every real feature, not only FID's mean and covariance, so each
run used to push all of the reference images through the network again (50,000 for ``kid50k``,
200,000 VGG16 passes for ``pr50k3_full``), as stylegan2-ada-pytorch avoids by caching them. A
cached array lives at ``<cache dir>/dataset_features/<name>-<key>.npy`` (float32 [N, D], exactly the
rows the pass computes, so a cached run gives the same numbers bit for bit). ``key`` is the sha256
of what the rows depend on, as for :mod:`.dataset_stats`: the dataset's content listing (or the
test-bed configuration), the extractor's name and weights sha256, the image count, resolution,
flips and their seed. Only extractors identified by a weights file are cached (their features are
named by its hash; a network without one could hold any weights). Writes are atomic; a cache file
that does not load or has the wrong shape is recomputed with a warning. Sizes: 50k x 2048 is
400 MB, 200k x 4096 (``pr50k3_full``'s reals) 3.2 GB; delete the folder to reclaim them.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from .dataset_stats import cache_key, extractor_identity
from .features import FeatureExtractor
from .weights import cache_dir


def features_cache_dir() -> Path:
    """``<cache dir>/dataset_features``."""
    return cache_dir() / "dataset_features"


def _reference_identity(reference: Any, resolution: int, source: Any) -> tuple[str, list, dict[str, Any]]:
    """(file-name stem, content listing, extra key options) of the real side: the test bed's config,
    or the opened dataset ``source``'s listing (read here, once per pass)."""
    if isinstance(reference, str) and reference == "testbed":
        from .data.testbed_config import TestbedConfig
        from .data.testbed_render import RENDER_VERSION
        cfg = TestbedConfig().replace(resolution=int(resolution))
        return f"testbed{resolution}", [], dict(testbed=cfg.to_dict(), testbed_render=RENDER_VERSION)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(reference).name)[:60], source.listing(), {}


def cache_paths(reference: Any, extractors: dict[str, FeatureExtractor], num: int, resolution: int, mirror: bool,
                seed: int, source: Any = None) -> dict[str, Optional[Path]]:
    """Where each extractor's features of ``num`` images of ``reference`` are cached (None: not cacheable).

    ``source`` is the opened dataset (:class:`~.data.images.ImageSource`; unused for the test bed);
    its listing is read once, and only when some extractor is cacheable.
    """
    out: dict[str, Optional[Path]] = {e: None for e in extractors}
    cacheable = {e: x for e, x in extractors.items() if x.weights_sha256 is not None}
    if not cacheable:
        return out
    stem, listing, extra = _reference_identity(reference, resolution, source)
    for e, x in cacheable.items():
        options = dict(extractor_identity(x), num_images=int(num), resolution=int(resolution), mirror=bool(mirror),
                       seed=int(seed) if mirror else None, kind="all_features", **extra)
        out[e] = features_cache_dir() / f"{stem}-{x.feature_dim}d-{cache_key(listing, options)[:20]}.npy"
    return out


def load(path: Path, num: int, dim: int, device: torch.device) -> Optional[torch.Tensor]:
    """The cached [num, dim] features at ``path``, or None when absent or unusable (then warned)."""
    if not path.is_file():
        return None
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        warnings.warn(f"{path}: cached real features do not load ({exc}); recomputing them", RuntimeWarning,
                      stacklevel=2)
        return None
    if arr.shape != (num, dim) or arr.dtype != np.float32:
        warnings.warn(f"{path}: cached real features are {arr.dtype} {arr.shape}, expected float32 ({num}, {dim}); "
                      "recomputing them", RuntimeWarning, stacklevel=2)
        return None
    return torch.from_numpy(arr).to(device)


def save(path: Path, features: torch.Tensor) -> None:
    """Write ``features`` [N, D] float32 to ``path`` atomically."""
    from .results import atomic_write_bytes
    buf = io.BytesIO()
    np.save(buf, features.detach().to("cpu", torch.float32).numpy(), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())
