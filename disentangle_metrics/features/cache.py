"""The real side: reference statistics of a dataset, its per-image features, and stats files checked
against the run, all cached.

Reference statistics of a real-image dataset, cached.

``dataset_stats`` runs a feature extractor over a folder, zip or array of images (see
:mod:`.data.images`) and returns :class:`~.stats.FeatureStats`. The result is cached at
``<cache dir>/dataset_stats/<name>-<key>.npz`` where ``key`` is the sha256 of the dataset's
content listing (file names with sizes and modification times, zip CRCs, or the array file's
size, time and shape) and of every option that changes the numbers: extractor name and weights
hash, resolution, number and choice of images, flips and their seed, bad-file skipping. Changing
any of them, or touching a file, computes afresh. Writes are atomic.

Cache of the real side's per-image features (KID, precision/recall), as FID caches its statistics.

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

import hashlib
import io
import json
import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
import torch

from .._core import distributed
from .._core.progress import progress_bar
from .._core.device import DeviceLike, default_batch_size, metric_precision, resolve_device
from .._core.options import count_or_default
from .._core.weights import cache_dir
from ..data.images import ImageDataset, ImageSource, iterate_batches, open_source
from ..functional.stats import FeatureStats, is_stats_file, read_stats_info
from . import DEFAULT_EXTRACTOR, FeatureExtractor, build_extractor

if TYPE_CHECKING:
    from ..data.testbed_config import TestbedConfig

PAPER_NUM = 50_000
TESTBED_REFERENCE = "testbed"   # reference= value: the procedural test bed rendered at G's resolution
Reference = Union[str, os.PathLike, FeatureStats]


CACHE_VERSION = 1   # bump when the computation changes in a way the key does not capture


def stats_cache_dir() -> Path:
    """``<cache dir>/dataset_stats``."""
    return cache_dir() / "dataset_stats"


def extractor_identity(ext: FeatureExtractor) -> dict[str, Optional[str]]:
    """Name and weights hash of an extractor: what its features depend on."""
    return {"extractor": getattr(ext, "registry_name", type(ext).__name__), "weights_sha256": ext.weights_sha256}


def cache_key(listing: list, options: dict) -> str:
    """sha256 of the content listing and the options, as hex."""
    blob = json.dumps({"version": CACHE_VERSION, "listing": listing, "options": options}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _describe_sizes(sizes: set[tuple[int, ...]], resolution: Optional[int]) -> str:
    """'R' for square RxR images of one size (what FID compares with img_resolution), else 'HxW,...'."""
    if resolution is not None:
        return str(int(resolution))
    if len(sizes) == 1 and len(next(iter(sizes))) == 2 and len(set(next(iter(sizes)))) == 1:
        return str(next(iter(sizes))[0])
    return ",".join(f"{h}x{w}" for h, w in sorted(sizes)) or "unknown"


def _load_cached(path: Path, device: torch.device) -> FeatureStats:
    """Statistics from the cache file ``path``, marked as cached."""
    st = FeatureStats.load(path, device=device)
    st.info.update(cached=True, cache_file=str(path))
    return st


def dataset_stats(source: Union[str, os.PathLike, ImageSource], extractor: Union[str, FeatureExtractor] = DEFAULT_EXTRACTOR,
                  num: Optional[int] = None, *, mirror: bool = False, resolution: Optional[int] = None,
                  subset: str = "first", seed: int = 0, skip_bad: bool = False, weights: Optional[str] = None,
                  device: DeviceLike = "auto", batch_size: Optional[int] = None, num_threads: int = 4,
                  array_key: Optional[str] = None, layout: str = "auto", cache: bool = True,
                  progress: bool = True, allow_hash_mismatch: bool = False) -> FeatureStats:
    """Feature statistics (mean, covariance with N - 1) of ``num`` images of ``source`` (all when None).

    ``mirror`` flips each image with probability 1/2 (seeded), as the paper's fid50k does for
    datasets trained with mirror augmentation. ``resolution`` resizes every image first (box
    filter for power-of-two downscales, else Lanczos). ``extractor`` is a registered name or a
    built :class:`FeatureExtractor`. ``source`` may be an opened :class:`~..data.images.ImageSource`
    (a request that lists the dataset once). ``stats.info`` tells whether the cache was used, its file
    and how many bad images were skipped.
    """
    dev = resolve_device(device)
    if isinstance(extractor, FeatureExtractor):
        ext = extractor
    else:
        extra = {"allow_hash_mismatch": True} if allow_hash_mismatch else {}
        ext = build_extractor(extractor, weights=weights, device=dev, **extra)
    src = source if isinstance(source, ImageSource) else open_source(source, array_key=array_key, layout=layout)
    source = getattr(src, "path", source)
    options = dict(extractor_identity(ext), num_images=num, resolution=resolution, subset=subset if num else "all",
                   mirror=mirror, seed=seed if (mirror or (num and subset == "random")) else None,
                   skip_bad=skip_bad, array_key=array_key, layout=layout)
    key = cache_key(src.listing(), options)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(source).name)[:60]
    path = stats_cache_dir() / f"{stem}-{key[:20]}.npz"
    if cache and path.is_file():
        return _load_cached(path, dev)

    ds = ImageDataset(src, resolution=resolution, mirror=mirror, num=num, subset=subset, seed=seed, skip_bad=skip_bad)
    bs = default_batch_size(dev, cpu=16, cuda=200) if batch_size is None else _positive(batch_size, "batch_size")
    st = FeatureStats(ext.feature_dim, device=dev)
    me = distributed.info()   # under torchrun each process reads its share of the batches
    sizes: set[tuple[int, ...]] = set()   # recorded, so a stats file used at another resolution is refused
    with metric_precision(), torch.inference_mode(), \
            progress_bar(len(ds), f"stats {Path(source).name}", progress and me.is_main, unit="img") as bar:
        for batch in iterate_batches(ds, bs, num_threads=num_threads, rank=me.rank, world_size=me.world_size):
            sizes.add(tuple(batch.shape[2:]))
            st.update(ext(batch.to(dev, non_blocking=True)))
            bar.update(batch.shape[0] * me.world_size)
    st.all_reduce_()
    num_skipped = int(distributed.all_reduce_sum_(torch.tensor([len(ds.skipped)], dtype=torch.float64)).item())
    if st.count < 2:
        raise ValueError(f"{source}: only {st.count} readable images; statistics need at least 2")
    info = {**{k: str(v) for k, v in options.items()}, "dataset": str(source), "skipped": str(num_skipped),
            "cache_key": key, "image_resolution": _describe_sizes(sizes, resolution)}
    if cache and me.is_main:
        st.save(path, **info)
    st.info = {**info, "cached": False, "cache_file": str(path) if cache else None,
               "skipped_files": ds.skipped[:20]}
    return st


def testbed_stats(extractor: Union[str, FeatureExtractor], num: int, resolution: int, *,
                  config: Optional["TestbedConfig"] = None, device: DeviceLike = "auto",
                  batch_size: Optional[int] = None, cache: bool = True, progress: bool = True,
                  weights: Optional[str] = None) -> FeatureStats:
    """Feature statistics of the first ``num`` images of the procedural test bed at ``resolution``.

    The test bed is the offline stand-in for a real dataset (``reference='testbed'`` in
    :func:`~disentangle_metrics.metrics.fid.fid`): images are rendered on the fly, deterministically, from
    ``config`` (default :class:`~.data.testbed_config.TestbedConfig`). Cached like
    :func:`dataset_stats`, keyed by the whole test-bed config, ``num`` and the extractor; sharded
    by global batch under torch.distributed.
    """
    from ..data.testbed import render
    from ..data.testbed_config import TestbedConfig
    from ..data.testbed_render import RENDER_VERSION
    from .._core.sampling import batch_ranges

    dev = resolve_device(device)
    ext = extractor if isinstance(extractor, FeatureExtractor) else build_extractor(extractor, weights=weights, device=dev)
    cfg = (config or TestbedConfig()).replace(resolution=int(resolution))
    options = dict(extractor_identity(ext), num_images=int(num), testbed=cfg.to_dict(), testbed_render=RENDER_VERSION)
    key = cache_key([], options)
    path = stats_cache_dir() / f"testbed{resolution}-{key[:20]}.npz"
    if cache and path.is_file():
        return _load_cached(path, dev)
    bs = default_batch_size(dev, cpu=64, cuda=256) if batch_size is None else _positive(batch_size, "batch_size")
    st = FeatureStats(ext.feature_dim, device=dev)
    me = distributed.info()
    with metric_precision(), torch.inference_mode(), \
            progress_bar(num, f"stats testbed@{resolution}", progress and me.is_main, unit="img") as bar:
        for _, idx in batch_ranges(int(num), bs, me.rank, me.world_size):
            st.update(ext(render(cfg, list(idx), device=dev)))
            bar.update(len(idx) * me.world_size)
    st.all_reduce_()
    info = {**{k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else str(v) for k, v in options.items()},
            "dataset": f"testbed@{resolution}", "cache_key": key, "image_resolution": str(int(resolution))}
    if cache and me.is_main:
        st.save(path, **info)
    st.info = {**info, "cached": False, "cache_file": str(path) if cache else None}
    return st


# --- per-image features of the real side (KID, precision/recall) ---



def features_cache_dir() -> Path:
    """``<cache dir>/dataset_features``."""
    return cache_dir() / "dataset_features"


def _reference_identity(reference: Any, resolution: int, source: Any) -> tuple[str, list, dict[str, Any]]:
    """(file-name stem, content listing, extra key options) of the real side: the test bed's config,
    or the opened dataset ``source``'s listing (read here, once per pass)."""
    if isinstance(reference, str) and reference == "testbed":
        from ..data.testbed_config import TestbedConfig
        from ..data.testbed_render import RENDER_VERSION
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
        options = dict(extractor_identity(x), num_images=int(num), resolution=None if resolution is None else int(resolution), mirror=bool(mirror),
                       seed=int(seed) if mirror else None, kind="all_features", **extra)
        out[e] = features_cache_dir() / f"{stem}-{x.feature_dim}d-{cache_key(listing, options)[:20]}.npy"
    return out


