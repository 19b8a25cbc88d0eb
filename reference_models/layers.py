"""Building blocks of the official StyleGAN (v1) networks, in plain PyTorch.

Every constant follows NVlabs/stylegan ``training/networks_stylegan.py``:

- equalised learning rate: weights are stored ~ N(0, (1/lrmul)^2) and multiplied at run time by
  ``gain / sqrt(fan_in) * lrmul``; biases are stored at zero and multiplied by ``lrmul``;
- convolution weights are kept in PyTorch layout ``[out, in, kh, kw]`` (TensorFlow's is
  ``[kh, kw, in, out]``; :mod:`reference_models.convert` transposes);
- the fused up/down-sampling convolutions pad the 3x3 kernel to 4x4 and sum its four shifts
  (times 0.25 for the strided down-sampling form, no factor for the transposed up-sampling form).
  The strided form equals conv-then-2x2-average exactly. The transposed form equals
  nearest-upsample-then-conv with the *spatially flipped* kernel (a transposed convolution is the
  adjoint of a correlation); the official weights at >= 128 were trained with that form, so it is
  reproduced as is rather than replaced by the unfused ops.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2.0)
LRELU_SLOPE = 0.2


def leaky_relu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with the official slope 0.2."""
    return F.leaky_relu(x, LRELU_SLOPE)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise every feature vector (dim 1) to unit root-mean-square."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


def instance_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-sample, per-channel normalisation over H and W, computed in fp32 (eps 1e-8, as official)."""
    dtype = x.dtype
    x = x.float()
    x = x - x.mean(dim=(2, 3), keepdim=True)
    x = x * torch.rsqrt(x.square().mean(dim=(2, 3), keepdim=True) + eps)
    return x.to(dtype)


def upscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour up-sampling by an integer factor."""
    if factor == 1:
        return x
    return x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def downscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Box-filter down-sampling (mean of factor x factor blocks)."""
    if factor == 1:
        return x
    return F.avg_pool2d(x, kernel_size=factor, stride=factor)


def _summed_4x4(w: torch.Tensor) -> torch.Tensor:
    """Pad a [O, I, 3, 3] kernel to 5x5 and sum its four 1-pixel shifts into a 4x4 kernel."""
    w = F.pad(w, [1, 1, 1, 1])
    return w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]


class Blur2d(nn.Module):
    """Depthwise low-pass filter, [1, 2, 1] x [1, 2, 1] / 16 by default, TensorFlow 'SAME' padding.

    As the official ``_blur2d``: a 1-D ``taps`` becomes the outer product with itself, a 2-D one is
    used as is, and the kernel is normalised to sum 1. 'SAME' pads ``(k - 1) // 2`` before and
    ``k // 2`` after, so an even-length kernel (e.g. [1, 3, 3, 1]) shifts by half a pixel exactly as
    the official one does; both are correlations, so asymmetric kernels are not flipped.
    """

    def __init__(self, taps: Sequence[float] | Sequence[Sequence[float]] = (1, 2, 1)) -> None:
        super().__init__()
        # Built in Python floats: the module may be constructed under torch.device('meta').
        rows = [[float(v) for v in t] for t in taps] if _is_2d(taps) else [[float(a) * float(b) for b in taps] for a in taps]
        total = sum(map(sum, rows))
        if not rows or not rows[0] or any(len(r) != len(rows[0]) for r in rows) or total == 0.0:
            raise ValueError(f"blur_filter must be a non-empty 1-D or 2-D list of taps with a non-zero sum, got {taps!r}")
        f = torch.tensor([[v / total for v in r] for r in rows], dtype=torch.float32)
        self.register_buffer("kernel", f[None, None], persistent=False)
        kh, kw = len(rows), len(rows[0])
        self.pad = ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2)  # F.pad order: left, right, top, bottom

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        C = x.shape[1]
        k = self.kernel.to(x.dtype).expand(C, 1, -1, -1)
        return F.conv2d(F.pad(x, self.pad), k, groups=C)


def _is_2d(taps: Sequence) -> bool:
    return len(taps) > 0 and all(isinstance(t, (list, tuple)) for t in taps)


class EqualLinear(nn.Module):
    """Dense layer with equalised learning rate: y = x (w * gain/sqrt(in) * lrmul)^T + b * lrmul."""

    def __init__(self, in_features: int, out_features: int, gain: float = SQRT2, lrmul: float = 1.0,
                 bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lrmul)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.weight_gain = gain / math.sqrt(in_features) * lrmul
        self.lrmul = lrmul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias * self.lrmul if self.bias is not None else None
        return F.linear(x.flatten(1), w, b)


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate, optionally fused with 2x up- or down-sampling.

    ``up``: nearest x2 then conv ('SAME'); ``fused``: TensorFlow's conv2d_transpose (stride 2,
    'SAME') with the summed 4x4 kernel, as official at >= 128 (equal to the unfused form with a
    spatially flipped kernel). ``down``: conv then 2x2 average; ``fused``: a stride-2 conv with the
    summed 4x4 kernel times 0.25 (exactly equal to the unfused form). The bias is added after the
    resampling, as in the official code.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gain: float = SQRT2,
                 bias: bool = True, up: bool = False, down: bool = False, fused: bool = False) -> None:
        super().__init__()
        assert kernel_size % 2 == 1 and not (up and down)
        assert not fused or kernel_size == 3, "fused resampling is defined for 3x3 kernels"
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.up, self.down, self.fused = up, down, fused
        self.padding = kernel_size // 2

    # ``polyphase``: compute the unfused forms as the fused ones do, at the low resolution: nearest x2 then
    # conv is the transposed conv of the spatially flipped kernel's summed 4x4, and conv then 2x2 average
    # is the stride-2 conv of the summed 4x4 x 0.25. Equal in exact arithmetic, 2.25x fewer multiplies;
    # float32 rounding differs. The trainer turns it on for G and D (TrainConfig.fast_resample); metrics
    # and G_ema keep the literal official form, so evaluated numbers do not move.
    polyphase = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        if self.up and (self.fused or self.polyphase):
            k = w if self.fused else w.flip(2, 3)
            # conv_transpose2d wants [in, out, kh, kw].
            x = F.conv_transpose2d(x, _summed_4x4(k).transpose(0, 1), stride=2, padding=1)
        elif self.down and (self.fused or self.polyphase):
            x = F.conv2d(x, _summed_4x4(w) * 0.25, stride=2, padding=1)
        else:
            if self.up:
                x = upscale2d(x)
            x = F.conv2d(x, w, padding=self.padding)
            if self.down:
                x = downscale2d(x)
        if self.bias is not None:
            x = x + self.bias.to(x.dtype).view(1, -1, 1, 1)
        return x


def set_polyphase(net: nn.Module, on: bool) -> int:
    """Switch every unfused up/down :class:`EqualConv2d` of ``net`` to (or from) its polyphase form
    (see ``EqualConv2d.polyphase``); returns how many layers it concerns."""
    n = 0
    for m in net.modules():
        if isinstance(m, EqualConv2d) and (m.up or m.down) and not m.fused:
            m.polyphase = bool(on)
            n += 1
    return n


class NoiseInjection(nn.Module):
    """Adds noise [N, 1, H, W] scaled by a learned per-channel weight (initialised to 0, no wscale)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + noise.to(x.dtype) * self.weight.to(x.dtype).view(1, -1, 1, 1)


