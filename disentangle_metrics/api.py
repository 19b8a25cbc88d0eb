"""The functions researchers call: ``dm.fid``, ``dm.kid``, ``dm.precision_recall``, ``dm.inception_score``,
``dm.ppl``, ``dm.separability`` and ``dm.score``.

One argument convention for every metric: ``G`` first (a generator; for the image metrics also a
folder / zip / ``.npz`` of generated images, or a uint8 NCHW tensor or array of them),
``num_samples`` (generated count), ``device`` ('auto', 'cpu', 'cuda:1' or a torch.device),
``weights`` (a dict: extractor or weights name -> file), ``progress=False``, ``seed=0``. The
caller's generator is never modified (sources work on a private copy). Each returns a
:class:`~._core.results.MetricResult`. The image metrics build one request and run it through
:func:`.metrics.image.compute_outcomes`, the path ``dmetrics score`` / ``compare`` / ``demo`` take
too, so every guard holds everywhere.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Optional

from ._core.device import DeviceLike
from ._core.options import ScoreOptions
from ._core.results import MetricResult
from .features import DEFAULT_EXTRACTOR, build_extractor, list_extractors
from .features.cache import dataset_stats
from .functional.cmmd import cmmd_from_embeddings
from .functional.frechet import frechet_distance
from .functional.inception_score import inception_score_from_logits
from .functional.kid import kid_from_features
from .functional.prdc import prdc_from_features
from .functional.precision_recall import precision_recall_from_features
from .functional.stats import FeatureStats
from .generators.sources import GeneratorSource, ImageSource, is_image_array, is_image_path, open_source
from .metrics import image as IM
from .metrics.accumulate import Accumulator
from .metrics.ppl import ppl
from .metrics.registry import list_metrics
from .metrics.scoring import score
from .metrics.separability import separability

__all__ = ["Accumulator", "fid", "kid", "precision_recall", "inception_score", "ppl", "separability", "score",
           "frechet_distance", "kid_from_features", "precision_recall_from_features", "inception_score_from_logits",
           "prdc_from_features", "cmmd_from_embeddings",
           "open_source", "GeneratorSource", "ImageSource", "FeatureStats", "dataset_stats", "build_extractor",
           "list_extractors", "list_metrics"]


def _run(G: Any, row: IM.ImageMetric, opts: ScoreOptions) -> MetricResult:
    """Run one row. Generated images given whole (a path, an array, a source) are opened once here and
    default to all of them, the count ``dmetrics compare`` uses; a generator keeps the row's 50,000."""
    if is_image_path(G):      # opened once: its listing (and any note about skipped files) is not repeated
        G = ImageSource(G, device=opts.device, image_range=opts.image_range)
        opts = replace(opts, image_range=None)
    if opts.num_samples is None and isinstance(G, ImageSource):
        opts = replace(opts, num_samples=G.num_available)
    elif opts.num_samples is None and is_image_array(G):
        opts = replace(opts, num_samples=int(G.shape[0]))
    return IM.compute(G, [row], opts)[0]


def _options(reference: Any, num_samples: Optional[int], num_real: Optional[int], mirror: bool, extractor: Optional[str],
             weights: Optional[Mapping[str, str]], device: DeviceLike, seed: int, batch_size: Optional[int],
             progress: bool, allow_hash_mismatch: bool, truncation_psi: float, truncation_cutoff: Optional[int],
             class_label: Optional[int], labels: Any, image_range: Optional[tuple[float, float]]) -> ScoreOptions:
    return ScoreOptions(device=device, seed=seed, batch_size=batch_size, num_samples=num_samples, num_real=num_real,
                        mirror=mirror, reference=reference, extractor=extractor, weights=dict(weights or {}),
                        allow_hash_mismatch=allow_hash_mismatch, progress=progress, truncation_psi=truncation_psi,
                        truncation_cutoff=truncation_cutoff, class_label=class_label, labels=labels,
                        image_range=image_range)


def fid(G: Any, reference: Any, *, num_samples: Optional[int] = None, num_real: Optional[int] = 50_000,
        mirror: bool = False, extractor: str = DEFAULT_EXTRACTOR, fid_infinity: bool = False,
        weights: Optional[Mapping[str, str]] = None, device: DeviceLike = "auto", seed: int = 0,
        batch_size: Optional[int] = None, progress: bool = False, allow_hash_mismatch: bool = False,
        truncation_psi: float = 1.0, truncation_cutoff: Optional[int] = None, class_label: Optional[int] = None,
        labels: Any = None, image_range: Optional[tuple[float, float]] = None) -> MetricResult:
    """FID = |mu_g - mu_r|^2 + tr(S_g + S_r - 2 (S_g S_r)^1/2) on ``extractor`` features.

    ``G``: a generator, or generated images (folder, zip, .npz, a uint8 NCHW tensor/array, or a
    float one with ``image_range``). ``reference``: a dataset (folder, zip, .npz of images),
    ``'testbed'``, a stats .npz or FeatureStats. ``num_samples=None``: 50,000 from a generator, every
    image given as images (as ``dmetrics compare``). ``num_real=None``: every real image
    (stylegan2-ada's fid50k_full; then ``mirror`` must be False). ``fid_infinity``: also FID_inf (Chong and Forsyth 2020) in ``extras['fid_infinity']``.
    Fewer samples than feature dimensions give a value with the rank deficiency in ``extras``.
    """
    row = IM.TABLE["fid50k_full"] if num_real is None else IM.FID50K
    if fid_infinity:
        row = IM.with_params(row, fid_infinity=True)
    return _run(G, row, _options(reference, num_samples, num_real, mirror, extractor, weights, device, seed,
                                 batch_size, progress, allow_hash_mismatch, truncation_psi, truncation_cutoff,
                                 class_label, labels, image_range))


