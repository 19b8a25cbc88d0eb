"""Convert NVIDIA's StyleGAN (v1) TensorFlow pickles into reference checkpoints, without TensorFlow
and without running their code.

The official files (``karras2019stylegan-ffhq-1024x1024.pkl`` = the tuple (G, D, Gs); each
``celebahq-classifier-NN-*.pkl`` = one network) pickle ``dnnlib.tflib.network.Network`` objects;
:mod:`reference_models.official_pickle` reads them into inert :class:`OfficialNetwork` stubs (and
names the files that are something else). This module maps their variables onto the reference
networks.

Variable naming (as ``Network.vars``): own variables by local name (Gs: ``lod``, ``dlatent_avg``),
sub-network variables prefixed with the component's name, e.g. ``G_mapping/Dense0/weight``,
``G_synthesis/4x4/Const/const``, ``G_synthesis/8x8/Conv0_up/StyleMod/weight``,
``G_synthesis/ToRGB_lod0/bias``, ``G_synthesis/noise0``. TensorFlow dense kernels are [in, out]
and conv kernels [kh, kw, in, out]; they are transposed to PyTorch's [out, in] / [out, in, kh, kw].
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from torch import nn

from .checkpoint import save_checkpoint
from .classifier import AttributeClassifier
from .configs import ClassifierConfig, DiscriminatorConfig, GeneratorConfig
from .discriminator import Discriminator
from .layers import fmaps
from .official_pickle import (ConversionError, OfficialNetwork, RestrictedUnpickler, check_stylegan_v1,  # noqa: F401
                              read_official_pickle)
from .stylegan import StyleGenerator


# --------------------------------------------------------------------------------------------
# Variable placement


Transform = Callable[[np.ndarray], np.ndarray]
_DENSE: Transform = lambda a: a.T  # noqa: E731  [in, out] -> [out, in]
_CONV: Transform = lambda a: a.transpose(3, 2, 0, 1)  # noqa: E731  [kh, kw, in, out] -> [out, in, kh, kw]
_COPY: Transform = lambda a: a  # noqa: E731


def _fill(model: nn.Module, variables: dict[str, np.ndarray], placement: dict[str, tuple[str, Transform]],
          ignore: set[str], what: str) -> nn.Module:
    """Copy every official variable to its place; refuse leftovers on either side."""
    unplaced = sorted(set(variables) - set(placement) - ignore)
    if unplaced:
        raise ConversionError(f"{what}: official variables with no place in the reference network: "
                              f"{', '.join(unplaced[:8])}{' ...' if len(unplaced) > 8 else ''} "
                              "(an architecture this converter does not support)")
    state = model.state_dict()
    targets = {dst for dst, _ in placement.values()}
    left = sorted(set(state) - targets)
    if left:
        raise ConversionError(f"{what}: reference tensors without an official variable: {', '.join(left[:8])}")
    missing = sorted(set(placement) - set(variables))
    if missing:
        raise ConversionError(f"{what}: the pickle lacks official variables {', '.join(missing[:8])}")
    new_state = {}
    for src, (dst, fn) in placement.items():
        arr = np.array(fn(np.asarray(variables[src], dtype=np.float32)), order="C")  # keeps 0-d arrays 0-d
        if tuple(arr.shape) != tuple(state[dst].shape):
            raise ConversionError(f"{what}: {src} has shape {variables[src].shape}, which does not fit {dst} "
                                  f"{tuple(state[dst].shape)} after transposition")
        new_state[dst] = torch.from_numpy(arr)
    model.load_state_dict(new_state, strict=True)
    return model.eval()


def _scope(prefix: str, layer: int, cfg: GeneratorConfig) -> str:
    if layer == 0:
        return f"{prefix}4x4/{'Const' if cfg.const_input_layer else 'Dense'}"
    if layer == 1:
        return f"{prefix}4x4/Conv"
    r = 2 ** (layer // 2 + 2)
    return f"{prefix}{r}x{r}/{'Conv0_up' if layer % 2 == 0 else 'Conv1'}"


def generator_placement(cfg: GeneratorConfig, mapping: str = "G_mapping", synthesis: str = "G_synthesis",
                        top: str = "") -> dict[str, tuple[str, Transform]]:
    """Official variable name -> (state_dict key, transform) for a generator of config ``cfg``."""
    place: dict[str, tuple[str, Transform]] = {f"{top}dlatent_avg": ("mapping.w_avg", _COPY)}
    mp, sp = f"{mapping}/", f"{synthesis}/"
    if cfg.label_size:
        place[f"{mp}LabelConcat/weight"] = ("mapping.label_embed", _COPY)
    for i in range(cfg.mapping_layers):
        place[f"{mp}Dense{i}/weight"] = (f"mapping.dense.{i}.weight", _DENSE)
        place[f"{mp}Dense{i}/bias"] = (f"mapping.dense.{i}.bias", _COPY)
    L = int(math.log2(cfg.resolution))
    num_layers = 2 * L - 2
    # G_style assigns its own lod to the synthesis network's before every run, so the top-level
    # variable is the one that takes effect; G_synthesis/lod is ignored (see convert_generator).
    place[f"{top}lod"] = ("synthesis.lod", _COPY)
    if cfg.const_input_layer:
        place[f"{sp}4x4/Const/const"] = ("synthesis.const", _COPY)
    else:
        place[f"{sp}4x4/Dense/weight"] = ("synthesis.dense_input.weight", _DENSE)
    for i in range(num_layers):
        s = _scope(sp, i, cfg)
        if i > 0:
            place[f"{s}/weight"] = (f"synthesis.convs.{i - 1}.weight", _CONV)
        place[f"{s}/bias"] = (f"synthesis.epilogues.{i}.bias", _COPY)
        if cfg.use_noise:
            place[f"{s}/Noise/weight"] = (f"synthesis.epilogues.{i}.noise.weight", _COPY)
            place[f"{sp}noise{i}"] = (f"synthesis.noise{i}", _COPY)
        if cfg.use_styles:
            place[f"{s}/StyleMod/weight"] = (f"synthesis.epilogues.{i}.style.affine.weight", _DENSE)
            place[f"{s}/StyleMod/bias"] = (f"synthesis.epilogues.{i}.style.affine.bias", _COPY)
    for res in range(2, L + 1):
        k = L - res
        place[f"{sp}ToRGB_lod{k}/weight"] = (f"synthesis.torgb.{res - 2}.weight", _CONV)
        place[f"{sp}ToRGB_lod{k}/bias"] = (f"synthesis.torgb.{res - 2}.bias", _COPY)
    return place


def discriminator_placement(cfg: DiscriminatorConfig, down_names: dict[int, str]) -> dict[str, tuple[str, Transform]]:
    """Official variable name -> (state_dict key, transform) for a discriminator/classifier.
    ``down_names[res]`` is the scope of the down-sampling conv ('Conv1_down' or ProGAN's 'Conv1')."""
    L = int(math.log2(cfg.resolution))
    place: dict[str, tuple[str, Transform]] = {"lod": ("lod", _COPY)}
    for k in range(L - 1):
        place[f"FromRGB_lod{k}/weight"] = (f"fromrgb.{k}.weight", _CONV)
        place[f"FromRGB_lod{k}/bias"] = (f"fromrgb.{k}.bias", _COPY)
    for res in range(L, 2, -1):
        r, i = 2 ** res, L - res
        for tf_name, ours in (("Conv0", "conv0"), (down_names.get(res, "Conv1_down"), "conv1")):
            place[f"{r}x{r}/{tf_name}/weight"] = (f"blocks.{i}.{ours}.weight", _CONV)
            place[f"{r}x{r}/{tf_name}/bias"] = (f"blocks.{i}.{ours}.bias", _COPY)
    for tf_name, ours, fn in (("Conv", "conv4", _CONV), ("Dense0", "dense0", _DENSE), ("Dense1", "dense1", _DENSE)):
        place[f"4x4/{tf_name}/weight"] = (f"{ours}.weight", fn)
        place[f"4x4/{tf_name}/bias"] = (f"{ours}.bias", _COPY)
    return place


# --------------------------------------------------------------------------------------------
# Configs from the pickled kwargs and variable shapes

_UNSUPPORTED = {"nonlinearity": "lrelu", "mapping_nonlinearity": "lrelu", "use_wscale": True}


def _refuse_unsupported(kwargs: dict, what: str) -> None:
    for key, ok in _UNSUPPORTED.items():
        if key in kwargs and kwargs[key] != ok:
            raise ConversionError(f"{what}: {key}={kwargs[key]!r} is not supported by the reference networks "
                                  f"(only {ok!r})")


def _fmap_kwargs(kw: dict) -> dict:
    return dict(fmap_base=int(kw.get("fmap_base", 8192)), fmap_decay=float(kw.get("fmap_decay", 1.0)),
                fmap_max=int(kw.get("fmap_max", 512)))


def _component(net: OfficialNetwork, func: str) -> Optional[OfficialNetwork]:
    for comp in net.components.values():
        if isinstance(comp, OfficialNetwork) and comp.build_func_name == func:
            return comp
    return None


def _optional(value: Any, kind: type) -> Any:
    return None if value is None else kind(value)


def generator_config_from_official(net: OfficialNetwork) -> GeneratorConfig:
    """The :class:`GeneratorConfig` of an official G_style network (from its kwargs and variable shapes)."""
    mapping, synthesis = _component(net, "G_mapping"), _component(net, "G_synthesis")
    if net.build_func_name != "G_style" or mapping is None or synthesis is None:
        raise ConversionError(f"{net!r} is not a G_style network with G_mapping and G_synthesis components")
    kw = {**net.static_kwargs, **mapping.static_kwargs, **synthesis.static_kwargs}
    _refuse_unsupported(kw, net.name)
    mv, sv = mapping.own_variables(), synthesis.own_variables()
    depth = sum(1 for k in mv if re.fullmatch(r"Dense\d+/weight", k))
    label = mv["LabelConcat/weight"].shape[0] if "LabelConcat/weight" in mv else int(kw.get("label_size", 0))
    rgb = sv.get("ToRGB_lod0/weight")
    if rgb is None:
        raise ConversionError(f"{synthesis!r} has no ToRGB_lod0/weight")
    res = 4
    while f"{res * 2}x{res * 2}/Conv1/weight" in sv:
        res *= 2
    styles = any(k.endswith("StyleMod/weight") for k in sv)
    if styles:
        dlatent = sv["4x4/Conv/StyleMod/weight"].shape[0]
    elif "4x4/Dense/weight" in sv:
        dlatent = sv["4x4/Dense/weight"].shape[0]
    else:
        dlatent = int(kw.get("dlatent_size", 512))
    if "LabelConcat/weight" in mv:
        latent = mv["LabelConcat/weight"].shape[1]
    elif depth:
        latent = mv["Dense0/weight"].shape[0] - label
    else:
        latent = dlatent - label
    cfg = GeneratorConfig(
        resolution=res, num_channels=int(rgb.shape[3]), label_size=label, latent_size=latent,
        dlatent_size=dlatent, mapping_layers=depth,
        mapping_fmaps=int(mv["Dense0/weight"].shape[1]) if depth > 1 else int(kw.get("mapping_fmaps", 512)),
        mapping_lrmul=float(kw.get("mapping_lrmul", 0.01)), normalize_latents=bool(kw.get("normalize_latents", True)),
        **_fmap_kwargs(kw), use_styles=styles, const_input_layer="4x4/Const/const" in sv,
        use_noise="noise0" in sv, use_pixel_norm=bool(kw.get("use_pixel_norm", False)),
        use_instance_norm=bool(kw.get("use_instance_norm", True)), fused_scale=kw.get("fused_scale", "auto"),
        blur_filter=kw.get("blur_filter", [1, 2, 1]),
        dlatent_avg_beta=kw.get("dlatent_avg_beta", 0.995), style_mixing_prob=kw.get("style_mixing_prob", 0.9),
        # G_style's own arguments: only the top-level network's static kwargs can set them.
        truncation_psi=_optional(net.static_kwargs.get("truncation_psi", 0.7), float),
        truncation_cutoff=_optional(net.static_kwargs.get("truncation_cutoff", 8), int))
    nf = lambda s: fmaps(s, cfg.fmap_base, cfg.fmap_decay, cfg.fmap_max)  # noqa: E731
    for r in range(2, int(math.log2(res)) + 1):
        w = sv.get(f"ToRGB_lod{int(math.log2(res)) - r}/weight")
        if w is None or w.shape[2] != nf(r - 1):
            raise ConversionError(f"{net.name}: channel widths do not follow fmap_base={cfg.fmap_base}, "
                                  f"fmap_max={cfg.fmap_max}, fmap_decay={cfg.fmap_decay} at {2 ** r}x{2 ** r}")
    return cfg


def convert_generator(net: OfficialNetwork) -> StyleGenerator:
    """A :class:`StyleGenerator` holding the weights of an official G_style network (G or Gs)."""
    cfg = generator_config_from_official(net)
    mapping, synthesis = _component(net, "G_mapping"), _component(net, "G_synthesis")
    place = generator_placement(cfg, mapping.name, synthesis.name)
    # The official G_style graph overwrites G_synthesis/lod with its own 'lod' before synthesising,
    # so the top-level value is what Gs.run uses. (Only official code that runs the synthesis
    # component alone, e.g. the v1 PPL metric, reads G_synthesis/lod; in a finished network both are 0.)
    return _fill(StyleGenerator(cfg), net.variables(), place, {f"{synthesis.name}/lod"}, net.name)


def _discriminator_kwargs(net: OfficialNetwork) -> tuple[dict, dict[int, str]]:
    if net.build_func_name not in ("D_basic", "D_paper"):
        raise ConversionError(f"{net!r}: expected a D_basic (StyleGAN) or D_paper (ProGAN) network")
    kw = net.static_kwargs
    _refuse_unsupported(kw, net.name)
    v = net.own_variables()
    if "FromRGB_lod0/weight" not in v or "4x4/Dense1/weight" not in v:
        raise ConversionError(f"{net!r} lacks FromRGB_lod0/weight or 4x4/Dense1/weight")
    res = 4
    while f"{res * 2}x{res * 2}/Conv0/weight" in v:
        res *= 2
    fk = _fmap_kwargs(kw)
    extra = v["4x4/Conv/weight"].shape[2] - fmaps(1, **fk)
    progan = net.build_func_name == "D_paper"
    down = {r: ("Conv1" if f"{2 ** r}x{2 ** r}/Conv1/weight" in v else "Conv1_down") for r in range(3, int(math.log2(res)) + 1)}
    if progan:
        # D_paper's fused_scale is one bool: every block is 'Conv1_down' (fused) or 'Conv1' (conv,
        # bias, leaky ReLU, then the 2x2 average).
        if len(set(down.values())) > 1:
            raise ConversionError(f"{net!r}: D_paper blocks mix 'Conv1' and 'Conv1_down' scopes, which the official "
                                  "D_paper never builds (fused_scale applies to every block)")
        fused: Any = all(n == "Conv1_down" for n in down.values())
        blur = None
    else:
        fused, blur = kw.get("fused_scale", "auto"), kw.get("blur_filter", [1, 2, 1])
    cfg = dict(resolution=res, num_channels=int(v["FromRGB_lod0/weight"].shape[2]), **fk,
               mbstd_group_size=int(kw.get("mbstd_group_size", 4)) if extra > 0 else 0,
               mbstd_num_features=max(int(extra), 1), fused_scale=fused, blur_filter=blur,
               downscale_after_act=progan)
    return cfg, down


def convert_discriminator(net: OfficialNetwork) -> Discriminator:
    """A :class:`Discriminator` holding the weights of an official D_basic / D_paper network."""
    kw, down = _discriminator_kwargs(net)
    # D_paper has one score and no label projection whatever label_size it was given.
    label = 0 if net.build_func_name == "D_paper" else int(net.static_kwargs.get("label_size", 0))
    outputs = int(net.own_variables()["4x4/Dense1/weight"].shape[1])
    cfg = DiscriminatorConfig(**kw, label_size=label, num_outputs=0 if outputs == max(label, 1) else outputs)
    return _fill(Discriminator(cfg), net.own_variables(), discriminator_placement(cfg, down), set(), net.name)


def convert_classifier(net: OfficialNetwork) -> AttributeClassifier:
    """An :class:`AttributeClassifier` from an official classifier network (a D with one logit per attribute)."""
    kw, down = _discriminator_kwargs(net)
    outputs = int(net.own_variables()["4x4/Dense1/weight"].shape[1])
    cfg = ClassifierConfig(**kw, num_attributes=outputs)
    return _fill(AttributeClassifier(cfg), net.own_variables(), discriminator_placement(cfg, down), set(), net.name)


def convert_official(pkl: str | os.PathLike, out: str | os.PathLike) -> dict[str, Path]:
    """Convert an official pickle into checkpoint folders under ``out``; returns {role: folder}.

    - (G, D, Gs) tuple: ``out/Gs`` (the averaged generator to evaluate), ``out/G``, ``out/D``;
    - a single generator network: ``out``; a single D-architecture network (the CelebA-HQ
      attribute classifiers): a classifier checkpoint at ``out``.
    """
    obj = read_official_pickle(pkl)
    out = Path(out)
    for net in obj if isinstance(obj, tuple) else (obj,):
        if isinstance(net, OfficialNetwork):
            try:
                check_stylegan_v1(net, pkl)
            except ConversionError as exc:
                raise ConversionError(f"{pkl}: {exc}") from None
    if isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(n, OfficialNetwork) for n in obj):
        G, D, Gs = obj
        return {"Gs": save_checkpoint(convert_generator(Gs), out / "Gs"),
                "G": save_checkpoint(convert_generator(G), out / "G"),
                "D": save_checkpoint(convert_discriminator(D), out / "D")}
    if isinstance(obj, OfficialNetwork):
        if obj.build_func_name == "G_style":
            return {"generator": save_checkpoint(convert_generator(obj), out)}
        return {"classifier": save_checkpoint(convert_classifier(obj), out)}
    raise ConversionError(f"{pkl}: expected a (G, D, Gs) tuple or one dnnlib Network, found {type(obj).__name__}")