class StyleMod(nn.Module):
    """AdaIN style modulation: x * (ys + 1) + yb with (ys, yb) = dense(w) (gain 1, bias 0)."""

    def __init__(self, dlatent_size: int, channels: int) -> None:
        super().__init__()
        self.affine = EqualLinear(dlatent_size, 2 * channels, gain=1.0)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.affine(w).view(-1, 2, x.shape[1], 1, 1)
        return x * (style[:, 0] + 1) + style[:, 1]


def minibatch_stddev(x: torch.Tensor, group_size: int = 4, num_new_features: int = 1) -> torch.Tensor:
    """Append the mean standard deviation over groups of min(group_size, N) samples as new maps.

    As in the official layer, sample i belongs to group i % M (M = N / G), the statistic is
    computed in fp32 with 1e-8 inside the square root, and N must be divisible by G.
    """
    N, C, H, W = x.shape
    G = min(group_size, N)
    if N % G:
        raise ValueError(f"minibatch stddev: batch size {N} must be divisible by the group size {G}")
    n = num_new_features
    y = x.reshape(G, -1, n, C // n, H, W).float()
    y = y - y.mean(dim=0, keepdim=True)
    y = y.square().mean(dim=0)
    y = (y + 1e-8).sqrt()
    y = y.mean(dim=(2, 3, 4))  # [M, n]
    y = y.to(x.dtype).reshape(-1, n, 1, 1).repeat(G, 1, H, W)
    return torch.cat([x, y], dim=1)


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """a + (b - a) * t."""
    return a + (b - a) * t


def fmaps(stage: int, fmap_base: int, fmap_decay: float, fmap_max: int) -> int:
    """The official channel rule nf(stage) = min(int(fmap_base / 2^(stage * fmap_decay)), fmap_max)."""
    return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)


def split_lod(lod: float, max_lod: int) -> tuple[int, float]:
    """Split a level of detail into (integer part, fraction), checking 0 <= lod <= max_lod."""
    lod = float(lod)
    if not 0.0 <= lod <= max_lod:
        raise ValueError(f"lod must be within [0, {max_lod}] for this resolution, got {lod}")
    k = int(math.floor(lod))
    return k, lod - k


def use_fused(resolution: int, fused_scale: bool | str) -> bool:
    """Whether resampling at ``resolution`` (the high-resolution side) is fused: 'auto' = >= 128."""
    if fused_scale == "auto":
        return resolution >= 128
    if isinstance(fused_scale, bool):
        return fused_scale
    raise ValueError(f"fused_scale must be True, False or 'auto', got {fused_scale!r}")


def optional_blur(blur_filter: Optional[Sequence[float]]) -> nn.Module:
    """A :class:`Blur2d` for ``blur_filter``, or the identity when it is None/empty."""
    return Blur2d(blur_filter) if blur_filter else nn.Identity()
