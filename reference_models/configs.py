"""Configurations of the reference networks and named presets for every row of Tables 3 and 4.

A configuration is a dataclass whose fields are the keyword arguments of the official build
functions (``G_style``/``G_mapping``/``G_synthesis``, ``D_basic``), with the official defaults.
Configurations are saved as JSON beside a ``state_dict`` (see :mod:`reference_models.checkpoint`).

Presets (the generator rows of the paper, FFHQ 1024x1024 unless overridden):

================== ======== ====== ======== ===== ======== ============================
preset             styles   input  noise    mixing mapping note
================== ======== ====== ======== ===== ======== ============================
b-traditional      off      dense  off      0      0       = traditional-0 (config B)
traditional-map8   off      dense  off      0      8       Table 4 "traditional 8"
d-style            on       const  off      0      8       config D
e-noise            on       const  on       0      8       config E
mixing50           on       const  on       0.5    8       Table 3 "+ mixing 50%"
f-mixing90         on       const  on       0.9    8       config F = style-map8
style-map0/1/2     on       const  on       0.9    0/1/2   Table 4 style-based rows
================== ======== ====== ======== ===== ======== ============================

The traditional presets also switch pixel norm on and instance norm off (ProGAN-style layers).

Scaling for small, fast runs: ``resolution``, ``fmap_base``, ``fmap_max`` and ``latent_size``.
``latent_size`` sets the dimension of Z, of W and of the mapping layers together (z_dim = w_dim =
mapping width, as in the paper where all are 512); give ``dlatent_size`` or ``mapping_fmaps``
explicitly to decouple them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Union

FusedScale = Union[bool, str]
BlurFilter = Optional[Union[list[float], list[list[float]]]]  # 1-D taps (outer product) or a 2-D kernel


@dataclass
class GeneratorConfig:
    """Style-based (or traditional) generator; the fields of the official G_style family."""

    resolution: int = 1024
    num_channels: int = 3
    label_size: int = 0
    # mapping network (G_mapping)
    latent_size: int = 512
    dlatent_size: int = 512
    mapping_layers: int = 8
    mapping_fmaps: int = 512
    mapping_lrmul: float = 0.01
    normalize_latents: bool = True
    # synthesis network (G_synthesis)
    fmap_base: int = 8192
    fmap_decay: float = 1.0
    fmap_max: int = 512
    use_styles: bool = True
    const_input_layer: bool = True
    use_noise: bool = True
    use_pixel_norm: bool = False
    use_instance_norm: bool = True
    fused_scale: FusedScale = "auto"
    blur_filter: BlurFilter = field(default_factory=lambda: [1.0, 2.0, 1.0])
    # training-time behaviour of G_style
    dlatent_avg_beta: Optional[float] = 0.995
    style_mixing_prob: Optional[float] = 0.9
    # G_style's truncation defaults (official semantics: None turns it off), read only by the
    # official-style entry points StyleGenerator.mapping_official / run_official. The project's
    # mapping(), forward() and every metric default to no truncation (psi 1) and ignore these.
    truncation_psi: Optional[float] = 0.7
    truncation_cutoff: Optional[int] = 8

    def __post_init__(self) -> None:
        _check_resolution(self.resolution)
        if self.mapping_layers < 0:
            raise ValueError(f"mapping_layers must be >= 0, got {self.mapping_layers}")
        if self.mapping_layers == 0 and self.dlatent_size != self.latent_size + self.label_size:
            raise ValueError("with mapping_layers=0, W is the normalised Z: dlatent_size must equal "
                             f"latent_size + label_size ({self.latent_size + self.label_size}), got {self.dlatent_size}")
        self.blur_filter = _blur_taps(self.blur_filter)


@dataclass
class DiscriminatorConfig:
    """Discriminator of the official code (D_basic). ProGAN's D_paper is ``blur_filter=None`` with
    ``downscale_after_act=True``: its unfused block (``fused_scale=False``) runs Conv1 -> bias ->
    leaky ReLU -> 2x2 average, where D_basic averages before bias and activation (the fused
    stride-2 form is the same in both). ``num_outputs`` 0 means max(label_size, 1) scores, as official."""

    resolution: int = 1024
    num_channels: int = 3
    label_size: int = 0
    fmap_base: int = 8192
    fmap_decay: float = 1.0
    fmap_max: int = 512
    mbstd_group_size: int = 4
    mbstd_num_features: int = 1
    fused_scale: FusedScale = "auto"
    blur_filter: BlurFilter = field(default_factory=lambda: [1.0, 2.0, 1.0])
    num_outputs: int = 0
    downscale_after_act: bool = False

    def __post_init__(self) -> None:
        _check_resolution(self.resolution)
        self.blur_filter = _blur_taps(self.blur_filter)


@dataclass
class ClassifierConfig(DiscriminatorConfig):
    """Attribute classifier: the discriminator architecture with ``num_attributes`` logits.

    No training code for NVIDIA's CelebA-HQ classifiers was released; this is the reconstruction
    the facts file describes (D architecture, 256x256). The minibatch-stddev layer is off by
    default because it would make one image's logits depend on the other images of the batch.
    """

    resolution: int = 256
    mbstd_group_size: int = 0
    num_attributes: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.label_size:
            raise ValueError("a classifier takes no labels (label_size must be 0)")
        self.num_outputs = self.num_attributes


def _blur_taps(taps: Any) -> BlurFilter:
    """A blur filter as JSON-ready floats: None, a 1-D list of taps or a 2-D list of rows (official blur2d)."""
    if taps is None:
        return None
    if any(isinstance(t, (list, tuple)) for t in taps):
        return [[float(v) for v in row] for row in taps]
    return [float(v) for v in taps]


def _check_resolution(res: int) -> None:
    if res < 4 or res & (res - 1):
        raise ValueError(f"resolution must be a power of two >= 4, got {res}")


_STYLE = dict(use_styles=True, const_input_layer=True, use_pixel_norm=False, use_instance_norm=True)
_TRAD = dict(use_styles=False, const_input_layer=False, use_noise=False, use_pixel_norm=True,
             use_instance_norm=False, style_mixing_prob=None)

GENERATOR_PRESETS: dict[str, dict[str, Any]] = {
    "b-traditional": dict(_TRAD, mapping_layers=0),
    "traditional-map8": dict(_TRAD, mapping_layers=8),
    "d-style": dict(_STYLE, use_noise=False, style_mixing_prob=None, mapping_layers=8),
    "e-noise": dict(_STYLE, use_noise=True, style_mixing_prob=None, mapping_layers=8),
    "mixing50": dict(_STYLE, use_noise=True, style_mixing_prob=0.5, mapping_layers=8),
    "f-mixing90": dict(_STYLE, use_noise=True, style_mixing_prob=0.9, mapping_layers=8),
    "style-map0": dict(_STYLE, use_noise=True, style_mixing_prob=0.9, mapping_layers=0),
    "style-map1": dict(_STYLE, use_noise=True, style_mixing_prob=0.9, mapping_layers=1),
    "style-map2": dict(_STYLE, use_noise=True, style_mixing_prob=0.9, mapping_layers=2),
}
PRESET_ALIASES = {"traditional-0": "b-traditional", "style-map8": "f-mixing90",
                  "traditional-8": "traditional-map8"}


def preset_names() -> list[str]:
    """Every accepted preset name, aliases included."""
    return sorted(GENERATOR_PRESETS) + sorted(PRESET_ALIASES)


def generator_config(preset: str = "f-mixing90", **overrides: Any) -> GeneratorConfig:
    """The :class:`GeneratorConfig` of a named preset with ``overrides`` applied.

    ``latent_size`` (when given) also sets ``dlatent_size`` and ``mapping_fmaps`` unless those are
    given too.
    """
    name = PRESET_ALIASES.get(preset, preset)
    if name not in GENERATOR_PRESETS:
        raise KeyError(f"unknown generator preset {preset!r}; choose one of {', '.join(preset_names())}")
    kw = dict(GENERATOR_PRESETS[name])
    kw.update(overrides)
    latent = kw.get("latent_size", 512)
    if "dlatent_size" not in overrides and ("latent_size" in overrides or kw.get("mapping_layers", 8) == 0):
        # With no mapping layers W is the normalised (Z, label) vector, so its size follows.
        kw["dlatent_size"] = latent + (kw.get("label_size", 0) if kw.get("mapping_layers", 8) == 0 else 0)
    if "latent_size" in overrides and "mapping_fmaps" not in overrides:
        kw["mapping_fmaps"] = latent
    return make_config(GeneratorConfig, kw)


def make_config(cls: type, values: dict[str, Any]) -> Any:
    """Instantiate config dataclass ``cls`` from ``values``, naming any unknown field."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {', '.join(unknown)}; known fields: {', '.join(sorted(names))}")
    return cls(**values)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass."""
    return dataclasses.asdict(cfg)
