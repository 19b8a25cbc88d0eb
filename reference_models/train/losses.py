"""The losses of StyleGAN config F (official ``G_logistic_nonsaturating`` and ``D_logistic_simplegp``).

- Generator, non-saturating logistic:  L_G = mean_i softplus(-D(G(z_i)))
- Discriminator, logistic with R1 on the reals:
  L_D = mean_i [ softplus(D(G(z_i))) + softplus(-D(x_i)) + gamma / 2 * ||grad_x D(x_i)||^2 ]

R1 is taken with respect to the *full-resolution* real tensor that D receives: during progressive
growing D average-pools that tensor by 2^floor(lod) internally, exactly as the official graph,
so the penalty has the official strength. (Differentiating w.r.t. the low-resolution image
instead would make it k^2 = 4^floor(lod) times stronger.) Scores and losses are computed in fp32
even when the forward passes run under autocast; the R1 pass never runs under autocast, because
the gradient-of-gradient is where reduced precision is not safe.
"""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager

import torch
import torch.nn.functional as F
from torch import nn

AutocastFactory = Callable[[], ContextManager]


def g_nonsaturating_loss(D: nn.Module, fakes: torch.Tensor, autocast: AutocastFactory = contextlib.nullcontext
                         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_G = mean softplus(-D(fakes)); returns (loss, {'loss_G', 'score_fake'}) (stats as tensors)."""
    with autocast():
        scores = D(fakes)
    scores = scores.float()
    loss = F.softplus(-scores).mean()
    return loss, {"loss_G": loss.detach(), "score_fake_G": scores.detach().mean()}


def d_logistic_r1_loss(D: nn.Module, reals: torch.Tensor, fakes: torch.Tensor, r1_gamma: float,
                       autocast: AutocastFactory = contextlib.nullcontext) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_D = mean[softplus(D(fakes)) + softplus(-D(reals)) + r1_gamma/2 * sum_chw (dD(reals)/dreals)^2].

    ``reals`` and ``fakes`` are full-resolution tensors (see the module docstring); ``fakes`` must
    not require grad. Returns (loss, stats) with the mean scores and the mean R1 penalty.
    """
    with autocast():
        fake_scores = D(fakes).float()
    reals = reals.detach().requires_grad_(r1_gamma > 0)
    real_scores = D(reals).float()
    loss = F.softplus(fake_scores) + F.softplus(-real_scores)
    stats = {"score_fake": fake_scores.detach().mean(), "score_real": real_scores.detach().mean()}
    if r1_gamma > 0:
        (grad,) = torch.autograd.grad(real_scores.sum(), reals, create_graph=True)
        penalty = grad.square().sum(dim=(1, 2, 3))
        loss = loss + penalty.view(-1, 1) * (r1_gamma * 0.5)
        stats["r1"] = penalty.detach().mean()
    loss = loss.mean()
    stats["loss_D"] = loss.detach()
    return loss, stats
