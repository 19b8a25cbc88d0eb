"""The one check of a feature matrix every statistic takes: floating point, [N, D]."""

from __future__ import annotations

from typing import Any

import torch


def as_feature_matrix(x: Any, what: str) -> torch.Tensor:
    """``x`` (array or tensor) as a tensor, or a ValueError naming ``what`` (e.g. "prdc: real features")."""
    t = torch.as_tensor(x)
    if t.ndim != 2 or not t.is_floating_point():
        raise ValueError(f"{what} must be a floating-point [N, D] array, got {t.dtype} of shape {tuple(t.shape)}")
    return t
