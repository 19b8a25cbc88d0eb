"""Bilinear resize exactly as TensorFlow 1.x ``tf.image.resize_bilinear`` (align_corners=False).

TF 1.x samples output pixel ``d`` at source coordinate ``s = d * in / out`` (no half-pixel offset),
with ``lo = floor(s)``, ``hi = min(lo + 1, in - 1)``, ``f = s - lo`` and
``out = top + (bottom - top) * f_y`` where ``top = a + (b - a) * f_x`` on rows lo and hi.
PyTorch's ``F.interpolate(mode='bilinear', align_corners=False)`` samples ``(d + 0.5) * in / out - 0.5``,
a different grid, which moves FID noticeably. This is separable: two gathers per axis, no matmul,
so it costs little even from 1024x1024.
"""

from __future__ import annotations

import torch


def _axis(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)  # TF computes the scale in float32
    src = torch.arange(out_size, dtype=torch.float32) * scale
    lo = src.floor().long()
    hi = (lo + 1).clamp_max(in_size - 1)
    frac = src - lo.float()
    return lo.to(device), hi.to(device), frac.to(device)


def resize_bilinear_tf1(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize float NCHW ``x`` to ``size`` = (H, W) like TF 1.x ``resize_bilinear(align_corners=False)``."""
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"resize_bilinear_tf1 expects a float NCHW tensor, got {x.dtype} {tuple(x.shape)}")
    out_h, out_w = int(size[0]), int(size[1])
    in_h, in_w = x.shape[2], x.shape[3]
    if (in_h, in_w) == (out_h, out_w):
        return x  # s = d exactly, f = 0: the identity
    xlo, xhi, fx = _axis(in_w, out_w, x.device)
    ylo, yhi, fy = _axis(in_h, out_h, x.device)
    left, right = x.index_select(3, xlo), x.index_select(3, xhi)
    rows = left + (right - left) * fx.to(x.dtype)          # [N, C, in_h, out_w]
    top, bottom = rows.index_select(2, ylo), rows.index_select(2, yhi)
    return top + (bottom - top) * fy.to(x.dtype).view(-1, 1)
