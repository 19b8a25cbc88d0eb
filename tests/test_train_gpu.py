"""The CUDA paths of the trainer (bf16 autocast, channels_last, pinned prefetching loader)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

import reference_models
from reference_models.train import LATEST, Trainer

from .train_helpers import tiny_config, tiny_reals


@pytest.mark.gpu
def test_cuda_amp_channels_last_train_and_checkpoint(tmp_path):
    data = tiny_reals(tmp_path / "reals.npy")
    cfg = tiny_config(data, tmp_path / "run", device="cuda", precision="bf16", total_kimg=0.016, progressive=True,
                      lod_initial_resolution=8, lod_training_kimg=0.004, lod_transition_kimg=0.004)
    tr = Trainer(cfg, progress=False)
    assert tr.amp and tr.channels_last
    tr.train()
    log = pd.read_csv(tmp_path / "run" / "log.csv")
    assert log[["loss_G", "loss_D", "r1"]].notna().all().all() and log.skipped_steps.iloc[-1] == 0
    assert all(p.device.type == "cuda" for p in tr.G.parameters())
    G = reference_models.load_checkpoint(tmp_path / "run" / LATEST)   # CPU tensors in the file
    assert next(G.parameters()).device.type == "cpu"
    resumed = Trainer(cfg.replace(total_kimg=0.024), resume=True, progress=False)
    resumed.train()
    assert resumed.progress["nimg"] == 24


@pytest.mark.gpu
def test_cuda_defaults_to_float32(tmp_path):
    """bf16 is opt-in: a CUDA run that asks for nothing trains in float32, as the official training does."""
    data = tiny_reals(tmp_path / "reals.npy")
    tr = Trainer(tiny_config(data, tmp_path / "run", device="cuda"), progress=False)
    assert not tr.amp and tr.channels_last
