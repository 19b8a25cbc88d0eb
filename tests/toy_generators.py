"""Tiny generators for foundation tests: one that follows the protocol and ways of breaking it."""

from __future__ import annotations

import torch


class ToyGenerator(torch.nn.Module):
    """A small protocol generator: linear mapping, linear synthesis, tanh, optional noise buffer."""

    def __init__(self, z_dim: int = 8, num_ws: int = 4, res: int = 8, channels: int = 3, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.z_dim = self.w_dim = z_dim
        self.num_ws = num_ws
        self.img_resolution = res
        self.img_channels = channels
        self.c_dim = 0
        self.map = torch.nn.Parameter(torch.randn(z_dim, z_dim, generator=g) / z_dim ** 0.5)
        self.syn = torch.nn.Parameter(torch.randn(z_dim, channels * res * res, generator=g) / z_dim ** 0.5)
        self.register_buffer("noise_const", torch.randn(1, 1, res, res, generator=g))

    def mapping(self, z, c=None, truncation_psi=1.0):
        return (z @ self.map).unsqueeze(1).repeat(1, self.num_ws, 1)

    def reseed_noise(self, generator):
        self.noise_const.copy_(torch.randn(self.noise_const.shape, generator=generator, device=generator.device))

    def synthesis(self, ws, noise_mode="random"):
        x = (ws.mean(1) @ self.syn).view(-1, self.img_channels, self.img_resolution, self.img_resolution)
        if noise_mode == "random":
            x = x + 0.1 * torch.randn_like(x[:, :1])
        elif noise_mode == "const":
            x = x + 0.1 * self.noise_const
        return torch.tanh(x)


class RosinalityLike(torch.nn.Module):
    """Shaped like rosinality's stylegan2-pytorch Generator (get_latent, forward(styles, ...))."""

    def __init__(self, style_dim: int = 8, size: int = 8) -> None:
        super().__init__()
        self.style_dim = style_dim
        self.size = size
        self.n_latent = 4
        self.num_layers = 2
        self.style = torch.nn.Linear(style_dim, style_dim)
        self.out = torch.nn.Linear(style_dim, 3 * size * size)
        self.noises = torch.nn.Module()
        for i in range(self.num_layers):
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, size, size))

    def get_latent(self, z):
        return self.style(z)

    def mean_latent(self, n):
        return self.style(torch.randn(n, self.style_dim)).mean(0, keepdim=True)

    def forward(self, styles, return_latents=False, truncation=1, truncation_latent=None,
                input_is_latent=False, noise=None, randomize_noise=True):
        latent = styles[0] if input_is_latent else self.style(styles[0])
        if latent.ndim == 2:
            latent = latent.unsqueeze(1).repeat(1, self.n_latent, 1)
        if noise is None:
            noise = [torch.randn_like(getattr(self.noises, f"noise_{i}")) if randomize_noise
                     else getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        img = self.out(latent.mean(1)).view(-1, 3, self.size, self.size)
        img = torch.tanh(img + 0.1 * sum(noise))
        return img, (latent if return_latents else None)


def tiny_factory() -> ToyGenerator:
    """Factory used by the CLI tests (`tests.toy_generators:tiny_factory`)."""
    return ToyGenerator()
