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
