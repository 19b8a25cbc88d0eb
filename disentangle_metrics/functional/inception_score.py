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
Element-wise work in float32 (stylegan2-ada's NumPy code is float32; torch-fidelity float64), every
sum in float64, and no log-probability matrix: sum_y p log p = sum_y e z / sum e - log sum e with
z = logits - max and e = exp(z), and the split term mean_i sum_y p_iy log q_y = sum_y q_y log q_y.
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


_CHUNK = 4096   # rows at a time: temporaries stay small (large fresh tensors cost more in page faults than in arithmetic)


def _chunk_terms(x: torch.Tensor, is_logits: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum over rows of p, per-row sum_y p log p) of a chunk of logits or probabilities."""
    if not is_logits:
        # p log p with 0 log 0 = 0: log of max(p, smallest normal) is finite, so a zero p contributes 0
        return x.sum(0), torch.linalg.vecdot(x, x.clamp_min(torch.finfo(x.dtype).tiny).log()).double()
    # -inf logits (the log of a zero probability, NVIDIA's file returns probabilities) become the
    # lowest finite value: exp gives 0 and 0 * z stays 0 instead of 0 * -inf = nan
    z = (x - x.max(1, keepdim=True).values).clamp_min_(torch.finfo(x.dtype).min)
    e = z.exp()
    s = e.sum(1)
    # sum_y p log p = sum_y p (z - log s) = (e . z) / s - log s: no log-probability matrix
    p_log_p = torch.linalg.vecdot(e, z).double() / s.double() - s.double().log()
    return (1 / s) @ e, p_log_p


def _split_scores(t: torch.Tensor, num_splits: int, is_logits: bool) -> np.ndarray:
    # the split term mean_i sum_y p_iy log q_y equals sum_y q_y log q_y: per split only the marginal q
    n = t.shape[0]
    scores = []
    for k in range(num_splits):
        lo, hi = k * n // num_splits, (k + 1) * n // num_splits
        q_sum = torch.zeros(t.shape[1], dtype=torch.float64, device=t.device)
        plp_sum = torch.zeros((), dtype=torch.float64, device=t.device)
        for c in range(lo, hi, _CHUNK):
            qs, plp = _chunk_terms(t[c:min(c + _CHUNK, hi)], is_logits)
            q_sum += qs.double()
            plp_sum += plp.sum()
        q = q_sum / (hi - lo)
        scores.append((plp_sum / (hi - lo) - torch.special.xlogy(q, q).sum()).exp())
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
    t = t.float()
    if probs is not None and (t.min() < 0 or (t.sum(1) - 1).abs().max() > 1e-3):
        raise ValueError("Inception Score: probs= rows must be non-negative and sum to 1; pass raw scores as logits=")
    scores = _split_scores(t, num_splits, is_logits=logits is not None)
    return ISResult(mean=float(scores.mean()), std=float(scores.std()), num_splits=num_splits, splits=scores)
