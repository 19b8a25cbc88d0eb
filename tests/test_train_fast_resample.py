"""The trainer's polyphase resampling (TrainConfig.fast_resample): the official up/down convolutions
computed at the low resolution, equal to the literal form up to float32 rounding."""

from __future__ import annotations

import pytest
import torch

from reference_models.layers import EqualConv2d, set_polyphase
from reference_models.train import Trainer, schedule

from .train_helpers import tiny_config, tiny_reals


@pytest.mark.parametrize("up", [True, False])
def test_polyphase_conv_equals_the_literal_one_with_gradients(up):
    torch.manual_seed(0)
    m = EqualConv2d(8, 16, 3, up=up, down=not up)
    with torch.no_grad():
        m.bias.normal_()
    x = torch.randn(4, 8, 8, 8, requires_grad=True)
    out = {}
    for poly in (False, True):
        m.polyphase = poly
        y = m(x)
        gx, gw = torch.autograd.grad((y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum(), (x, m.weight))
        out[poly] = (y, gx, gw)
    for a, b in zip(out[False], out[True]):
        assert a.shape == b.shape
        # float32 rounding of sums of 9-36 products: ~1e-6 of the values' scale
        assert (a - b).abs().max() <= 1e-5 * a.abs().max(), (a - b).abs().max()
    assert not torch.equal(out[False][0], out[True][0])   # a different order of operations, really taken


def test_trainer_uses_it_for_g_and_d_not_g_ema_and_a_step_matches(tmp_path):
    reals = tiny_reals(tmp_path / "reals.npy")
    out = {}
    for fast in (False, True):
        tr = Trainer(tiny_config(reals, tmp_path / f"fast{fast}", fast_resample=fast), progress=False)
        convs = [m for m in tr.G.modules() if isinstance(m, EqualConv2d) and m.up] + \
                [m for m in tr.D.modules() if isinstance(m, EqualConv2d) and m.down]
        assert convs and all(m.polyphase is fast for m in convs)
        assert not any(getattr(m, "polyphase", False) for m in tr.G_ema.modules())
        assert tr.channels_last   # the other measured CPU speed-up, on by default (train_speed --compare)
        stats = [tr.train_step(schedule(tr.cfg, 0))]
        # the first step's gradients (later ones follow Adam steps whose tiny-gradient elements amplify rounding)
        grads = {f"D.{k}": p.grad.clone() for k, p in tr.D.named_parameters() if p.grad is not None}
        grads.update({f"G.{k}": p.grad.clone() for k, p in tr.G.named_parameters() if p.grad is not None})
        stats += [tr.train_step(schedule(tr.cfg, 0)) for _ in range(2)]
        tr.loader.close()
        out[fast] = (stats, grads)
    for s_old, s_new in zip(out[False][0], out[True][0]):
        for k in ("loss_D", "r1", "score_real", "score_fake", "loss_G"):
            assert s_new[k].item() == pytest.approx(s_old[k].item(), rel=5e-4, abs=1e-6), k  # torch 2.14 CPU: 1.5e-4
    assert out[True][1].keys() == out[False][1].keys() and len(out[False][1]) > 10
    # Rounding is relative to the summed terms, not to the sum: G's first bias feeds an instance norm, so its
    # gradient is 0 in exact arithmetic and pure rounding (~5e-4, beside gradients of 1e3 in the same net).
    scale = {net: max(g.abs().max().item() for k, g in out[False][1].items() if k.startswith(net)) for net in "DG"}
    for k, g in out[False][1].items():
        assert torch.allclose(out[True][1][k], g, rtol=1e-3, atol=1e-6 * scale[k[0]]), k


def test_set_polyphase_concerns_unfused_resampling_convs_only():
    up, down = EqualConv2d(4, 4, 3, up=True), EqualConv2d(4, 4, 3, down=True)
    plain, fused = EqualConv2d(4, 4, 3), EqualConv2d(4, 4, 3, up=True, fused=True)
    net = torch.nn.ModuleList([up, down, plain, fused])
    assert set_polyphase(net, True) == 2 and up.polyphase and down.polyphase
    assert not plain.polyphase and not fused.polyphase
