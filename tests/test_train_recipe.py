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


def _noise_and_other(G):
    from reference_models.layers import NoiseInjection
    noise = {id(m.weight) for m in G.modules() if isinstance(m, NoiseInjection)}
    named = dict(G.named_parameters())
    return ({k: p.detach().clone() for k, p in named.items() if id(p) in noise},
            {k: p.detach().clone() for k, p in named.items() if id(p) not in noise})


@pytest.mark.parametrize("mult", [0.0, 0.1])
def test_noise_lr_mult_scales_the_noise_strengths_step_only(tmp_path, mult):
    from reference_models.train import Trainer
    from .train_helpers import tiny_config, tiny_reals

    data = tiny_reals(tmp_path / "reals.npy")
    runs = {}
    for m in (1.0, mult):
        tr = Trainer(tiny_config(data, tmp_path / f"run{m}", noise_lr_mult=m), progress=False)
        noise0, other0 = _noise_and_other(tr.G)
        tr.train(max_steps=3)
        noise1, other1 = _noise_and_other(tr.G)
        runs[m] = (tr, noise0, noise1, other0, other1)
    tr1, n0, n1, *_ = runs[1.0]
    trm, m0, m1, o0, o1 = runs[mult]
    assert len(tr1.G_opt.param_groups) == 1                 # the official single group, untouched
    assert [g.get("lr_mult") for g in trm.G_opt.param_groups] == [None, mult]
    assert trm.G_opt.param_groups[1]["lr"] == pytest.approx(mult * trm.G_opt.param_groups[0]["lr"])
    moved = {k: float((n1[k] - n0[k]).abs().max()) for k in n0}
    assert max(moved.values()) > 0                           # official: the strengths learn
    moved_m = {k: float((m1[k] - m0[k]).abs().max()) for k in m0}
    if mult == 0:
        assert max(moved_m.values()) == 0.0                 # frozen at their initial 0
    else:
        assert 0 < max(moved_m.values()) < max(moved.values())
    assert any(float((o1[k] - o0[k]).abs().max()) > 0 for k in o0)   # the rest of G still trains


def test_noise_lr_mult_is_checked_and_run_defining(tmp_path):
    from reference_models.train import Trainer
    from .train_helpers import tiny_config, tiny_reals

    with pytest.raises(ValueError, match="noise_lr_mult"):
        TrainConfig(noise_lr_mult=-1.0)
    assert any("noise_lr_mult" in m for m in TrainConfig().mismatches(TrainConfig(noise_lr_mult=0.1)))
    d = TrainConfig().to_dict()
    d.pop("noise_lr_mult")
    assert TrainConfig.from_dict(d).noise_lr_mult == 1.0   # configs saved before the field: official
    data = tiny_reals(tmp_path / "reals.npy")
    with pytest.raises(ValueError, match="no noise inputs"):
        Trainer(tiny_config(data, tmp_path / "run", preset="d-style", noise_lr_mult=0.1), progress=False)
