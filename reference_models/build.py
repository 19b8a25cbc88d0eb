"""Entry points that build the reference networks from presets and overrides."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

import torch

from .classifier import AttributeClassifier
from .configs import ClassifierConfig, DiscriminatorConfig, generator_config, make_config
from .discriminator import Discriminator
from .stylegan import StyleGenerator


@contextlib.contextmanager
def _init_context(seed: Optional[int], device: Optional[torch.device | str]) -> Iterator[None]:
    """Seed the weight initialisation without touching the caller's RNG state; build on ``device``."""
    with contextlib.ExitStack() as stack:
        if seed is not None:
            stack.enter_context(torch.random.fork_rng(devices=[]))
            torch.manual_seed(seed)
        if device is not None:
            stack.enter_context(torch.device(device))
        yield


def build_generator(preset: str = "f-mixing90", resolution: int = 1024, seed: Optional[int] = None,
                    device: Optional[torch.device | str] = None, **overrides: Any) -> StyleGenerator:
    """A freshly initialised generator of a named preset (see :mod:`reference_models.configs`).

    ``overrides`` are :class:`~reference_models.configs.GeneratorConfig` fields, e.g.
    ``fmap_base=1024, fmap_max=64, latent_size=64`` for a small CPU-sized network. ``seed`` makes
    the initialisation reproducible; ``device='meta'`` builds without allocating memory.
    """
    cfg = generator_config(preset, resolution=resolution, **overrides)
    with _init_context(seed, device):
        return StyleGenerator(cfg)


def build_discriminator(resolution: int = 1024, seed: Optional[int] = None,
                        device: Optional[torch.device | str] = None, **overrides: Any) -> Discriminator:
    """A freshly initialised official discriminator (fields of :class:`DiscriminatorConfig`)."""
    cfg = make_config(DiscriminatorConfig, dict(overrides, resolution=resolution))
    with _init_context(seed, device):
        return Discriminator(cfg)


def build_classifier(num_attributes: int = 1, resolution: int = 256, seed: Optional[int] = None,
                     device: Optional[torch.device | str] = None, **overrides: Any) -> AttributeClassifier:
    """A freshly initialised attribute classifier with ``num_attributes`` logits."""
    cfg = make_config(ClassifierConfig, dict(overrides, resolution=resolution, num_attributes=num_attributes))
    with _init_context(seed, device):
        return AttributeClassifier(cfg)
