"""The procedural test bed: attribute-labelled, face-like images rendered from (config, index).

``render(config, indices)`` gives uint8 images [N, 3, R, R]; ``sample_attributes(config, indices)``
their boolean labels [N, A] in :data:`ATTRIBUTES` order. Image ``i`` of a config is always the same,
whatever the batch it is rendered in. :class:`TestbedDataset` wraps both for a DataLoader.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .testbed_attributes import (
    empirical_marginals, expected_joint_probability, expected_phi, latent_correlation, sample_attributes,
)
from .testbed_config import ATTRIBUTES, Coupling, NuisanceRanges, TestbedConfig
from .testbed_render import FaceLayout, face_layout, render_attributes

__all__ = [
    "ATTRIBUTES", "Coupling", "NuisanceRanges", "TestbedConfig", "TestbedDataset", "FaceLayout",
    "sample_attributes", "render", "render_attributes", "render_batch", "face_layout", "latent_correlation",
    "expected_joint_probability", "expected_phi", "empirical_marginals",
]


def render(config: TestbedConfig, indices: Sequence[int] | np.ndarray,
           device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 images [N, 3, R, R] of images ``indices`` with their sampled attributes."""
    indices = np.asarray(indices, dtype=np.int64)
    return render_attributes(config, indices, sample_attributes(config, indices), device=device)


def render_batch(config: TestbedConfig, start: int, count: int,
                 device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``start .. start+count-1``: (uint8 [N, 3, R, R], float 0/1 attributes [N, A]) on ``device``."""
    if start < 0 or count < 0:
        raise ValueError(f"render_batch needs start >= 0 and count >= 0, got start={start}, count={count}")
    indices = np.arange(start, start + count, dtype=np.int64)
    attrs = sample_attributes(config, indices)
    images = render_attributes(config, indices, attrs, device=device)
    return images, torch.as_tensor(attrs, dtype=torch.float32, device=device)


class TestbedDataset(Dataset):
    """Images ``offset .. offset+num-1`` of the test bed as (uint8 CHW tensor, float 0/1 attribute vector).

    Rendering one image at a time is slow; for training prefer a DataLoader with a
    ``batch_sampler`` over contiguous ranges and :meth:`get_batch`, or :func:`render_batch`.
    """

    __test__ = False

    def __init__(self, config: TestbedConfig, num: int, offset: int = 0) -> None:
        if num < 0 or offset < 0:
            raise ValueError(f"TestbedDataset needs num >= 0 and offset >= 0, got num={num}, offset={offset}")
        self.config = config
        self.num = int(num)
        self.offset = int(offset)

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Column names of the attribute vectors."""
        return self.config.attribute_names

    def __len__(self) -> int:
        return self.num

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -self.num <= i < self.num:
            raise IndexError(f"TestbedDataset index {i} out of range for {self.num} images")
        i = i % self.num
        images, attrs = render_batch(self.config, self.offset + i, 1)
        return images[0], attrs[0]

    def get_batch(self, positions: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Rendered in one vectorised call: (uint8 [B, 3, R, R], float [B, A]) for dataset positions."""
        pos = np.asarray(positions, dtype=np.int64)
        if pos.size and (pos.min() < 0 or pos.max() >= self.num):
            raise IndexError(f"TestbedDataset positions must lie in [0, {self.num}), got {pos.min()}..{pos.max()}")
        idx = pos + self.offset
        attrs = sample_attributes(self.config, idx)
        return render_attributes(self.config, idx, attrs), torch.as_tensor(attrs, dtype=torch.float32)
