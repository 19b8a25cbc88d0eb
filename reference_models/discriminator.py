"""The discriminator of the official StyleGAN code (D_basic), with progressive-growing lod.

Structure at resolution R = 2^L: fromRGB (1x1 conv + leaky ReLU) at R, then for each resolution
R .. 8 a block conv 3x3 -> blur -> conv 3x3 down (fused stride-2 at >= 128), then at 4x4 the
minibatch-stddev layer, a 3x3 conv, dense to nf(0) and a dense to the scores (gain 1).
``blur_filter=None`` with ``downscale_after_act=True`` gives ProGAN's D_paper (same variables).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from .configs import DiscriminatorConfig
from .layers import (EqualConv2d, EqualLinear, downscale2d, fmaps, leaky_relu, lerp, minibatch_stddev,
                     optional_blur, split_lod, use_fused)


class DiscriminatorBlock(nn.Module):
    """Conv0 (3x3) -> blur -> Conv1_down (3x3, 2x down-sampling), each followed by leaky ReLU.

    With ``cfg.downscale_after_act`` and no fusing (ProGAN's D_paper, ``fused_scale=False``) the
    down-sampling follows Conv1's bias and leaky ReLU instead of preceding them.
    """

    def __init__(self, in_ch: int, out_ch: int, res: int, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_ch, in_ch, 3)
        self.blur = optional_blur(cfg.blur_filter)
        fused = use_fused(2 ** res, cfg.fused_scale)
        # The average pool does not commute with the leaky ReLU, so the two orders differ.
        self.pool_after_act = cfg.downscale_after_act and not fused
        self.conv1 = EqualConv2d(in_ch, out_ch, 3, down=not self.pool_after_act, fused=fused)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = leaky_relu(self.conv0(x))
        x = leaky_relu(self.conv1(self.blur(x)))
        return downscale2d(x) if self.pool_after_act else x


class Discriminator(nn.Module):
    """Images [N, C, R, R] in [-1, 1] -> scores [N, num_outputs] (or [N, 1] with labels).

    The input is always at full resolution; with ``lod`` > 0 it is box-downsampled by
    2^floor(lod) internally and the fade-in blends with fromRGB of the half-resolution image, as
    the official graph does.
    """

    kind = "discriminator"

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.log2_res = L = int(math.log2(cfg.resolution))
        nf = lambda stage: fmaps(stage, cfg.fmap_base, cfg.fmap_decay, cfg.fmap_max)  # noqa: E731
        self.register_buffer("lod", torch.zeros([]))
        # fromrgb[k] reads the image at resolution 2^(L - k), i.e. official FromRGB_lod{k}.
        self.fromrgb = nn.ModuleList(EqualConv2d(cfg.num_channels, nf(res - 1), 1) for res in range(L, 1, -1))
        # blocks[k] runs at resolution 2^(L - k), for resolutions R .. 8.
        self.blocks = nn.ModuleList(DiscriminatorBlock(nf(res - 1), nf(res - 2), res, cfg) for res in range(L, 2, -1))
        mbstd = cfg.mbstd_num_features if cfg.mbstd_group_size > 1 else 0
        self.conv4 = EqualConv2d(nf(1) + mbstd, nf(1), 3)
        self.dense0 = EqualLinear(nf(1) * 16, nf(0))
        self.num_outputs = cfg.num_outputs or max(cfg.label_size, 1)
        self.dense1 = EqualLinear(nf(0), self.num_outputs, gain=1.0)
        self.img_resolution = cfg.resolution
        self.img_channels = cfg.num_channels
        self.c_dim = cfg.label_size

    def _check(self, images: torch.Tensor) -> None:
        R, C = self.cfg.resolution, self.cfg.num_channels
        if images.ndim != 4 or tuple(images.shape[1:]) != (C, R, R):
            raise ValueError(f"{type(self).__name__} expects images [N, {C}, {R}, {R}], got {tuple(images.shape)}")

    def trunk(self, images: torch.Tensor, lod: Optional[float] = None) -> list[torch.Tensor]:
        """Feature maps from fromRGB down to the 4x4 input of the final conv (before minibatch stddev)."""
        self._check(images)
        if lod is None:
            lod = 0.0 if self.lod.is_meta else self.lod.item()
        k, frac = split_lod(lod, self.log2_res - 2)
        img = downscale2d(images, 2 ** k)
        x = leaky_relu(self.fromrgb[k](img))
        feats = [x]
        for i in range(k, self.log2_res - 2):
            x = self.blocks[i](x)
            if i == k and frac > 0:
                y = leaky_relu(self.fromrgb[k + 1](downscale2d(img)))
                x = lerp(x, y, frac)
            feats.append(x)
        return feats

    def head(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The 4x4 stage: (penultimate features [N, nf(0)], scores [N, num_outputs])."""
        if self.cfg.mbstd_group_size > 1:
            x = minibatch_stddev(x, self.cfg.mbstd_group_size, self.cfg.mbstd_num_features)
        x = leaky_relu(self.conv4(x))
        feat = leaky_relu(self.dense0(x))
        return feat, self.dense1(feat)

    def forward(self, images: torch.Tensor, c: Optional[torch.Tensor] = None, lod: Optional[float] = None) -> torch.Tensor:
        """Scores; with labels (label_size > 0) the official sum(scores * labels) projection."""
        _, out = self.head(self.trunk(images, lod)[-1])
        if self.cfg.label_size:
            if c is None or tuple(c.shape) != (images.shape[0], self.cfg.label_size):
                raise ValueError(f"this discriminator is conditional: c must be [N, {self.cfg.label_size}]")
            out = (out * c.to(out.dtype)).sum(dim=1, keepdim=True)
        return out
