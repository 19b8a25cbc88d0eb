"""The training configuration: one dataclass, saved as ``config.json`` in the run folder.

Defaults follow NVlabs/stylegan ``train.py`` / ``training/training_loop.py`` for one GPU (FFHQ
config F): Adam (lr 0.001, beta1 0, beta2 0.99, eps 1e-8, applied as TensorFlow's AdamOptimizer applies
it: :class:`~.optim.TFAdam`), per-resolution learning rates
{128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}, the one-GPU minibatch table, progressive
growing from 8x8 with 600 kimg per phase and 600 kimg fade, R1 gamma 10, G smoothing half-life
10 kimg, 4 minibatches between schedule updates.

The mapping network's "lr x 0.01" is *not* a second optimiser parameter group: the official code
realises it as the equalised-lr multiplier ``lrmul`` inside the mapping layers (weights stored
scaled by 1/lrmul and multiplied by lrmul at run time, so a plain Adam step moves the effective
weight 100x less). :mod:`reference_models` implements that multiplier in its layers
(``GeneratorConfig.mapping_lrmul``), so the trainer uses one learning rate for all of G and must
not apply the factor again.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from disentangle_metrics._core.results import atomic_write_bytes

TESTBED = "testbed"
PRECISIONS = ("float32", "bf16")
# `dmetrics train` options of the tables' mini scale (narrow networks, hours on a CPU), for the messages
# that point people from the official recipe's weeks to it
MINI_RECIPE_ARGS = "--fixed --fmap-base 256 --fmap-max 32 --latent-size 128 --batch 32 --lr 0.0025 --ema-rampup 0.05 --kimg 100"

# Fields that define what is trained; a resume must find them unchanged (the others -- length of
# the run, reporting, device -- may change between sessions).
RUN_DEFINING = (
    "preset", "resolution", "data", "testbed_num", "testbed_seed", "mirror", "seed", "batch",
    "minibatch_base", "minibatch_dict", "lr_base", "lr_dict", "progressive", "lod_initial_resolution",
    "lod_training_kimg", "lod_transition_kimg", "minibatch_repeats", "g_smoothing_kimg", "g_smoothing_rampup",
    "r1_gamma", "noise_lr_mult",
    "adam_beta1", "adam_beta2", "adam_eps", "reset_opt_for_new_lod", "g_overrides", "d_overrides",
)


def _one_gpu_minibatch() -> dict[int, int]:
    return {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4}


def _official_lr() -> dict[int, float]:
    return {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}


# The mini scale's recipe (reference_models/tables/scale.py MINI: test bed 32x32, narrow networks, batch 32,
# ~100 kimg): changes from the official values above, each measured one factor at a time against
# the official recipe (benchmarks/results/learning_curves/). With the official fixed 10 kimg G_ema
# half-life, G_ema lags the trained G badly in short runs (FID@testbed 5x worse at 10 kimg, 1.15x
# at 60 kimg); stylegan2-ada-pytorch's ramp-up (half-life <= 0.05 * images so far) removes the lag.
# lr 0.0025 is stylegan2-ada-pytorch's CIFAR (32x32) learning rate. The paper scale keeps the
# official values.
# R1 gamma stays the official 10: 1 and 0.1 were measured worse at 20 and 40 kimg.
MINI_RECIPE: dict[str, Any] = {"lr_base": 0.0025, "g_smoothing_rampup": 0.05}


@dataclass
class TrainConfig:
    """Everything that defines a training run (see the module docstring for the defaults' origin).

    ``data``: ``"testbed"`` (the procedural test bed, images ``0 .. testbed_num-1`` rendered once
    into the run folder) or a path understood by :mod:`disentangle_metrics.data.images`.
    ``batch``: one minibatch size at every resolution (overrides ``minibatch_dict``).
    ``progressive=False``: fixed resolution (lod 0 from the first step) for quick runs.
    ``g_overrides`` / ``d_overrides``: :class:`GeneratorConfig` / :class:`DiscriminatorConfig`
    fields, e.g. ``{"fmap_max": 64, "latent_size": 128}`` for CPU-sized networks.
    ``metrics``: names as ``dm.score`` takes them (``fid10k@testbed``...) run on G_ema every
    ``metrics_every_kimg`` (0 = at every checkpoint, as stylegan2-ada's snapshots) against
    ``metrics_reference`` (default: the test bed's training images, or the training dataset); results go to
    ``metrics.jsonl``, ``metric-<name>.jsonl`` and the curve ``metric-<name>.png`` in the run folder.
    """

    preset: str = "f-mixing90"
    resolution: int = 32
    data: str = TESTBED
    out: str = "runs/train"
    total_kimg: float = 25000.0
    seed: int = 0
    # data
    testbed_num: int = 10_000
    testbed_seed: int = 0
    mirror: bool = True
    data_workers: int = 4
    # schedule
    batch: Optional[int] = None
    minibatch_base: int = 4
    minibatch_dict: dict[int, int] = field(default_factory=_one_gpu_minibatch)
    lr_base: float = 0.001
    lr_dict: dict[int, float] = field(default_factory=_official_lr)
    progressive: bool = True
    lod_initial_resolution: int = 8
    lod_training_kimg: float = 600.0
    lod_transition_kimg: float = 600.0
    minibatch_repeats: int = 4
    # optimisation
    g_smoothing_kimg: float = 10.0
    g_smoothing_rampup: Optional[float] = None   # None: the official fixed half-life (see ema_beta)
    r1_gamma: float = 10.0
    # Learning-rate factor of G's noise strengths (NoiseInjection weights) only; 1 = official (one lr
    # for all of G). A recipe probe for the speckle of small generators (issue 18).
    noise_lr_mult: float = 1.0
    adam_beta1: float = 0.0
    adam_beta2: float = 0.99
    adam_eps: float = 1e-8
    reset_opt_for_new_lod: bool = True
    max_nonfinite_steps: int = 20
    # networks
    g_overrides: dict[str, Any] = field(default_factory=dict)
    d_overrides: dict[str, Any] = field(default_factory=dict)
    # reporting
    tick_kimg: float = 4.0
    ckpt_every_kimg: float = 10.0
    keep_snapshots: bool = True
    grid_size: int = 8
    metrics: list[str] = field(default_factory=list)
    metrics_every_kimg: float = 0.0
    metrics_num_samples: Optional[int] = None
    metrics_extractor: str = "testbed"
    metrics_reference: Optional[str] = None
    # hardware
    device: str = "auto"
    # "float32" (the official training's precision, and what certification runs use) or "bf16"
    # (autocast of the G and D passes on CUDA, opt-in: faster, not the official numbers).
    precision: str = "float32"
    channels_last: Optional[bool] = None  # None: on (CUDA and CPU); False: contiguous tensors
    # G's and D's unfused 2x up/down convolutions computed at the low resolution (reference_models.layers
    # EqualConv2d.polyphase): the same function, float32 rounding apart; ~1.4x faster mini steps on a CPU.
    # G_ema and the metrics keep the literal form. False: the official graph's literal order of operations.
    fast_resample: bool = True
    threads: Optional[int] = None       # torch intra-op threads (None: torch's default)

    def __post_init__(self) -> None:
        # JSON turns int keys into strings; accept both so a saved config loads back equal.
        self.minibatch_dict = {int(k): int(v) for k, v in self.minibatch_dict.items()}
        self.lr_dict = {int(k): float(v) for k, v in self.lr_dict.items()}
        res = self.resolution
        if res < 4 or res & (res - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {res}")
        init = self.lod_initial_resolution
        if self.progressive and (init < 4 or init & (init - 1) or init > res):
            raise ValueError(f"lod_initial_resolution must be a power of two in [4, resolution={res}], got {init}")
        if self.batch is not None and self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.total_kimg <= 0:
            raise ValueError(f"total_kimg must be > 0, got {self.total_kimg}")
        if self.minibatch_repeats < 1:
            raise ValueError(f"minibatch_repeats must be >= 1, got {self.minibatch_repeats}")
        if self.ckpt_every_kimg <= 0 or self.tick_kimg <= 0:
            raise ValueError("ckpt_every_kimg and tick_kimg must be > 0")
        if self.metrics_every_kimg < 0:
            raise ValueError(f"metrics_every_kimg must be >= 0 (0: at every checkpoint), got {self.metrics_every_kimg}")
        if self.metrics:
            from disentangle_metrics.metrics.registry import resolve_name
            for name in self.metrics:   # an unknown name fails now, not after the first snapshot's training
                resolve_name(name)
        if self.g_smoothing_rampup is not None and not self.g_smoothing_rampup > 0:
            raise ValueError(f"g_smoothing_rampup must be > 0 (or None for a fixed half-life), got {self.g_smoothing_rampup}")
        if not self.noise_lr_mult >= 0:
            raise ValueError(f"noise_lr_mult must be >= 0 (1 = the official single learning rate), got {self.noise_lr_mult}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.data == TESTBED and self.testbed_num < 1:
            raise ValueError(f"testbed_num must be >= 1, got {self.testbed_num}")
        for name, value in (("g_overrides", self.g_overrides), ("d_overrides", self.d_overrides)):
            if "resolution" in value:
                raise ValueError(f"{name} must not set 'resolution'; use TrainConfig.resolution")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (int keys of the schedule tables become strings in JSON)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error naming ``source``."""
        d = dict(d)
        if "amp" in d and "precision" not in d:
            # Configs written before `precision` had `amp`: true = bf16; null meant bf16 on CUDA only, and
            # such runs continue in float32, the default since (precision is not run-defining).
            d["precision"] = "bf16" if d.pop("amp") is True else "float32"
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"{source}: unknown training config keys {unknown}")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        """Write ``config.json`` atomically."""
        atomic_write_bytes(path, (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n").encode())

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        """Read a config written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text()), source=str(path))

    def replace(self, **changes: Any) -> "TrainConfig":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def mismatches(self, other: "TrainConfig") -> list[str]:
        """Run-defining fields whose values differ from ``other`` (empty: a resume may proceed)."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {b[k]!r} in the checkpoint, {a[k]!r} now" for k in RUN_DEFINING if a[k] != b[k]]
