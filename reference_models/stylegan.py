"""The style-based generator of the StyleGAN paper (G_style), and the traditional baseline.

The traditional generator (config B, rows "traditional 0/8" of Table 4) is the same network with
``use_styles=False``, a dense input instead of the learned constant, no noise, pixel norm on and
instance norm off (see :mod:`reference_models.configs`). It still returns ``num_ws`` copies of the
mapped latent from :meth:`StyleGenerator.mapping` so that it follows the generator protocol, but
its synthesis reads only the first one (the official traditional synthesis takes a single
dlatent).

Randomness: ``noise_mode='random'`` and style mixing draw from torch's global RNG unless an
explicit ``torch.Generator`` is passed (``rng=``), so a caller can seed them.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
from torch import nn

from .configs import GeneratorConfig
from .layers import (SQRT2, EqualConv2d, EqualLinear, NoiseInjection, StyleMod, fmaps, instance_norm,
                     leaky_relu, lerp, optional_blur, pixel_norm, split_lod, upscale2d, use_fused)
from .mapping import MappingNetwork, official_truncation

NOISE_MODES = ("random", "const", "none")


class _ConfigDefault:
    """Marker of an official-style argument left out: the value comes from the config (as G_style's
    static kwargs), since None is itself a meaningful official value."""

    def __repr__(self) -> str:
        return "<from cfg>"


FROM_CONFIG: Any = _ConfigDefault()


class LayerEpilogue(nn.Module):
    """What follows every synthesis convolution: noise -> bias -> leaky ReLU -> pixel norm ->
    instance norm -> style modulation (each as enabled in the config)."""

    def __init__(self, cfg: GeneratorConfig, channels: int) -> None:
        super().__init__()
        self.noise = NoiseInjection(channels) if cfg.use_noise else None
        self.bias = nn.Parameter(torch.zeros(channels))
        self.style = StyleMod(cfg.dlatent_size, channels) if cfg.use_styles else None
        self.use_pixel_norm = cfg.use_pixel_norm
        self.use_instance_norm = cfg.use_instance_norm

    def forward(self, x: torch.Tensor, noise: Optional[torch.Tensor], w: torch.Tensor) -> torch.Tensor:
        if self.noise is not None and noise is not None:
            x = self.noise(x, noise)
        x = leaky_relu(x + self.bias.to(x.dtype).view(1, -1, 1, 1))
        if self.use_pixel_norm:
            x = pixel_norm(x)
        if self.use_instance_norm:
            x = instance_norm(x)
        if self.style is not None:
            x = self.style(x, w)
        return x


class SynthesisNetwork(nn.Module):
    """W -> image (G_synthesis), with progressive-growing level of detail ``lod``.

    Layer i (0 .. num_ws - 1) works at resolution 2^(i // 2 + 2). Layer 0 is the learned constant
    (or the traditional dense input), layer 1 the 4x4 conv; at each higher resolution layer
    2r - 4 is the up-sampling conv (followed by the blur) and 2r - 3 a plain conv.
    """

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.log2_res = int(math.log2(cfg.resolution))
        self.num_ws = 2 * self.log2_res - 2
        nf = lambda stage: fmaps(stage, cfg.fmap_base, cfg.fmap_decay, cfg.fmap_max)  # noqa: E731
        self.register_buffer("lod", torch.zeros([]))
        if cfg.const_input_layer:
            self.const = nn.Parameter(torch.ones(1, nf(1), 4, 4))
        else:
            # Official gain sqrt(2)/4, matching ProGAN's dense input.
            self.dense_input = EqualLinear(cfg.dlatent_size, nf(1) * 16, gain=SQRT2 / 4, bias=False)
        self.epilogues = nn.ModuleList()
        self.convs = nn.ModuleList()
        self.torgb = nn.ModuleList()
        self.blur = optional_blur(cfg.blur_filter)
        for res in range(2, self.log2_res + 1):
            ch = nf(res - 1)
            if res == 2:
                self.convs.append(EqualConv2d(ch, ch, 3, bias=False))
            else:
                self.convs.append(EqualConv2d(nf(res - 2), ch, 3, bias=False, up=True,
                                              fused=use_fused(2 ** res, cfg.fused_scale)))
                self.convs.append(EqualConv2d(ch, ch, 3, bias=False))
            self.epilogues.extend([LayerEpilogue(cfg, ch), LayerEpilogue(cfg, ch)])
            self.torgb.append(EqualConv2d(ch, cfg.num_channels, 1, gain=1.0))
        if cfg.use_noise:
            for i in range(self.num_ws):
                r = 2 ** (i // 2 + 2)
                # Two separate maps per resolution: the two convs never share a noise image.
                self.register_buffer(f"noise{i}", torch.randn(1, 1, r, r))

    def noise_buffers(self) -> list[torch.Tensor]:
        """The constant noise maps, one per layer ([1, 1, H, W]); empty without noise."""
        return [getattr(self, f"noise{i}") for i in range(self.num_ws)] if self.cfg.use_noise else []

    def reseed_noise(self, generator: torch.Generator) -> None:
        """Redraw every constant noise map from ``generator``."""
        with torch.no_grad():
            for buf in self.noise_buffers():
                buf.copy_(torch.randn(buf.shape, generator=generator, device=generator.device).to(buf))

    def _noise(self, i: int, x: torch.Tensor, mode: str, rng: Optional[torch.Generator]) -> Optional[torch.Tensor]:
        if not self.cfg.use_noise or mode == "none":
            return None
        if mode == "const":
            return getattr(self, f"noise{i}")
        shape = (x.shape[0], 1, x.shape[2], x.shape[3])
        if rng is None:
            return torch.randn(shape, device=x.device, dtype=x.dtype)
        return torch.randn(shape, generator=rng, device=rng.device).to(x)

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", lod: Optional[float] = None,
                rng: Optional[torch.Generator] = None) -> torch.Tensor:
        """Synthesise images [N, C, R, R] from ws [N, num_ws, w_dim].

        ``lod`` (default: the ``lod`` buffer) selects the level of detail: 0 = full resolution,
        k = the 2^-k resolution network, fractions blend the new toRGB with the nearest-upsampled
        previous one exactly as the official lerp_clip growth; the result is always
        nearest-upsampled to R x R.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        cfg = self.cfg
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, cfg.dlatent_size):
            raise ValueError(f"ws must have shape [N, {self.num_ws}, {cfg.dlatent_size}], got {tuple(ws.shape)}")
        if lod is None:
            # A meta-device buffer has no value; shape checks run at full resolution.
            lod = 0.0 if self.lod.is_meta else self.lod.item()
        k, frac = split_lod(lod, self.log2_res - 2)
        top = self.log2_res - k
        N = ws.shape[0]
        if cfg.const_input_layer:
            x = self.const.to(ws.dtype).expand(N, -1, -1, -1)
        else:
            x = self.dense_input(ws[:, 0]).view(N, -1, 4, 4)

        def epilogue(i: int, x: torch.Tensor) -> torch.Tensor:
            return self.epilogues[i](x, self._noise(i, x, noise_mode, rng), ws[:, i])

        x = epilogue(0, x)
        x = epilogue(1, self.convs[0](x))
        prev = x
        for res in range(3, top + 1):
            prev = x
            x = epilogue(2 * res - 4, self.blur(self.convs[2 * res - 5](x)))
            x = epilogue(2 * res - 3, self.convs[2 * res - 4](x))
        img = self.torgb[top - 2](x)
        if frac > 0:
            img = lerp(img, upscale2d(self.torgb[top - 3](prev)), frac)
        return upscale2d(img, 2 ** k)


