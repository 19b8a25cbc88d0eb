"""Trainer building blocks: schedule, EMA, losses and R1 scale, real-image processing, sampler."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference_models import build_discriminator, build_generator
from reference_models.train import TrainConfig, d_logistic_r1_loss, ema_beta, lod_at, process_reals, schedule, update_ema
from reference_models.train.data import StreamSampler
from reference_models.train.schedule import lod_changed



def test_official_schedule_1024():
    cfg = TrainConfig(resolution=1024, total_kimg=25000)
    # Start at 8x8 (lod 7), 600 kimg stable, 600 kimg fade, per phase.
    assert lod_at(cfg, 0) == 7.0
    assert lod_at(cfg, 599_000) == 7.0
    assert lod_at(cfg, 900_000) == pytest.approx(6.5)
    assert lod_at(cfg, 1_200_000) == 6.0
    assert lod_at(cfg, 1_500_000) == 6.0
    assert lod_at(cfg, 2_100_000) == pytest.approx(5.5)
    assert lod_at(cfg, 8_400_000) == 0.0      # 7 phases of 1200 kimg
    assert lod_at(cfg, 25_000_000) == 0.0
    s = schedule(cfg, 0)
    assert (s.resolution, s.minibatch, s.lr) == (8, 128, 0.001)
    s = schedule(cfg, 900_000)                 # fading 16 in: the resolution is already the new one
    assert (s.resolution, s.minibatch) == (16, 128)
    s = schedule(cfg, 4_000_000)
    assert s.resolution == 64 and s.minibatch == 32
    s = schedule(cfg, 20_000_000)
    assert (s.resolution, s.minibatch, s.lr) == (1024, 4, 0.003)   # minibatch_base 4 above 512
    assert schedule(cfg.replace(batch=16), 20_000_000).minibatch == 16
    assert schedule(cfg.replace(progressive=False), 0).lod == 0.0


def test_lod_change_detection_and_ema_beta():
    assert lod_changed(-1.0, 3.0)
    assert not lod_changed(3.0, 3.0)
    assert lod_changed(3.0, 2.9)          # fade starts: ceil stays, floor drops
    assert not lod_changed(2.9, 2.5)
    assert lod_changed(2.1, 2.0)          # fade ends
    cfg = TrainConfig()
    assert ema_beta(cfg, 32) == 0.5 ** (32 / 10_000)
    assert ema_beta(cfg, 10_000) == 0.5   # half-life of 10 kimg


def test_update_ema_lerps_parameters_and_copies_buffers():
    G = build_generator("f-mixing90", resolution=16, seed=0, fmap_max=16, latent_size=16)
    G_ema = copy.deepcopy(G)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn_like(p))
        G.mapping.w_avg.fill_(3.0)
        G.synthesis.noise0.fill_(-1.0)
    before = {k: v.clone() for k, v in G_ema.named_parameters()}
    beta = 0.9
    update_ema(G_ema, G, beta)
    for k, p in G.named_parameters():
        expected = p + beta * (before[k] - p)
        assert torch.allclose(dict(G_ema.named_parameters())[k], expected, atol=1e-6), k
    assert torch.equal(G_ema.mapping.w_avg, G.mapping.w_avg)       # copied, not averaged
    assert torch.equal(G_ema.synthesis.noise0, G.synthesis.noise0)


def test_r1_is_taken_at_full_resolution_scale():
    """During growing D pools its full-resolution input by 2^floor(lod): the R1 of the official
    graph equals the low-resolution gradient norm / 4^floor(lod)."""
    D = build_discriminator(resolution=16, seed=0, fmap_max=16)
    low = torch.randn(4, 3, 8, 8)
    full = low.repeat_interleave(2, 2).repeat_interleave(2, 3)
    fakes = torch.randn(4, 3, 16, 16)
    D.lod.fill_(1.0)
    _, stats = d_logistic_r1_loss(D, full, fakes, r1_gamma=10.0)
    # D at lod 1 pools its input back to the 8x8 image, so the gradient w.r.t. that 8x8 image is
    # g_low, and the full-resolution gradient spreads it over 2x2 pixels with weight 1/4 each:
    # sum((g_low / 4)^2 over 4 copies) = |g_low|^2 / 4.
    x = low.clone().requires_grad_(True)
    (g_low,) = torch.autograd.grad(D(x.repeat_interleave(2, 2).repeat_interleave(2, 3)).sum(), x)
    expected = g_low.square().sum(dim=(1, 2, 3)).mean().item() / 4
    assert stats["r1"].item() == pytest.approx(expected, rel=1e-4)


def test_d_loss_formula():
    D = build_discriminator(resolution=16, seed=1, fmap_max=16)
    reals, fakes = torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16)
    loss, stats = d_logistic_r1_loss(D, reals, fakes, r1_gamma=10.0)
    x = reals.clone().requires_grad_(True)
    rs = D(x)
    (g,) = torch.autograd.grad(rs.sum(), x)
    expected = (F.softplus(D(fakes)) + F.softplus(-rs) + 5.0 * g.square().sum(dim=(1, 2, 3)).view(-1, 1)).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss0, _ = d_logistic_r1_loss(D, reals, fakes, r1_gamma=0.0)
    assert loss0.item() == pytest.approx((F.softplus(D(fakes)) + F.softplus(-rs)).mean().item(), rel=1e-5)


def test_process_reals_levels_of_detail():
    x = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    y0 = process_reals(x, 0.0)
    assert torch.equal(y0, x.float() / 127.5 - 1)
    y1 = process_reals(x, 1.0)
    low = torch.round(F.avg_pool2d(x.float(), 2)) / 127.5 - 1
    assert torch.equal(y1, low.repeat_interleave(2, 2).repeat_interleave(2, 3))
    # Half-way through a fade: the lerp of the image and its down-up-sampled version.
    y = process_reals(x, 0.25)
    down_up = F.avg_pool2d(y0, 2).repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert torch.allclose(y, y0 + 0.25 * (down_up - y0), atol=1e-6)
    assert y1.min() >= -1 and y1.max() <= 1


def test_stream_sampler_is_stateless_and_covers_epochs():
    s = StreamSampler(10, seed=3, mirror=True)
    idx, flips = s.indices(0, 25)
    assert sorted(idx[:10].tolist()) == list(range(10)) and sorted(idx[10:20].tolist()) == list(range(10))
    assert not np.array_equal(idx[:10], idx[10:20])            # a new permutation per epoch
    fresh = StreamSampler(10, seed=3, mirror=True)
    i2, f2 = fresh.indices(7, 9)                               # any window, any order of calls
    assert np.array_equal(i2, idx[7:16]) and np.array_equal(f2, flips[7:16])
    assert 0 < flips.sum() < 25
    assert not StreamSampler(10, seed=3, mirror=False).indices(0, 25)[1].any()


def test_config_json_round_trip_and_mismatch(tmp_path):
    cfg = TrainConfig(preset="e-noise", g_overrides={"fmap_max": 32})
    cfg.save(tmp_path / "c.json")
    back = TrainConfig.load(tmp_path / "c.json")
    assert back == cfg and back.minibatch_dict[16] == 128
    assert back.mismatches(cfg) == []
    assert any("preset" in m for m in back.replace(preset="f-mixing90").mismatches(cfg))
    assert back.replace(total_kimg=5.0).mismatches(cfg) == []   # run length may change on resume
    with pytest.raises(ValueError, match="unknown training config keys"):
        TrainConfig.from_dict({"presett": "x"})
    with pytest.raises(ValueError, match="power of two"):
        TrainConfig(resolution=24)
    assert math.isclose(TrainConfig().lr_dict[1024], 0.003)
