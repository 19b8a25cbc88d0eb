"""Inception Score (Salimans et al. 2016) from classifier logits or probabilities, on its own.

With p(y|x_i) the class probabilities of image i, the N images cut into ``num_splits``
contiguous parts (part s = rows [s N / S, (s + 1) N / S), integer division, as stylegan2-ada-pytorch
and torch-fidelity cut them), and p_s(y) the mean of p(y|x_i) over part s,

    IS_s = exp( mean_{i in s} sum_y p(y|x_i) (log p(y|x_i) - log p_s(y)) ),   IS = mean_s IS_s,

reported with the standard deviation over parts (np.std, over S). stylegan2-ada's ``is50k``
takes the probabilities of NVIDIA's Inception (``no_output_bias=True``: softmax of the 1008
logits without the output bias); torch-fidelity's ``isc`` the softmax of its ``logits_unbiased``,
the same numbers. torch-fidelity shuffles the rows first (``samples_shuffle``, RandomState(2020)
permutation); stylegan2-ada does not, and neither does this function unless ``shuffle_seed`` is given.
Computed in float64 (torch-fidelity too; stylegan2-ada in float32 NumPy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np
import torch

NUM_SPLITS = 10
ArrayLike = Union[np.ndarray, torch.Tensor]


@dataclass
class ISResult:
    """IS = ``mean`` over splits, ``std`` over splits (np.std), ``splits`` every split's score."""

    mean: float
    std: float
    num_splits: int
    splits: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))


def _split_scores(log_p: torch.Tensor, num_splits: int) -> np.ndarray:
    n = log_p.shape[0]
    p = log_p.exp()
    scores = []
    for s in range(num_splits):
        lo, hi = s * n // num_splits, (s + 1) * n // num_splits
        lp, pp = log_p[lo:hi], p[lo:hi]
        log_marginal = pp.mean(0, keepdim=True).log()
        # p log p -> 0 as p -> 0: a zero probability contributes nothing (not 0 * -inf = nan)
        kl = torch.where(pp > 0, pp * (lp - log_marginal), torch.zeros((), dtype=pp.dtype, device=pp.device))
        scores.append(kl.sum(1).mean().exp())
    return torch.stack(scores).cpu().numpy()


def inception_score_from_logits(logits: Optional[ArrayLike] = None, *, probs: Optional[ArrayLike] = None,
                                num_splits: int = NUM_SPLITS, shuffle_seed: Optional[int] = None) -> ISResult:
    """Inception Score of ``logits`` [N, C] (softmax taken here) or of ``probs`` [N, C] (rows sum to 1).

    ``shuffle_seed``: permute the rows with ``np.random.RandomState(shuffle_seed).permutation(N)``
    first, as torch-fidelity does by default with seed 2020; None keeps the order (stylegan2-ada).
    """
    if (logits is None) == (probs is None):
        raise ValueError("inception_score_from_logits: pass exactly one of logits= or probs=")
    t = torch.as_tensor(logits if logits is not None else probs)
    if t.ndim != 2 or not t.is_floating_point():
        raise ValueError(f"Inception Score needs a floating-point [N, classes] array, got {t.dtype} of shape {tuple(t.shape)}")
    if not 1 <= num_splits <= t.shape[0]:
        raise ValueError(f"Inception Score: num_splits={num_splits} must be between 1 and the number of images ({t.shape[0]})")
    if shuffle_seed is not None:
        t = t[torch.from_numpy(np.random.RandomState(shuffle_seed).permutation(t.shape[0])).to(t.device)]
    t = t.double()
    if logits is not None:
        log_p = torch.log_softmax(t, 1)
    else:
        if (t < 0).any() or not torch.allclose(t.sum(1), torch.ones((), dtype=t.dtype, device=t.device), atol=1e-3):
            raise ValueError("Inception Score: probs= rows must be non-negative and sum to 1; pass raw scores as logits=")
        log_p = t.log()
    scores = _split_scores(log_p, num_splits)
    return ISResult(mean=float(scores.mean()), std=float(scores.std()), num_splits=num_splits, splits=scores)
