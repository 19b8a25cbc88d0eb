"""Training of the reference StyleGAN generators (every preset of :mod:`reference_models.configs`).

Official recipe (NVlabs/stylegan, config F): non-saturating logistic G loss, logistic D loss with
R1 (gamma 10) every step, Adam (0.001, 0, 0.99, 1e-8), progressive growing with faded reals,
style mixing, w_avg tracking, generator EMA, mirror augmentation. Entry points:

- :class:`TrainConfig` (saved as ``config.json`` in the run folder);
- :func:`train` / :class:`Trainer` (``resume=True`` continues ``out/latest.pt`` bit-for-bit on CPU);
- the run folder: ``latest.pt`` and ``snapshot-*.pt`` (training checkpoints; ``reference_models.
  load_checkpoint(path)`` returns G_ema), ``log.csv``, ``reals.png``, ``fakes*.png``, ``metrics.jsonl``.

CLI: ``dmetrics train PRESET --data testbed|PATH --resolution R --kimg K --out DIR [--resume]``.
"""

from .config import TESTBED, TrainConfig
from .data import DataError, process_reals
from .ema import update_ema
from .loop import NonFiniteError, Trainer, TrainingInterrupted, train
from .losses import d_logistic_r1_loss, g_nonsaturating_loss
from .schedule import Schedule, ema_beta, lod_at, schedule
from .state import LATEST, ResumeError, load_training_state

__all__ = [
    "TrainConfig", "TESTBED", "Trainer", "train", "NonFiniteError", "TrainingInterrupted", "ResumeError", "DataError", "LATEST",
    "load_training_state", "schedule", "Schedule", "lod_at", "ema_beta", "update_ema", "process_reals",
    "d_logistic_r1_loss", "g_nonsaturating_loss",
]
