"""Well-scaled random Inception-v3 weights in pytorch-fid's file format, for tests and benchmarks.

The real weights cannot be shipped or downloaded everywhere; parity with pytorch-fid and
torch-fidelity only needs *identical* weights on both sides, provided the activations stay O(1)
through the ~20 layers (otherwise features are all zero or huge and any comparison passes).
Recipe: kaiming-normal convolutions (fan-in, ReLU gain), random batch-norm affine parameters,
and running statistics calibrated on a batch of random images (one train-mode pass with
cumulative averaging), so every layer's pre-activation is approximately standard normal.
Never used by a metric: a metric always loads a real, hash-checked file.
"""

from __future__ import annotations

import os
from typing import Union

import torch

from .._core.results import atomic_write_bytes
from .inception_net import FIDInceptionV3


def random_inception_state_dict(seed: int = 0, calib_images: int = 6) -> dict[str, torch.Tensor]:
    """A state_dict with pytorch-fid's keys (1008-way ``fc`` included) and calibrated batch norms."""
    g = torch.Generator().manual_seed(seed)
    net = FIDInceptionV3()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * (torch.rand(m.weight.shape, generator=g) - 0.5))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.momentum = None  # cumulative average: after one batch, running stats = batch stats
        # Random images at several spatial frequencies (noise at 8..299 px upsampled), so inputs
        # from smooth to white-noise-like all stay in the calibrated range.
        sizes = [8, 19, 37, 75, 150, 299]
        x = torch.cat([torch.nn.functional.interpolate(
            torch.rand([1, 3, sizes[i % len(sizes)]] * 1 + [sizes[i % len(sizes)]], generator=g) * 2 - 1,
            size=(299, 299), mode="bilinear", align_corners=False) for i in range(calib_images)])
        net.train()(x)
    net.eval()
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    sd["fc.weight"] = torch.randn([1008, 2048], generator=g) * 0.01
    sd["fc.bias"] = torch.zeros(1008)
    return sd


def write_random_inception_weights(path: Union[str, os.PathLike], seed: int = 0) -> str:
    """Save :func:`random_inception_state_dict` to ``path`` atomically (torch.save); returns the path."""
    import io
    buf = io.BytesIO()
    torch.save(random_inception_state_dict(seed), buf)
    atomic_write_bytes(path, buf.getvalue())
    return str(path)