def kid(G: Any, reference: Any, *, num_samples: Optional[int] = None, num_real: Optional[int] = 1_000_000,
        mirror: bool = False, num_subsets: int = 100, max_subset_size: int = 1000, extractor: str = DEFAULT_EXTRACTOR,
        weights: Optional[Mapping[str, str]] = None, device: DeviceLike = "auto", seed: int = 0,
        batch_size: Optional[int] = None, progress: bool = False, allow_hash_mismatch: bool = False,
        truncation_psi: float = 1.0, truncation_cutoff: Optional[int] = None, class_label: Optional[int] = None,
        labels: Any = None, image_range: Optional[tuple[float, float]] = None) -> MetricResult:
    """KID: mean over subsets of the unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3 (:mod:`~.functional.kid`).

    Values ``kid50k_full`` (mean) and ``kid50k_full_std``; subsets drawn with RandomState(seed).
    """
    row = IM.with_params(IM.TABLE["kid50k" if mirror else "kid50k_full"], num_subsets=num_subsets,
                         max_subset_size=max_subset_size)
    return _run(G, row, _options(reference, num_samples, num_real, mirror, extractor, weights, device, seed,
                                 batch_size, progress, allow_hash_mismatch, truncation_psi, truncation_cutoff,
                                 class_label, labels, image_range))


def precision_recall(G: Any, reference: Any, *, num_samples: Optional[int] = None, num_real: Optional[int] = 200_000,
                     mirror: bool = False, nhood_size: int = 3, extractor: str = "vgg16-nvidia",
                     row_batch_size: Optional[int] = None, col_batch_size: Optional[int] = None,
                     weights: Optional[Mapping[str, str]] = None, device: DeviceLike = "auto", seed: int = 0,
                     batch_size: Optional[int] = None, progress: bool = False, allow_hash_mismatch: bool = False,
                     truncation_psi: float = 1.0, truncation_cutoff: Optional[int] = None,
                     class_label: Optional[int] = None, labels: Any = None,
                     image_range: Optional[tuple[float, float]] = None) -> MetricResult:
    """Improved precision and recall (Kynkaanniemi et al. 2019): precision = share of generated features
    inside some real feature's k-NN ball, recall the converse; VGG16 features.

    ``extractor``: ``vgg16-nvidia`` (the anchor's) or ``vgg16-torchvision`` (named ``@vgg16-torchvision``).
    Distance blocks default to the device's size (10000 on CUDA, 2048 on CPU).
    """
    key = ("pr50k3" if mirror else "pr50k3_full") + ("" if extractor == "vgg16-nvidia" else f"@{extractor}")
    if key not in IM.TABLE:
        raise ValueError(f"precision_recall: extractor must be vgg16-nvidia or vgg16-torchvision, got {extractor!r}")
    row = IM.with_params(IM.TABLE[key], nhood_size=nhood_size, row_batch_size=row_batch_size,
                         col_batch_size=col_batch_size)
    return _run(G, row, _options(reference, num_samples, num_real, mirror, None, weights, device, seed, batch_size,
                                 progress, allow_hash_mismatch, truncation_psi, truncation_cutoff, class_label,
                                 labels, image_range))


def inception_score(G: Any, *, num_samples: Optional[int] = None, num_splits: int = 10,
                    weights: Optional[Mapping[str, str]] = None, device: DeviceLike = "auto", seed: int = 0,
                    batch_size: Optional[int] = None, progress: bool = False, allow_hash_mismatch: bool = False,
                    truncation_psi: float = 1.0, truncation_cutoff: Optional[int] = None,
                    class_label: Optional[int] = None, labels: Any = None,
                    image_range: Optional[tuple[float, float]] = None) -> MetricResult:
    """Inception Score = exp(E_x KL(p(y|x) || p(y))), mean and std over ``num_splits`` contiguous splits of
    1008-class probabilities (:mod:`~.functional.inception_score`)."""
    row = IM.with_params(IM.TABLE["is50k"], num_splits=num_splits)
    return _run(G, row, _options(None, num_samples, None, False, None, weights, device, seed, batch_size, progress,
                                 allow_hash_mismatch, truncation_psi, truncation_cutoff, class_label, labels,
                                 image_range))
