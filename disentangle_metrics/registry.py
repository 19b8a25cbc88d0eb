"""The metric registry: each metric a short named function on the shared sampling utility.

A metric function takes the generator and a :class:`ScoreOptions` and returns a
:class:`~disentangle_metrics.results.MetricResult`. Names follow stylegan2-ada-pytorch's
(``fid50k``, ``ppl_wend``, ...); a metric computed with a non-standard network carries it in its
name (``fid50k@testbed``) so it cannot be mistaken for the paper's number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .results import MetricResult


@dataclass
class ScoreOptions:
    """Everything a metric may need beyond the generator; unset fields take the metric's default."""

    device: str = "auto"
    seed: int = 0
    batch_size: Optional[int] = None
    num_samples: Optional[int] = None       # overrides the paper's sample count (for quick runs)
    num_real: Optional[int] = None          # FID-type metrics: real images used (None: the metric's default)
    mirror: Optional[bool] = None           # FID-type metrics: random x-flips of the reals (None: the metric's default)
    truncation_psi: float = 1.0             # 1 = no truncation (the paper's metrics); other values show in the name
    truncation_cutoff: Optional[int] = None  # truncate layers < cutoff only (None: all layers)
    class_label: Optional[int] = None       # conditional generators: one fixed class for every sample
    labels: Any = None                      # conditional generators: labelled dataset whose label distribution is drawn from
    reference: Any = None                   # FID: stats file, dataset or FeatureStats
    classifier: Any = None                  # separability: callable images -> logits
    extractor: str = "inception-v3-tf"      # FID feature extractor name
    distance: Any = None                    # PPL distance name or callable
    weights: dict[str, str] = field(default_factory=dict)   # weights name -> explicit path
    allow_hash_mismatch: bool = False       # accept weight files whose sha256 differs from the registry
    keep_samples: bool = False              # metrics whose per-sample arrays are large (ls) keep them only when asked
    ls_backend: str = "torch"               # separability's SVM solver: 'torch' (batched) or 'sklearn' (LinearSVC)
    num_keep: Optional[int] = None          # separability: most-confident samples kept (None: num_samples // 2)
    resamples: Optional[int] = None         # bootstrap resamples of the PPL / separability intervals (None: 1000 / 20; 0: no interval)
    image_resolution: Optional[int] = None  # generated images (folder/zip/array): resize each to R x R first
    array_key: Optional[str] = None         # generated images: the array of a .npz holding several
    progress: bool = True

    def __post_init__(self) -> None:
        # 0 is not "unset": a zero or negative count must never fall back to the paper's size
        for name in ("num_samples", "num_real", "batch_size", "num_keep", "image_resolution"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be a positive integer (or None for the metric's default), got {v!r}")
        r = self.resamples   # here 0 is a value: no bootstrap interval
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 0 or r == 1):
            raise ValueError(f"resamples must be 0 (no interval) or an integer >= 2 (None: the metric's default), "
                             f"got {r!r}")

    def resamples_or(self, default: int) -> int:
        """The bootstrap resample count to use: ``resamples`` when set (0 included), else ``default``."""
        return default if self.resamples is None else self.resamples


def count_or_default(value: Optional[int], default: int, name: str) -> int:
    """``value`` when given, else ``default``; a zero, negative or non-integer count is an error (never the default)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


MetricFn = Callable[[Any, ScoreOptions], MetricResult]
METRICS: dict[str, MetricFn] = {}


@dataclass(frozen=True)
class MetricInfo:
    """What ``dmetrics metrics`` prints about a metric."""

    what: str                 # what it computes (one line, with its formula's name)
    num_gen: str              # generated samples by default
    num_real: str = "-"       # real images by default ('-': none)
    needs: str = "generator"  # 'images' (a generator or a folder/zip/.npz of its images), 'generator' (latents), ...
    anchor: str = ""          # whose code defines it


METRIC_INFO: dict[str, MetricInfo] = {}


def register_metric(name: str, info: Optional[MetricInfo] = None) -> Callable[[MetricFn], MetricFn]:
    """Decorator: register ``fn`` under ``name`` (with its description ``info``)."""
    def wrap(fn: MetricFn) -> MetricFn:
        if name in METRICS:
            raise ValueError(f"metric {name!r} is registered twice")
        METRICS[name] = fn
        if info is not None:
            METRIC_INFO[name] = info
        return fn
    return wrap


def get_metric(name: str) -> MetricFn:
    """The registered metric ``name``, or an alias of one (:func:`resolve_name`); KeyError listing the known names."""
    base, overrides = resolve_name(name)
    fn = METRICS[base]
    if not overrides:
        return fn

    def with_overrides(G: Any, opts: ScoreOptions) -> MetricResult:
        from dataclasses import replace
        return fn(G, replace(opts, **overrides))
    with_overrides.__doc__ = fn.__doc__
    return with_overrides


_COUNTED = re.compile(r"^(fid|kid|pr|is)(\d+)(k?)(3?)(_full)?(?:@(.+))?$")
_ALIASES = {"ls_z": "ls", "ls_w": "ls"}   # ls computes both spaces in one run (values ls_z, ls_w)


def resolve_name(name: str) -> tuple[str, dict[str, Any]]:
    """(registered name, ScoreOptions overrides) for ``name``.

    Accepts the registered names, the names results carry: a sample count other than 50k
    (``fid10k``, ``kid2500_full``, ``pr10k3``, ``is10k``: num_samples), an extractor suffix on FID/KID
    (``fid50k@testbed``: extractor), a distance suffix on PPL (``ppl_wend@testbed-lpips``: distance),
    and ``ls_z`` / ``ls_w`` (both come from ``ls``).
    """
    _load_builtin_metrics()
    if name in METRICS:
        return name, {}
    if name in _ALIASES:
        return _ALIASES[name], {}
    head, at, tag = name.partition("@")
    if at and head.startswith("ppl") and head in METRICS:     # ppl_wend@testbed-lpips: the distance
        return head, {"distance": tag}
    m = _COUNTED.match(name)
    if m:
        kind, digits, k, three, full, ext = m.groups()
        count = int(digits) * (1000 if k else 1)
        base = f"{kind}50k{'3' if three else ''}{full or ''}"
        overrides: dict[str, Any] = {} if count == 50_000 else {"num_samples": count}
        if ext is not None and f"{base}@{ext}" in METRICS:
            base = f"{base}@{ext}"
        elif ext is not None and kind in ("fid", "kid"):
            overrides["extractor"] = ext
        elif ext is not None:
            base = ""
        if base in METRICS and (kind != "pr" or three):
            return base, overrides
    raise KeyError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS)) or '(none)'} "
                   "(also: another count as fid10k or kid10k_full, fid50k@EXTRACTOR, ppl_wend@DISTANCE, ls_z, ls_w)")


def list_metrics() -> list[str]:
    """Names of all registered metrics."""
    _load_builtin_metrics()
    return sorted(METRICS)


def metric_info(name: str) -> Optional[MetricInfo]:
    """The description of registered metric ``name`` (None when it registered none)."""
    _load_builtin_metrics()
    base, _ = resolve_name(name)
    if base.startswith("ppl_") and base.endswith("@ada"):
        base = "ppl2_wend"
    return METRIC_INFO.get(base) or _BUILTIN_INFO.get(base if not base.startswith("ppl_") else "ppl_*")


# Descriptions of the metrics registered before MetricInfo existed (fid.py, ppl.py, separability.py).
_BUILTIN_INFO = {
    "fid50k": MetricInfo("FID = |mu_g - mu_r|^2 + tr(S_g + S_r - 2 (S_g S_r)^1/2), Inception pool3 (2048-d)",
                         "50k", "50k (first; --mirror flips)", "images + reference (dataset or stats .npz)",
                         "NVlabs/stylegan metrics/frechet_inception_distance.py"),
    "ppl_*": MetricInfo("perceptual path length: E[d(G(lerp/slerp(t)), G(...(t + eps))) / eps^2], LPIPS-VGG, "
                        "1st/99th percentile filter", "100k", "-", "generator (latents)",
                        "NVlabs/stylegan metrics/perceptual_path_length.py"),
    "ppl2_wend": MetricInfo("stylegan2-ada-pytorch's path length in W, end points, no crop, their vgg16.pt LPIPS "
                            "(ppl_*@ada: their legacy variants)", "50k", "-", "generator (latents)",
                            "stylegan2-ada-pytorch metrics/perceptual_path_length.py"),
    "ls": MetricInfo("linear separability: 2 ** sum_attr H(classifier label | linear-SVM prediction); values ls_z, ls_w",
                     "200k (keep 100k)", "-", "generator (latents) + attribute classifier",
                     "NVlabs/stylegan metrics/linear_separability.py"),
}


def _load_builtin_metrics() -> None:
    # Importing the metric modules registers them; done lazily so `import disentangle_metrics` stays light.
    import importlib
    for mod in ("fid", "ppl", "separability", "image_metrics"):
        try:
            importlib.import_module(f"disentangle_metrics.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"disentangle_metrics.{mod}":
                raise