class StyleGenerator(nn.Module):
    """Generator of the StyleGAN family, following the project's generator protocol.

    ``mapping(z, c=None, truncation_psi=1, truncation_cutoff=None, skip_w_avg_update=True)``
    -> ws [N, num_ws, w_dim] (cutoff None = every layer); ``synthesis(ws, noise_mode='random', lod=None)``
    -> images in about [-1, 1]; ``forward`` chains both and, in training mode, applies the official
    training behaviour (w_avg update, style mixing, no truncation). ``mapping_official`` and
    ``run_official`` take G_style's truncation arguments with G_style's semantics and defaults.
    """

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg, self.num_ws)
        self.z_dim = cfg.latent_size
        self.w_dim = cfg.dlatent_size
        self.img_resolution = cfg.resolution
        self.img_channels = cfg.num_channels
        self.c_dim = cfg.label_size
        # Depth 0: W is only the normalised Z, so W-space metrics do not apply.
        self.has_mapping = cfg.mapping_layers > 0

    kind = "generator"

    @property
    def w_avg(self) -> torch.Tensor:
        """Moving average of w (official 'dlatent_avg')."""
        return self.mapping.w_avg

    @property
    def lod(self) -> float:
        """Current level of detail of the synthesis network (0 = full resolution)."""
        return float(self.synthesis.lod.item())

    @lod.setter
    def lod(self, value: float) -> None:
        """Set the level of detail (checked against 0 .. log2(R) - 2)."""
        split_lod(value, self.synthesis.log2_res - 2)
        self.synthesis.lod.fill_(float(value))

    def reseed_noise(self, generator: torch.Generator) -> None:
        """Redraw the per-layer constant noise maps from ``generator`` (protocol hook)."""
        self.synthesis.reseed_noise(generator)

    def mixing_cutoff(self, prob: float, lod: Optional[float] = None, rng: Optional[torch.Generator] = None) -> int:
        """Draw the official style-mixing crossover: with probability ``prob``, a layer index
        uniform in 1 .. cur_layers - 1, else cur_layers (no mixing); cur_layers = num_ws - 2 floor(lod)."""
        lod = self.lod if lod is None else float(lod)
        cur_layers = self.num_ws - 2 * int(math.floor(lod))
        dev = rng.device if rng is not None else None
        if cur_layers > 1 and float(torch.rand([], generator=rng, device=dev)) < prob:
            return int(torch.randint(1, cur_layers, [], generator=rng, device=dev))
        return cur_layers

    def training_ws(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, mixing_prob: Optional[float] = None,
                    lod: Optional[float] = None, rng: Optional[torch.Generator] = None) -> torch.Tensor:
        """The ws of a training step: mapping with the w_avg update, then style mixing with a second
        random z (layers < cutoff keep w1, the others take w2), one crossover per minibatch."""
        ws = self.mapping(z, c, skip_w_avg_update=False)
        prob = self.cfg.style_mixing_prob if mixing_prob is None else mixing_prob
        if not prob or not self.cfg.use_styles:
            return ws
        cutoff = self.mixing_cutoff(prob, lod, rng)
        if cutoff >= self.num_ws:
            return ws
        if rng is None:
            z2 = torch.randn_like(z)
        else:
            z2 = torch.randn(z.shape, generator=rng, device=rng.device).to(z)
        ws2 = self.mapping(z2, c)
        return torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)

    def mapping_official(self, z: torch.Tensor, c: Optional[torch.Tensor] = None,
                         truncation_psi: Optional[float] = FROM_CONFIG,
                         truncation_cutoff: Optional[int] = FROM_CONFIG) -> torch.Tensor:
        """ws [N, num_ws, w_dim] as the official ``Gs`` computes them before synthesis (inference graph).

        The arguments mean what G_style's do: omitted, they take ``cfg.truncation_psi`` /
        ``cfg.truncation_cutoff`` (the pickle's static kwargs, else G_style's defaults 0.7 and 8);
        psi None or 1, or cutoff None or <= 0, means no truncation; otherwise
        w_avg + psi (w - w_avg) on layers < cutoff. No w_avg update, no style mixing.
        """
        psi = self.cfg.truncation_psi if truncation_psi is FROM_CONFIG else truncation_psi
        cutoff = self.cfg.truncation_cutoff if truncation_cutoff is FROM_CONFIG else truncation_cutoff
        return official_truncation(self.mapping(z, c), self.w_avg, psi, cutoff)

    def run_official(self, z: torch.Tensor, c: Optional[torch.Tensor] = None,
                     truncation_psi: Optional[float] = FROM_CONFIG, truncation_cutoff: Optional[int] = FROM_CONFIG,
                     randomize_noise: bool = True, rng: Optional[torch.Generator] = None) -> torch.Tensor:
        """Images [N, C, R, R] as the official ``Gs.run(latents, labels, truncation_psi=...,
        truncation_cutoff=..., randomize_noise=...)`` returns them (no output_transform), with
        :meth:`mapping_official`'s truncation; ``randomize_noise=False`` uses the stored noise
        maps. Drawn at the ``lod`` buffer (the top-level ``lod`` of a converted pickle)."""
        ws = self.mapping_official(z, c, truncation_psi, truncation_cutoff)
        return self.synthesis(ws, noise_mode="random" if randomize_noise else "const", rng=rng)

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None, noise_mode: str = "random",
                mixing_prob: Optional[float] = None, lod: Optional[float] = None,
                rng: Optional[torch.Generator] = None) -> torch.Tensor:
        """z -> images. Training mode: w_avg update and style mixing (``mixing_prob`` overrides the
        config), truncation ignored as in the official training graph. Eval mode: truncation."""
        if self.training:
            ws = self.training_ws(z, c, mixing_prob, lod, rng)
        else:
            ws = self.mapping(z, c, truncation_psi, truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, lod=lod, rng=rng)
