"""Tiny generators and attribute classifiers for the linear-separability tests (fast on CPU)."""

from __future__ import annotations

import torch


class ToyGenerator(torch.nn.Module):
    """A protocol generator: 8-d z -> 2-layer mapping -> w -> 3x16x16 images with optional noise.

    The image is a fixed linear function of w (so a linear classifier on pixels is linear in w)
    plus ``noise_strength`` times per-pixel noise drawn from the global RNG in 'random' mode.
    """

    def __init__(self, z_dim: int = 8, resolution: int = 16, noise_strength: float = 0.0, has_mapping: bool = True,
                 seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.z_dim = self.w_dim = z_dim
        self.num_ws = 4
        self.img_resolution = resolution
        self.img_channels = 3
        self.c_dim = 0
        self.has_mapping = has_mapping
        self.noise_strength = noise_strength
        self.register_buffer("m1", torch.randn(z_dim, z_dim, generator=g) / z_dim ** 0.5)
        self.register_buffer("m2", torch.randn(z_dim, z_dim, generator=g) / z_dim ** 0.5)
        self.register_buffer("to_img", torch.randn(z_dim, 3 * resolution * resolution, generator=g) / z_dim ** 0.5)
        self.register_buffer("const_noise", torch.randn(1, 3, resolution, resolution, generator=g))

    def mapping(self, z, c=None, truncation_psi=1.0):
        if self.has_mapping:
            h = torch.nn.functional.leaky_relu(z @ self.m1, 0.2)
            w = torch.nn.functional.leaky_relu(h @ self.m2, 0.2) * 2
        else:
            w = z
        return w[:, None, :].repeat(1, self.num_ws, 1)

    def synthesis(self, ws, noise_mode="random"):
        w = ws[:, -1]
        img = torch.tanh(0.3 * (w @ self.to_img)).reshape(-1, 3, self.img_resolution, self.img_resolution)
        if self.noise_strength and noise_mode != "none":
            noise = torch.randn_like(img) if noise_mode == "random" else self.const_noise.expand_as(img)
            img = img + self.noise_strength * noise
        return img


class PixelClassifier(torch.nn.Module):
    """Logits [N, A]: fixed random linear read-outs of the (downsampled) pixels."""

    def __init__(self, num_attributes: int = 3, resolution: int = 16, seed: int = 1, names=None) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("read", torch.randn(3 * resolution * resolution, num_attributes, generator=g) / 20)
        if names is not None:
            self.attribute_names = list(names)

    def forward(self, images):
        return images.flatten(1) @ self.read


def make_generator() -> ToyGenerator:
    """Factory for the CLI test (`tests._ls_toys:make_generator`)."""
    return ToyGenerator(noise_strength=0.1)


def make_classifier() -> PixelClassifier:
    """Factory for the CLI test (`tests._ls_toys:make_classifier`)."""
    return PixelClassifier(num_attributes=3, names=["smiling", "male", "young"])
