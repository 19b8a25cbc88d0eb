"""Training schedule: level of detail, minibatch size and learning rate as a function of progress.

Progressive growing (official ``training_schedule``), with ``kimg = nimg / 1000``,
``phase = lod_training_kimg + lod_transition_kimg``, ``p = floor(kimg / phase)``::

    lod = log2(R) - log2(lod_initial_resolution) - p - max(kimg - p * phase - lod_training_kimg, 0) / lod_transition_kimg
    lod = max(lod, 0)

so every phase first trains at a fixed resolution, then fades the next one in linearly. The
working resolution is ``R / 2^floor(lod)``; minibatch and learning rate are looked up by it.
Fixed-resolution mode has lod 0 throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from .config import TrainConfig


@dataclass(frozen=True)
class Schedule:
    """Training parameters for the next group of minibatches."""

    kimg: float
    lod: float
    resolution: int
    minibatch: int
    lr: float


def lod_at(cfg: TrainConfig, nimg: int) -> float:
    """The level of detail after ``nimg`` real images (0 = full resolution)."""
    if not cfg.progressive:
        return 0.0
    kimg = nimg / 1000.0
    phase_dur = cfg.lod_training_kimg + cfg.lod_transition_kimg
    phase_idx = int(math.floor(kimg / phase_dur)) if phase_dur > 0 else 0
    phase_kimg = kimg - phase_idx * phase_dur
    lod = math.log2(cfg.resolution) - math.floor(math.log2(cfg.lod_initial_resolution)) - phase_idx
    if cfg.lod_transition_kimg > 0:
        lod -= max(phase_kimg - cfg.lod_training_kimg, 0.0) / cfg.lod_transition_kimg
    return max(lod, 0.0)


def schedule(cfg: TrainConfig, nimg: int) -> Schedule:
    """:class:`Schedule` after ``nimg`` real images."""
    lod = lod_at(cfg, nimg)
    res = cfg.resolution >> int(math.floor(lod))
    mb = cfg.batch if cfg.batch is not None else cfg.minibatch_dict.get(res, cfg.minibatch_base)
    return Schedule(kimg=nimg / 1000.0, lod=lod, resolution=res, minibatch=int(mb),
                    lr=float(cfg.lr_dict.get(res, cfg.lr_base)))


def lod_changed(prev_lod: float, lod: float) -> bool:
    """Whether new layers came in or finished fading: floor or ceil of lod changed.

    The official loop resets the Adam moments of G and D when this is true (``prev_lod`` starts
    at -1, so the first group counts as a change, which is a no-op on fresh optimisers).
    """
    return math.floor(prev_lod) != math.floor(lod) or math.ceil(prev_lod) != math.ceil(lod)


def ema_beta(cfg: TrainConfig, minibatch: int, nimg: Optional[int] = None) -> float:
    """G_ema decay per step: beta = 0.5 ** (minibatch / h), h = g_smoothing_kimg * 1000 (half-life 10 kimg).

    With ``cfg.g_smoothing_rampup`` r (stylegan2-ada-pytorch's ``ema_rampup``), h = min(h, r * nimg)
    for ``nimg`` images shown so far: a short half-life early, so G_ema does not lag a fast-moving G.
    """
    if cfg.g_smoothing_kimg <= 0:
        return 0.0
    half = cfg.g_smoothing_kimg * 1000.0
    if cfg.g_smoothing_rampup is not None:
        if nimg is None:
            raise ValueError("ema_beta: g_smoothing_rampup is set, so the images shown so far (nimg) are needed")
        half = min(half, cfg.g_smoothing_rampup * nimg)
        if half <= 0:
            return 0.0
    return 0.5 ** (minibatch / half)