def load_features(path: Path, num: int, dim: int, device: torch.device) -> Optional[torch.Tensor]:
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


def save_features(path: Path, features: torch.Tensor) -> None:
    """Write ``features`` [N, D] float32 to ``path`` atomically."""
    from .._core.results import atomic_write_bytes
    buf = io.BytesIO()
    np.save(buf, features.detach().to("cpu", torch.float32).numpy(), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


# --- reference statistics for FID, checked against the run ---

def reference_stats(reference: Reference, ext: FeatureExtractor, device: torch.device, *, resolution: Optional[int],
                    num_real: Optional[int], mirror: Optional[bool], seed: int, progress: bool,
                    check_resolution: bool = True, source: Optional[ImageSource] = None
                    ) -> tuple[FeatureStats, str]:
    """(statistics, description) of ``reference``: FeatureStats, a stats ``.npz``, or a dataset
    (``source``: the dataset already opened, so it is listed once per request).

    A stats file must have been computed as this run would compute it: the extractor, its weights,
    the image resolution (``resolution``, the generator's) and, when ``mirror`` is not None, the
    mirroring it records must match, else a ValueError names both values.
    """
    if reference is None:
        raise ValueError("FID needs reference statistics: pass a stats .npz (make one with `dmetrics stats DATASET "
                         "--out stats.npz`) or a dataset (folder, zip, .npy/.npz images)")
    if isinstance(reference, FeatureStats):
        return reference, "FeatureStats"
    if isinstance(reference, str) and reference == TESTBED_REFERENCE:
        if resolution is None:
            raise ValueError("reference='testbed' needs the generator's img_resolution to render the test bed at")
        num = count_or_default(num_real, PAPER_NUM, "num_real")
        st = testbed_stats(ext, num, resolution, device=device, progress=progress)
        return st, f"testbed at {resolution}x{resolution} (first {num} images, default config)"
    p = Path(reference)
    if is_stats_file(p):
        st = FeatureStats.load(p, device=device)
        saved = read_stats_info(p)
        mine = extractor_identity(ext)
        for k in ("extractor", "weights_sha256"):
            if k in saved and mine[k] is not None and saved[k] != str(mine[k]):
                raise ValueError(f"{p} was computed with {k} {saved[k]}, but this run uses {mine[k]}; "
                                 "recompute the statistics with the same extractor and weights")
        saved_res = saved.get("image_resolution") or (saved.get("resolution") if saved.get("resolution") != "None" else None)
        if check_resolution and resolution is not None and saved_res not in (None, "unknown") \
                and saved_res != str(resolution):
            raise ValueError(f"{p} holds statistics of {saved_res}x{saved_res} images, but the generator makes "
                             f"{resolution}x{resolution} images; recompute them with `dmetrics stats DATASET "
                             f"--resolution {resolution} --out STATS.npz`")
        if mirror is not None and "mirror" in saved and saved["mirror"] != str(bool(mirror)):
            raise ValueError(f"{p} was computed with mirror={saved['mirror']}, but this run asks for "
                             f"mirror={bool(mirror)}; recompute the statistics with{'' if mirror else 'out'} --mirror "
                             "or drop the mirror option")
        return st, f"stats file {p}"
    from ..data.images import INTERRUPTED_EXPORT, interrupted_testbed_export
    if interrupted_testbed_export(p):
        warnings.warn(INTERRUPTED_EXPORT.format(path=p), RuntimeWarning, stacklevel=3)
    src = source if source is not None else open_source(p)
    n_avail = len(src) if num_real is not None else None
    st = dataset_stats(src, ext, num=min(num_real, n_avail) if num_real else None, mirror=bool(mirror), resolution=resolution,
                       seed=seed, device=device, progress=progress)
    return st, f"dataset {p} ({st.count} images{', mirrored' if mirror else ''})"


def rank_problem(count: int, dim: int, what: str) -> Optional[str]:
    """Why statistics of ``count`` samples cannot have a full-rank covariance (rank <= count - 1), or None."""
    if count > dim:
        return None
    return (f"{what}: {count} samples in a {dim}-d feature space give a covariance of rank at most "
            f"{count - 1} < {dim}, so the FID is degenerate; use at least {dim + 1} (the paper: {PAPER_NUM})")
