"""Device and numeric policy, in one place.

``device='auto'`` picks CUDA when present. Metrics run inside :func:`metric_precision`, which turns
TF32 off (matmul and cuDNN) and restores the previous settings after: TF32 keeps 10 mantissa bits,
so PPL's image differences at epsilon = 1e-4 would be dominated by rounding.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional, Union

import torch

DeviceLike = Union[str, torch.device, None]


def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """'auto' (or None) -> cuda when available else cpu; anything else -> torch.device(device)."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available; use device='auto' or 'cpu'")
    return dev


@contextlib.contextmanager
def metric_precision() -> Iterator[None]:
    """Disable TF32 for the duration of a metric and restore the previous flags."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
           torch.get_float32_matmul_precision())
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old[0], old[1]
        torch.set_float32_matmul_precision(old[2])


def default_batch_size(device: torch.device, cpu: int, cuda: int) -> int:
    """A batch size suited to the device."""
    return cuda if device.type == "cuda" else cpu


def describe(device: torch.device) -> str:
    """Human-readable device name for results files."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return "cpu"


def sync(device: Optional[torch.device]) -> None:
    """Wait for queued work on ``device`` (for timing)."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
