"""Feature-extractor registry: a name -> builder map that other modules extend.

An extractor is a :class:`FeatureExtractor` (a ``torch.nn.Module``) mapping uint8 NCHW images of
any size to float32 features ``[N, feature_dim]``; it resizes and normalises by itself.

Builders register with :func:`register_extractor`. Built-in builders live in modules named in
:data:`KNOWN_MODULES`; :func:`build_extractor` imports them on lookup, so adding an extractor
needs only a decorated builder in one of those modules (or any module imported before the lookup),
never an edit here beyond one line in :data:`KNOWN_MODULES`.
"""

from __future__ import annotations

import importlib
import os
from typing import Callable, Optional, Union

import torch

from .._core.device import DeviceLike, resolve_device

# Modules imported on lookup; each registers its builders when imported.
KNOWN_MODULES: tuple[str, ...] = (
    "disentangle_metrics.features.inception",
    "disentangle_metrics.features.testbed",
    "disentangle_metrics.features.vgg16",
    "disentangle_metrics.features.inception_logits",
    "disentangle_metrics.features.dinov2",
    "disentangle_metrics.features.clip",
)

DEFAULT_EXTRACTOR = "inception-v3-tf"


class FeatureExtractor(torch.nn.Module):
    """Base class: uint8 images [N, C, H, W] (any H, W) -> float32 features [N, feature_dim].

    Subclasses set ``feature_dim``, ``input_channels`` and ``weights_sha256`` (sha256 of the
    weights file they were loaded from, or None) and implement :meth:`features` on a validated
    uint8 batch already on the extractor's device.
    """

    feature_dim: int = 0
    input_channels: int = 3
    input_description: str = "uint8 NCHW, any size"
    weights_name: Optional[str] = None
    weights_sha256: Optional[str] = None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Check ``images`` and return ``features(images)`` as float32 [N, feature_dim]."""
        check_uint8_images(images, self.input_channels, type(self).__name__)
        return self.features(images)

    def features(self, images: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def check_uint8_images(images: torch.Tensor, channels: int, who: str) -> None:
    """Raise a ValueError naming the problem when ``images`` is not uint8 [N, channels, H, W]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{who} expects a torch.Tensor of uint8 images, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise ValueError(
            f"{who} expects uint8 images in [0, 255] (NCHW), got dtype {images.dtype}. Convert generator "
            "output in [-1, 1] with disentangle_metrics.generators.sources.to_uint8 (x * 127.5 + 128, clamp, truncate).")
    if images.ndim != 4 or images.shape[1] != channels:
        raise ValueError(f"{who} expects images of shape [N, {channels}, H, W] (NCHW), got {tuple(images.shape)}"
                         + (" (looks like NHWC: permute(0, 3, 1, 2))" if images.ndim == 4 and
                            images.shape[-1] == channels else ""))


Builder = Callable[..., FeatureExtractor]
EXTRACTORS: dict[str, Builder] = {}


def register_extractor(name: str) -> Callable[[Builder], Builder]:
    """Decorator: register ``builder(weights=None, device=None, **kwargs) -> FeatureExtractor``."""
    def wrap(fn: Builder) -> Builder:
        if name in EXTRACTORS and EXTRACTORS[name] is not fn:
            raise ValueError(f"feature extractor {name!r} is registered twice")
        EXTRACTORS[name] = fn
        return fn
    return wrap


def _load_known_modules() -> None:
    for mod in KNOWN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:  # a missing dependency inside the module is a real error
                raise


def list_extractors() -> list[str]:
    """Names of all registered extractors (known modules included)."""
    _load_known_modules()
    return sorted(EXTRACTORS)


def build_extractor(name: str = DEFAULT_EXTRACTOR, weights: Union[str, os.PathLike, None] = None,
                    device: DeviceLike = None, **kwargs) -> FeatureExtractor:
    """Build the extractor ``name`` on ``device`` (None/'auto': CUDA when present), in eval mode.

    ``weights`` is an explicit weights file; without it the builder resolves its registered
    weights (:func:`disentangle_metrics._core.weights.resolve`).
    """
    if name not in EXTRACTORS:
        _load_known_modules()
    try:
        builder = EXTRACTORS[name]
    except KeyError:
        raise KeyError(f"unknown feature extractor {name!r}; known: {', '.join(sorted(EXTRACTORS)) or '(none)'}") from None
    ext = builder(weights=weights, device=resolve_device(device), **kwargs)
    ext.registry_name = name
    return ext.eval().requires_grad_(False)
