"""Layer-level facts of the official networks."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference_models.layers import (Blur2d, EqualConv2d, EqualLinear, StyleMod, instance_norm,
                                     minibatch_stddev, pixel_norm)


def _tf_fused_upscale_conv(x, w_tf):
    """numpy transcription of the official upscale2d_conv2d (fused) with TF conv2d_transpose semantics:
    out[o, 2i + u - 1, 2j + v - 1] += x[c, i, j] * F[u, v, o, c], F = 4x4 summed kernel of w^T."""
    w = w_tf.transpose(0, 1, 3, 2)  # [k, k, out, in]
    w = np.pad(w, [(1, 1), (1, 1), (0, 0), (0, 0)])
    Fk = w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]
    N, C, H, W = x.shape
    out = np.zeros((N, Fk.shape[2], 2 * H + 2, 2 * W + 2))  # one pixel of margin on each side
    for u in range(4):
        for v in range(4):
            out[:, :, u:u + 2 * H:2, v:v + 2 * W:2] += np.einsum("nchw,oc->nohw", x, Fk[u, v])
    return out[:, :, 1:2 * H + 1, 1:2 * W + 1]


def test_fused_upsample_is_the_official_transposed_conv():
    torch.manual_seed(0)
    fused = EqualConv2d(5, 7, 3, up=True, fused=True)
    x = torch.randn(2, 5, 6, 6)
    w_tf = (fused.weight * math.sqrt(2) / math.sqrt(45)).detach().permute(2, 3, 1, 0).double().numpy()
    expect = _tf_fused_upscale_conv(x.double().numpy(), w_tf)
    np.testing.assert_allclose(fused(x).detach().numpy(), expect, rtol=1e-4, atol=1e-4)
    # ... which is nearest-upsample-then-conv with the spatially flipped kernel (not the same kernel)
    plain = EqualConv2d(5, 7, 3, up=True, fused=False)
    plain.load_state_dict(fused.state_dict())
    assert not torch.allclose(fused(x), plain(x), atol=1e-3)
    plain.weight.data = fused.weight.data.flip(2, 3)
    torch.testing.assert_close(fused(x), plain(x), rtol=1e-5, atol=1e-5)


def test_fused_downsample_equals_conv_then_average():
    torch.manual_seed(0)
    fused = EqualConv2d(5, 7, 3, down=True, fused=True)
    plain = EqualConv2d(5, 7, 3, down=True, fused=False)
    plain.load_state_dict(fused.state_dict())
    x = torch.randn(2, 5, 8, 8)
    torch.testing.assert_close(fused(x), plain(x), rtol=1e-5, atol=1e-5)
    w = fused.weight * math.sqrt(2) / math.sqrt(45)
    torch.testing.assert_close(fused(x), F.avg_pool2d(F.conv2d(x, w, padding=1), 2), rtol=1e-5, atol=1e-5)


def test_equalised_lr_runtime_scale():
    lin = EqualLinear(16, 4, gain=1.0, lrmul=0.01)
    lin.bias.data.normal_()
    x = torch.randn(3, 16)
    torch.testing.assert_close(lin(x), x @ (lin.weight * 0.01 / 4).T + lin.bias * 0.01)


def test_blur_kernel():
    b = Blur2d()
    k = torch.tensor([1.0, 2.0, 1.0])
    torch.testing.assert_close(b.kernel[0, 0], torch.outer(k, k) / 16)
    x = torch.zeros(1, 2, 5, 5)
    x[0, 1, 2, 2] = 1
    y = b(x)
    torch.testing.assert_close(y[0, 1, 1:4, 1:4], torch.outer(k, k) / 16)
    assert y[0, 0].abs().sum() == 0


def test_norms():
    x = torch.randn(2, 6, 4, 4) * 3 + 1
    y = instance_norm(x)
    torch.testing.assert_close(y.mean((2, 3)), torch.zeros(2, 6), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.square().mean((2, 3)), torch.ones(2, 6), atol=1e-4, rtol=0)
    p = pixel_norm(x)
    torch.testing.assert_close(p.square().mean(1), torch.ones(2, 4, 4), atol=1e-4, rtol=0)


def test_style_mod_plus_one():
    sm = StyleMod(8, 3)
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(sm(x, torch.zeros(2, 8)), x)  # zero style (bias 0): identity, thanks to +1


@pytest.mark.parametrize("N", [1, 2, 4, 8, 12])
def test_minibatch_stddev_groups(N):
    x = torch.randn(N, 3, 2, 2)
    y = minibatch_stddev(x, 4)
    assert y.shape == (N, 4, 2, 2) and torch.equal(y[:, :3], x)
    G = min(4, N)
    M = N // G
    xn = x.numpy().astype(np.float64)
    for i in range(N):
        members = xn[[m for m in range(N) if m % M == i % M]]
        expect = np.sqrt(members.var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(y[i, 3].numpy(), expect, rtol=1e-5)
    with pytest.raises(ValueError, match="divisible"):
        minibatch_stddev(torch.randn(6, 3, 2, 2), 4)
