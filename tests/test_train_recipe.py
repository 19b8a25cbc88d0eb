"""The mini-scale recipe knobs of the trainer: G_ema half-life ramp-up."""

from __future__ import annotations

import pytest

from reference_models.train import TrainConfig, ema_beta


def test_ema_rampup_shortens_the_half_life_early_only():
    cfg = TrainConfig(g_smoothing_rampup=0.05)
    assert ema_beta(cfg, 32, nimg=0) == 0.0                                 # G_ema = G at the start
    assert ema_beta(cfg, 32, nimg=40_000) == pytest.approx(0.5 ** (32 / 2_000))   # 0.05 * 40k = 2 kimg
    assert ema_beta(cfg, 32, nimg=1_000_000) == pytest.approx(0.5 ** (32 / 10_000))   # capped at 10 kimg
    with pytest.raises(ValueError, match="nimg"):
        ema_beta(cfg, 32)
    official = TrainConfig()
    assert official.g_smoothing_rampup is None and ema_beta(official, 32, nimg=0) == 0.5 ** (32 / 10_000)


def test_rampup_must_be_positive_and_is_run_defining():
    with pytest.raises(ValueError, match="g_smoothing_rampup"):
        TrainConfig(g_smoothing_rampup=0.0)
    a, b = TrainConfig(), TrainConfig(g_smoothing_rampup=0.05)
    assert any("g_smoothing_rampup" in m for m in a.mismatches(b))
    # configs saved before the field existed load with the official behaviour
    d = a.to_dict()
    d.pop("g_smoothing_rampup")
    assert TrainConfig.from_dict(d).g_smoothing_rampup is None
