"""The options of one scoring request: every field a metric may need beyond the generator.

Counts are checked here, once, for every entry point (CLI, API, tables, trainer): zero or a
negative count is an error, never "use the default".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional


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
    extractor: Any = "inception-v3-tf"      # FID/KID feature extractor: a registered name, or a built FeatureExtractor
    distance: Any = None                    # PPL distance name or callable
    weights: dict[str, str] = field(default_factory=dict)   # weights name -> explicit path
    allow_hash_mismatch: bool = False       # accept weight files whose sha256 differs from the registry
    keep_samples: bool = False              # metrics whose per-sample arrays are large (ls) keep them only when asked
    ls_backend: str = "torch"               # separability's SVM solver: 'torch' (batched) or 'sklearn' (LinearSVC)
    num_keep: Optional[int] = None          # separability: most-confident samples kept (None: num_samples // 2)
    resamples: Optional[int] = None         # bootstrap resamples of the PPL / separability intervals (None: 1000 / 20; 0: no interval)
    image_resolution: Optional[int] = None  # generated images (folder/zip/array): resize each to R x R first
    array_key: Optional[str] = None         # generated images: the array of a .npz holding several
    image_range: Optional[tuple[float, float]] = None   # generated images in memory as floats: the range they span
    reference_at_own_size: bool = False     # image metrics: each side at its own size (compare), not the reference
                                            # brought to the generated resolution (score: the authors' protocol)
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
