"""The mapping network Z -> W of the official StyleGAN (G_mapping)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .configs import GeneratorConfig
from .layers import SQRT2, EqualLinear, leaky_relu, pixel_norm


class MappingNetwork(nn.Module):
    """Optional label embedding, pixel norm of z, then ``mapping_layers`` dense + leaky ReLU layers,
    broadcast to ``num_ws`` copies, with the moving average of w and the truncation trick.

    Depth 0 still normalises z (W is then the normalised Z).
    """

    def __init__(self, cfg: GeneratorConfig, num_ws: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_ws = num_ws
        # Official 'dlatent_avg': the moving average of w, tracked while training.
        self.register_buffer("w_avg", torch.zeros(cfg.dlatent_size))
        if cfg.label_size:
            # Official LabelConcat: N(0, 1) init, no equalised lr, stored [label_size, latent_size].
            self.label_embed = nn.Parameter(torch.randn(cfg.label_size, cfg.latent_size))
        in_features = cfg.latent_size * (2 if cfg.label_size else 1)
        self.dense = nn.ModuleList()
        for i in range(cfg.mapping_layers):
            out = cfg.dlatent_size if i == cfg.mapping_layers - 1 else cfg.mapping_fmaps
            self.dense.append(EqualLinear(in_features, out, gain=SQRT2, lrmul=cfg.mapping_lrmul))
            in_features = out

    def forward(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: Optional[float] = 1.0,
                truncation_cutoff: Optional[int] = None, skip_w_avg_update: bool = True) -> torch.Tensor:
        """Map z [N, latent_size] (and labels c) to ws [N, num_ws, dlatent_size].

        ``skip_w_avg_update=False`` updates ``w_avg`` <- lerp(mean w, w_avg, dlatent_avg_beta) as the
        official training graph does. Truncation (the project's semantics, those of the metrics
        protocol): w_avg + psi (w - w_avg) on the layers with index < ``truncation_cutoff``, where
        cutoff None means every layer and psi 1 (or None) means none. The official G_style pair
        differs (cutoff None turns truncation off): see :func:`official_truncation`.
        """
        w = self.map_single(z, c)
        beta = self.cfg.dlatent_avg_beta
        if not skip_w_avg_update and beta is not None:
            with torch.no_grad():
                self.w_avg.copy_(torch.lerp(w.detach().mean(dim=0).to(self.w_avg), self.w_avg, beta))
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_cutoff is not None and int(truncation_cutoff) < 0:
            raise ValueError(f"truncation_cutoff must be a layer count >= 0 or None (every layer), got {truncation_cutoff}")
        if truncation_psi is not None and truncation_psi != 1:
            ws = truncate(ws, self.w_avg, truncation_psi, self.num_ws if truncation_cutoff is None else int(truncation_cutoff))
        return ws

    def map_single(self, z: torch.Tensor, c: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Map z [N, latent_size] (and labels c [N, label_size]) to one w per sample [N, dlatent_size]."""
        cfg = self.cfg
        if z.ndim != 2 or z.shape[1] != cfg.latent_size:
            raise ValueError(f"z must have shape [N, {cfg.latent_size}], got {tuple(z.shape)}")
        x = z
        if cfg.label_size:
            if c is None or c.shape != (z.shape[0], cfg.label_size):
                got = None if c is None else tuple(c.shape)
                raise ValueError(f"this generator is conditional: c must have shape [N, {cfg.label_size}], got {got}")
            x = torch.cat([x, c.to(x.dtype) @ self.label_embed.to(x.dtype)], dim=1)
        if cfg.normalize_latents:
            x = pixel_norm(x)
        for layer in self.dense:
            x = leaky_relu(layer(x))
        return x


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int) -> torch.Tensor:
    """The truncation trick on ws [N, L, D]: w_avg + psi (w - w_avg) on layers < ``cutoff``, others unchanged."""
    avg = w_avg.to(ws.dtype)
    return torch.cat([avg.lerp(ws[:, :cutoff], psi), ws[:, cutoff:]], dim=1)


def official_truncation(ws: torch.Tensor, w_avg: torch.Tensor, truncation_psi: Optional[float],
                        truncation_cutoff: Optional[int]) -> torch.Tensor:
    """Truncation with the semantics of the official G_style arguments (networks_stylegan.py).

    psi == 1 turns psi off and cutoff <= 0 turns cutoff off; the trick applies only when both are
    still not None: ws = w_avg + psi (ws - w_avg) on the layers < cutoff. So, unlike
    :meth:`MappingNetwork.forward`, ``truncation_cutoff=None`` means *no* truncation.
    """
    if truncation_psi is None or truncation_psi == 1 or truncation_cutoff is None or int(truncation_cutoff) <= 0:
        return ws
    return truncate(ws, w_avg, float(truncation_psi), int(truncation_cutoff))
