"""Shared fixtures for the FID tests: random well-scaled Inception weights in pytorch-fid's format."""

import pytest

from disentangle_metrics.features.random_weights import write_random_inception_weights


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory):
    """Path of a random, calibrated Inception-v3 state_dict saved with pytorch-fid's key layout."""
    return write_random_inception_weights(tmp_path_factory.mktemp("inception") / "random_inception.pth", seed=0)


def smooth_images(n, size, seed=0):
    """Random uint8 NCHW images with content at several scales (not white noise)."""
    import torch
    g = torch.Generator().manual_seed(seed)
    low = torch.rand([n, 3, max(2, size // 8), max(2, size // 8)], generator=g) * 255
    x = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    x = x + 40 * (torch.rand([n, 3, size, size], generator=g) - 0.5)
    return x.clamp(0, 255).to(torch.uint8)


# ---------------------------------------------------------------------------------------------
# A tiny protocol generator and a cheap registered extractor, so FID plumbing tests run in seconds.

import torch  # noqa: E402

from disentangle_metrics.features import FeatureExtractor, register_extractor  # noqa: E402


class ToyGenerator(torch.nn.Module):
    """z -> smooth random-ish images in [-1, 1]; ``noise_scale`` adds torch-global-RNG noise."""

    def __init__(self, resolution=16, z_dim=8, noise_scale=0.0, shift=0.0, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.z_dim = self.w_dim = z_dim
        self.num_ws, self.img_resolution, self.img_channels, self.c_dim = 2, resolution, 3, 0
        self.proj = torch.nn.Parameter(torch.randn(z_dim, 3 * 4 * 4, generator=g), requires_grad=False)
        self.noise_scale, self.shift = noise_scale, shift

    def mapping(self, z, c, truncation_psi=1):
        return z.unsqueeze(1).repeat(1, self.num_ws, 1)

    def synthesis(self, ws, noise_mode="random"):
        x = (ws[:, 0] @ self.proj).view(-1, 3, 4, 4)
        x = torch.nn.functional.interpolate(x, size=(self.img_resolution,) * 2, mode="bilinear", align_corners=False)
        if noise_mode == "random" and self.noise_scale:
            x = x + self.noise_scale * torch.randn(x.shape, device=x.device)
        return torch.tanh(0.5 * x + self.shift)


def make_toy_generator():
    """Factory for the CLI's package.module:factory form."""
    return ToyGenerator()


class PixelStats(FeatureExtractor):
    """Test extractor: 4x4 average-pooled colours and their squares (96-d)."""

    feature_dim = 96

    def features(self, images):
        x = torch.nn.functional.adaptive_avg_pool2d(images.float() / 255, 4).flatten(1)
        return torch.cat([x, x * x], 1)


@register_extractor("test-pixel-stats")
def build_pixel_stats(weights=None, device=None):
    return PixelStats()
