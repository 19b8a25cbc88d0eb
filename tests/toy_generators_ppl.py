"""Tiny generators following the protocol, for the PPL tests and benchmark.

- :class:`LinearGenerator`: mapping w = M z (same w on every layer), image = reshape(B w) + noise * s.
  With a squared-L2 distance its W path length is |C B M (z1 - z0)|^2 exactly (C = the crop).
- :class:`ConvGenerator`: a small nonlinear conv net with per-layer noise buffers and reseed_noise.
- :class:`NoMappingGenerator`: a Z-only generator (has_mapping=False).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class LinearGenerator(torch.nn.Module):
    """img = reshape(B @ mean_l ws[:, l]) + noise_strength * noise; ws = M z broadcast to num_ws layers."""

    def __init__(self, z_dim: int = 8, w_dim: int = 6, resolution: int = 16, channels: int = 3, num_ws: int = 3,
                 noise_strength: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.z_dim, self.w_dim, self.num_ws = z_dim, w_dim, num_ws
        self.img_resolution, self.img_channels, self.c_dim = resolution, channels, 0
        self.has_mapping = True
        self.M = torch.nn.Parameter(torch.randn([w_dim, z_dim], generator=g) / z_dim ** 0.5)
        self.B = torch.nn.Parameter(torch.randn([channels * resolution * resolution, w_dim], generator=g) / w_dim ** 0.5)
        self.noise_strength = noise_strength
        self.register_buffer("noise_const", torch.randn([1, channels, resolution, resolution], generator=g))
        self.reseed_calls = 0

    def mapping(self, z, c=None, truncation_psi=1.0):
        return (z @ self.M.T).unsqueeze(1).repeat(1, self.num_ws, 1)

    def reseed_noise(self, generator: torch.Generator) -> None:
        self.reseed_calls += 1
        self.noise_const.copy_(torch.randn(self.noise_const.shape, generator=generator, device=generator.device))

    def synthesis(self, ws, noise_mode="random"):
        img = (ws.mean(dim=1) @ self.B.T).reshape(-1, self.img_channels, self.img_resolution, self.img_resolution)
        if noise_mode == "const":
            noise = self.noise_const
        elif noise_mode == "random":
            noise = torch.randn_like(img)
        else:
            noise = torch.zeros_like(img)
        return img + self.noise_strength * noise


class ConvGenerator(torch.nn.Module):
    """A small nonlinear StyleGAN-like generator: 8-layer-free MLP mapping, modulated convs, noise buffers."""

    def __init__(self, z_dim: int = 16, w_dim: int = 16, resolution: int = 32, channels: int = 3, width: int = 16,
                 seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.z_dim, self.w_dim, self.img_resolution, self.img_channels, self.c_dim = z_dim, w_dim, resolution, channels, 0
        self.has_mapping = True
        self.num_up = 0
        r = 4
        while r < resolution:
            r *= 2
            self.num_up += 1
        self.num_ws = self.num_up + 1
        self.map1 = torch.nn.Parameter(torch.randn([w_dim, z_dim], generator=g) / z_dim ** 0.5)
        self.map2 = torch.nn.Parameter(torch.randn([w_dim, w_dim], generator=g) / w_dim ** 0.5)
        self.const = torch.nn.Parameter(torch.randn([1, width, 4, 4], generator=g))
        self.styles = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.randn([width, w_dim], generator=g) / w_dim ** 0.5) for _ in range(self.num_ws)])
        self.convs = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.randn([width, width, 3, 3], generator=g) / (9 * width) ** 0.5) for _ in range(self.num_ws)])
        self.to_rgb = torch.nn.Parameter(torch.randn([channels, width, 1, 1], generator=g) / width ** 0.5)
        for i in range(self.num_ws):
            res = 4 * 2 ** i
            self.register_buffer(f"noise_const_{i}", torch.randn([1, 1, res, res], generator=g))
        self.noise_scale = 0.3

    def mapping(self, z, c=None, truncation_psi=1.0):
        z = z / z.square().mean(dim=1, keepdim=True).add(1e-8).sqrt()
        w = F.leaky_relu(z @ self.map1.T, 0.2)
        w = F.leaky_relu(w @ self.map2.T, 0.2)
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)

    def reseed_noise(self, generator: torch.Generator) -> None:
        for i in range(self.num_ws):
            buf = getattr(self, f"noise_const_{i}")
            buf.copy_(torch.randn(buf.shape, generator=generator, device=generator.device).to(buf))

    def synthesis(self, ws, noise_mode="random"):
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        for i in range(self.num_ws):
            if i > 0:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            s = (ws[:, i] @ self.styles[i].T + 1).unsqueeze(-1).unsqueeze(-1)
            x = F.conv2d(x * s, self.convs[i], padding=1)
            if noise_mode == "const":
                x = x + self.noise_scale * getattr(self, f"noise_const_{i}")
            elif noise_mode == "random":
                x = x + self.noise_scale * torch.randn_like(x[:, :1])
            x = F.leaky_relu(x, 0.2)
        return torch.tanh(F.conv2d(x, self.to_rgb))


class NoMappingGenerator(torch.nn.Module):
    """Z-only generator: image = tanh(reshape(A z)); has_mapping=False."""

    def __init__(self, z_dim: int = 8, resolution: int = 16, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.z_dim = self.w_dim = z_dim
        self.num_ws, self.img_resolution, self.img_channels, self.c_dim = 1, resolution, 3, 0
        self.has_mapping = False
        self.A = torch.nn.Parameter(torch.randn([3 * resolution * resolution, z_dim], generator=g) / z_dim ** 0.5)

    def mapping(self, z, c=None, truncation_psi=1.0):
        return z.unsqueeze(1)

    def synthesis(self, ws, noise_mode="random"):
        return torch.tanh(ws[:, 0] @ self.A.T).reshape(-1, 3, self.img_resolution, self.img_resolution)


def make_linear() -> LinearGenerator:
    """Factory for the CLI (``tests.toy_generators_ppl:make_linear``)."""
    return LinearGenerator()


def make_conv() -> ConvGenerator:
    """Factory for the CLI (``tests.toy_generators_ppl:make_conv``)."""
    return ConvGenerator()


def sql2_distance(device, dtype, weight_paths, allow_hash_mismatch):
    """Distance builder for ``--distance tests.toy_generators_ppl:sql2_distance``: squared L2 per pair."""
    from disentangle_metrics.metrics.distances import Distance
    return Distance(name="tests.toy_generators_ppl:sql2_distance",
                    fn=lambda a, b: (a - b).square().flatten(1).sum(1))
