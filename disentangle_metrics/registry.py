"""The metric registry: each metric a short named function on the shared sampling utility.

A metric function takes the generator and a :class:`ScoreOptions` and returns a
:class:`~disentangle_metrics.results.MetricResult`. Names follow stylegan2-ada-pytorch's
(``fid50k``, ``ppl_wend``, ...); a metric computed with a non-standard network carries it in its
name (``fid50k@testbed``) so it cannot be mistaken for the paper's number.
"""

from __future__ import annotations

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
    progress: bool = True

    def __post_init__(self) -> None:
        # 0 is not "unset": a zero or negative count must never fall back to the paper's size
        for name in ("num_samples", "num_real", "batch_size"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be a positive integer (or None for the metric's default), got {v!r}")


def count_or_default(value: Optional[int], default: int, name: str) -> int:
    """``value`` when given, else ``default``; a zero, negative or non-integer count is an error (never the default)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


MetricFn = Callable[[Any, ScoreOptions], MetricResult]
METRICS: dict[str, MetricFn] = {}


def register_metric(name: str) -> Callable[[MetricFn], MetricFn]:
    """Decorator: register ``fn`` under ``name``."""
    def wrap(fn: MetricFn) -> MetricFn:
        if name in METRICS:
            raise ValueError(f"metric {name!r} is registered twice")
        METRICS[name] = fn
        return fn
    return wrap


def get_metric(name: str) -> MetricFn:
    """The registered metric ``name`` (KeyError listing the known names otherwise)."""
    _load_builtin_metrics()
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS)) or '(none)'}") from None


def list_metrics() -> list[str]:
    """Names of all registered metrics."""
    _load_builtin_metrics()
    return sorted(METRICS)


def _load_builtin_metrics() -> None:
    # Importing the metric modules registers them; done lazily so `import disentangle_metrics` stays light.
    import importlib
    for mod in ("fid", "ppl", "separability"):
        try:
            importlib.import_module(f"disentangle_metrics.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"disentangle_metrics.{mod}":
                raise
