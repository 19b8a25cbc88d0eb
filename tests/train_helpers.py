"""Tiny training configurations shared by the trainer tests (16x16, 16 channels, batch 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from reference_models.train import TrainConfig


def tiny_reals(path: Path, n: int = 32, resolution: int = 16) -> Path:
    """A .npy of structured uint8 images (smooth colour blobs, so mirroring and box filters matter)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:resolution, 0:resolution] / resolution
    imgs = np.empty((n, 3, resolution, resolution), np.uint8)
    for i in range(n):
        cx, cy = rng.uniform(0.2, 0.8, 2)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.05)
        for c in range(3):
            imgs[i, c] = np.clip(255 * blob * rng.uniform(0.3, 1) + rng.uniform(0, 60), 0, 255)
    np.save(path, imgs)
    return path


def tiny_config(data: Path, out: Path, **changes: Any) -> TrainConfig:
    """A config that trains a 16x16 network in well under a second per step on one CPU core."""
    base = dict(preset="f-mixing90", resolution=16, data=str(data), out=str(out), total_kimg=0.008, batch=4,
                progressive=False, minibatch_repeats=2, tick_kimg=0.008, ckpt_every_kimg=0.008, grid_size=2,
                device="cpu", data_workers=0, g_overrides=dict(fmap_max=16, latent_size=16),
                d_overrides=dict(fmap_max=16))
    base.update(changes)
    return TrainConfig(**base)


def state_tensors(trainer) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of G, G_ema and D, and every optimiser tensor, by a unique name."""
    out: dict[str, torch.Tensor] = {}
    for name, net in (("G", trainer.G), ("G_ema", trainer.G_ema), ("D", trainer.D)):
        for k, v in net.state_dict().items():
            out[f"{name}.{k}"] = v
    for name, opt in (("G_opt", trainer.G_opt), ("D_opt", trainer.D_opt)):
        for pid, st in opt.state_dict()["state"].items():
            for k, v in st.items():
                out[f"{name}.{pid}.{k}"] = torch.as_tensor(v)
    return out


