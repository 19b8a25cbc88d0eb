"""The functions researchers call: ``dm.fid``, ``dm.kid``, ``dm.precision_recall``, ``dm.inception_score``.

One argument convention for every metric (``dm.ppl`` and ``dm.separability`` follow it too):
``G`` first (a generator, or for these four a folder / zip / ``.npz`` of generated images),
``num_samples`` (generated count), ``device`` ('auto', 'cpu', 'cuda:1' or a torch.device),
``weights`` (a dict: extractor or weights name -> file), ``progress=False``, ``seed=0``. The
caller's generator is never modified (sources work on a private copy). Each returns a
:class:`~.results.MetricResult`; the defaults are stylegan2-ada-pytorch's ``_full`` metrics
(``fid`` defaults to the paper's fid50k: 50k reals).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from . import image_metrics as IM
from .device import DeviceLike
from .features import DEFAULT_EXTRACTOR
from .registry import ScoreOptions
from .results import MetricResult


def _run(G: Any, row: IM.ImageMetric, reference: Any, *, num_samples: int, num_real: Optional[int], mirror: bool,
         extractor: Optional[str], weights: Optional[Mapping[str, str]], device: DeviceLike, seed: int,
         batch_size: Optional[int], progress: bool, allow_hash_mismatch: bool, source: dict) -> MetricResult:
    opts = ScoreOptions(device=device, seed=seed, batch_size=batch_size, num_samples=num_samples, num_real=num_real,
                        mirror=mirror, reference=reference, extractor=extractor or row.extractor,
                        weights=dict(weights or {}), allow_hash_mismatch=allow_hash_mismatch, progress=progress,
                        **source)
    return IM.compute(G, [row], opts)[0]


def fid(G: Any, reference: Any, *, num_samples: int = 50_000, num_real: Optional[int] = 50_000, mirror: bool = False,
        extractor: str = DEFAULT_EXTRACTOR, weights: Optional[Mapping[str, str]] = None, device: DeviceLike = "auto",
        seed: int = 0, batch_size: Optional[int] = None, progress: bool = False, allow_hash_mismatch: bool = False,
        **source: Any) -> MetricResult:
    """FID = |mu_g - mu_r|^2 + tr(S_g + S_r - 2 (S_g S_r)^1/2) on ``extractor`` features.

    ``reference``: a dataset (folder, zip, .npz of images), a stats .npz or FeatureStats.
    ``num_real=None`` uses every real image (stylegan2-ada's fid50k_full, then ``mirror`` must be False).
    ``source``: truncation_psi, truncation_cutoff, class_label, labels for a generator.
    """
    row = IM.TABLE["fid50k_full"] if num_real is None else IM.FID50K
    return _run(G, row, reference, num_samples=num_samples, num_real=num_real, mirror=mirror, extractor=extractor,
                weights=weights, device=device, seed=seed, batch_size=batch_size, progress=progress,
                allow_hash_mismatch=allow_hash_mismatch, source=source)


def kid(G: Any, reference: Any, *, num_samples: int = 50_000, num_real: Optional[int] = 1_000_000,
        mirror: bool = False, num_subsets: int = 100, max_subset_size: int = 1000, extractor: str = DEFAULT_EXTRACTOR,
        weights: Optional[Mapping[str, str]] = None, device: DeviceLike = "auto", seed: int = 0,
        batch_size: Optional[int] = None, progress: bool = False, allow_hash_mismatch: bool = False,
        **source: Any) -> MetricResult:
    """KID: mean over subsets of the unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3 (:mod:`~.kid`).

    Values ``kid50k_full`` (mean) and ``kid50k_full_std``; subsets drawn with RandomState(seed).
    """
    row = IM.with_params(IM.TABLE["kid50k" if mirror else "kid50k_full"], num_subsets=num_subsets,
                         max_subset_size=max_subset_size)
    return _run(G, row, reference, num_samples=num_samples, num_real=num_real, mirror=mirror, extractor=extractor,
                weights=weights, device=device, seed=seed, batch_size=batch_size, progress=progress,
                allow_hash_mismatch=allow_hash_mismatch, source=source)


def precision_recall(G: Any, reference: Any, *, num_samples: int = 50_000, num_real: Optional[int] = 200_000,
                     mirror: bool = False, nhood_size: int = 3, extractor: str = "vgg16-nvidia",
                     row_batch_size: Optional[int] = None, col_batch_size: Optional[int] = None,
                     weights: Optional[Mapping[str, str]] = None, device: DeviceLike = "auto", seed: int = 0,
                     batch_size: Optional[int] = None, progress: bool = False, allow_hash_mismatch: bool = False,
                     **source: Any) -> MetricResult:
    """Improved precision and recall, k-NN radii in VGG16 feature space (:mod:`~.precision_recall`).

    ``extractor``: ``vgg16-nvidia`` (the anchor's) or ``vgg16-torchvision`` (named ``@vgg16-torchvision``).
    Distance blocks default to the device's size (10000 on CUDA, 2048 on CPU).
    """
    key = ("pr50k3" if mirror else "pr50k3_full") + ("" if extractor == "vgg16-nvidia" else f"@{extractor}")
    if key not in IM.TABLE:
        raise ValueError(f"precision_recall: extractor must be vgg16-nvidia or vgg16-torchvision, got {extractor!r}")
    row = IM.with_params(IM.TABLE[key], nhood_size=nhood_size, row_batch_size=row_batch_size,
                         col_batch_size=col_batch_size)
    return _run(G, row, reference, num_samples=num_samples, num_real=num_real, mirror=mirror, extractor=None,
                weights=weights, device=device, seed=seed, batch_size=batch_size, progress=progress,
                allow_hash_mismatch=allow_hash_mismatch, source=source)


def inception_score(G: Any, *, num_samples: int = 50_000, num_splits: int = 10,
                    weights: Optional[Mapping[str, str]] = None, device: DeviceLike = "auto", seed: int = 0,
                    batch_size: Optional[int] = None, progress: bool = False, allow_hash_mismatch: bool = False,
                    **source: Any) -> MetricResult:
    """Inception Score over ``num_splits`` contiguous splits of 1008-class probabilities (:mod:`~.inception_score`)."""
    row = IM.with_params(IM.TABLE["is50k"], num_splits=num_splits)
    return _run(G, row, None, num_samples=num_samples, num_real=None, mirror=False, extractor=None, weights=weights,
                device=device, seed=seed, batch_size=batch_size, progress=progress,
                allow_hash_mismatch=allow_hash_mismatch, source=source)
