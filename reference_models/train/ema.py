"""Exponential moving average of the generator weights (official ``Gs.setup_as_moving_average_of``).

Every step, for each trainable parameter: ``p_ema <- p + beta * (p_ema - p)`` = lerp(p, p_ema, beta)
with ``beta = 0.5 ** (minibatch / 10_000)`` (half-life 10 kimg, :func:`schedule.ema_beta`).
Buffers (w_avg, lod, the constant noise maps) are copied, not averaged, as the official code
copies every non-trainable variable.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """Move ``G_ema`` towards ``G``: parameters lerp(p, p_ema, beta); buffers copied."""
    ema_params = dict(G_ema.named_parameters())
    params = dict(G.named_parameters())
    if ema_params.keys() != params.keys():
        raise ValueError("G_ema and G have different parameters: they must be the same architecture")
    for name, p in params.items():
        q = ema_params[name]
        q.copy_(torch.lerp(p.detach(), q, beta))
    ema_buffers = dict(G_ema.named_buffers())
    for name, b in G.named_buffers():
        ema_buffers[name].copy_(b)
