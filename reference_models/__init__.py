"""Reference generators, discriminator and attribute classifier of the StyleGAN paper.

Plain PyTorch re-implementations of NVlabs/stylegan's networks, built from JSON-serialisable
configs and saved as ``config.json`` + ``state_dict`` (no pickled code). Entry points:

- :func:`build_generator(preset, resolution=..., **overrides)` -- presets for every row of the
  paper's Tables 3 and 4 (``configs.preset_names()``);
- :func:`build_discriminator`, :func:`build_classifier`;
- :func:`save_checkpoint`, :func:`load_checkpoint`;
- :mod:`reference_models.convert` reads NVIDIA's TensorFlow pickles without TensorFlow.
"""

from .build import build_classifier, build_discriminator, build_generator
from .checkpoint import CheckpointError, load_checkpoint, network_record, save_checkpoint
from .classifier import AttributeClassifier
from .convert import ConversionError, convert_official
from .configs import ClassifierConfig, DiscriminatorConfig, GeneratorConfig, generator_config, preset_names
from .discriminator import Discriminator
from .stylegan import StyleGenerator

__all__ = [
    "build_generator", "build_discriminator", "build_classifier", "save_checkpoint", "load_checkpoint",
    "network_record", "CheckpointError", "StyleGenerator", "Discriminator", "AttributeClassifier",
    "GeneratorConfig", "DiscriminatorConfig", "ClassifierConfig", "generator_config", "preset_names",
    "convert_official", "ConversionError",
]
