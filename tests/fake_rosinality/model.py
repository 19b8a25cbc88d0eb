"""A small generator shaped like rosinality/stylegan2-pytorch's model.Generator (test stand-in).

Same constructor (size, style_dim, n_mlp, channel_multiplier), state_dict key layout for what the
loader reads (``style.N.weight``, ``convs.N.conv.weight`` of shape [1, out, in, k, k]), ``noises``
buffers ``noise_0..``, ``get_latent``, ``mean_latent`` and ``forward(styles, ..., input_is_latent,
noise, randomize_noise)``; the layers themselves are simplified. None of their code.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    def __init__(self, in_dim, out_dim, lr_mul=0.01):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.scale, self.lr_mul = lr_mul / math.sqrt(in_dim), lr_mul

    def forward(self, x):
        return F.leaky_relu(F.linear(x, self.weight * self.scale, self.bias * self.lr_mul), 0.2) * math.sqrt(2)


class ModulatedConv(nn.Module):
    def __init__(self, in_ch, out_ch, style_dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, 3, 3))
        self.modulation = nn.Linear(style_dim, in_ch)

    def forward(self, x, style):
        n = x.shape[0]
        w = self.weight * (self.modulation(style) + 1).view(n, 1, -1, 1, 1)
        w = w * torch.rsqrt(w.square().sum([2, 3, 4], keepdim=True) + 1e-8)
        out = F.conv2d(x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, *w.shape[2:]), padding=1, groups=n)
        return out.reshape(n, -1, *out.shape[2:])


class StyledConv(nn.Module):
    def __init__(self, in_ch, out_ch, style_dim, upsample=False):
        super().__init__()
        self.conv, self.upsample = ModulatedConv(in_ch, out_ch, style_dim), upsample
        self.noise_weight = nn.Parameter(torch.full([], 0.3))

    def forward(self, x, style, noise):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return F.leaky_relu(self.conv(x, style) + self.noise_weight * noise, 0.2)


class Generator(nn.Module):
    def __init__(self, size, style_dim, n_mlp, channel_multiplier=2):
        super().__init__()
        self.size, self.style_dim = size, style_dim
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim) for _ in range(n_mlp)])
        self.channels = {4: 16, 8: 16, 16: 16, 32: 16, 64: 4 * channel_multiplier, 128: 2 * channel_multiplier}
        self.input = nn.Parameter(torch.randn(1, self.channels[4], 4, 4))
        self.conv1 = StyledConv(self.channels[4], self.channels[4], style_dim)
        self.log_size = int(math.log(size, 2))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.noises = nn.Module()
        for i in range(self.num_layers):
            r = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, r, r))
        self.convs = nn.ModuleList()
        ch = self.channels[4]
        for i in range(3, self.log_size + 1):
            out = self.channels[2 ** i]
            self.convs.append(StyledConv(ch, out, style_dim, upsample=True))
            self.convs.append(StyledConv(out, out, style_dim))
            ch = out
        self.to_rgb = nn.Conv2d(ch, 3, 1)
        self.n_latent = self.log_size * 2 - 2

    def get_latent(self, z):
        return self.style(z)

    def mean_latent(self, n_latent):
        return self.style(torch.randn(n_latent, self.style_dim)).mean(0, keepdim=True)

    def forward(self, styles, return_latents=False, inject_index=None, truncation=1, truncation_latent=None,
                input_is_latent=False, noise=None, randomize_noise=True):
        latent = styles[0] if input_is_latent else self.style(styles[0])
        if latent.ndim < 3:
            latent = latent.unsqueeze(1).repeat(1, self.n_latent, 1)
        if noise is None:
            noise = [None] * self.num_layers if randomize_noise else \
                [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        noise = [torch.randn(1, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2)) if nz is None else nz
                 for i, nz in enumerate(noise)]
        x = self.conv1(self.input.repeat(latent.shape[0], 1, 1, 1), latent[:, 0], noise[0])
        for i, conv in enumerate(self.convs):
            x = conv(x, latent[:, min(i + 1, self.n_latent - 1)], noise[i + 1])
        img = torch.tanh(0.3 * self.to_rgb(x))
        return img, (latent if return_latents else None)
