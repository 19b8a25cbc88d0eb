"""Improved precision and recall (Kynkaanniemi et al. 2019) from two feature arrays, on its own.

Each point of a manifold set M gets the radius r_i = distance to its k-th nearest neighbour in M
(the (k + 1)-th smallest distance, the point itself included, as stylegan2-ada-pytorch's
``kthvalue(nhood_size + 1)`` and torch-fidelity's ``kthvalue(neighborhood + 1)``). A probe q is
covered when d(q, m_i) <= r_i for some i. Then

    precision = fraction of generated features covered by the manifold of real features,
    recall    = fraction of real features covered by the manifold of generated features,

with Euclidean distances d(a, b) = sqrt(max(|a|^2 + |b|^2 - 2 a.b, 0)) (what torch.cdist computes
for sets of more than 25 rows).

Memory is bounded: distances are computed in row x column blocks on the device and never
stored whole. Radii keep a running (k + 1)-smallest per row; coverage is OR-accumulated. Three
sets of blocks are computed, where stylegan2-ada computes four (it builds the real x generated
distances twice, once per direction) and torch-fidelity three full matrices: the symmetric
manifold x manifold blocks are computed once for the upper triangle and serve both their rows
and their columns, and each generated x real block serves precision and recall at once. That
is half of stylegan2-ada's multiply-adds and two thirds of torch-fidelity's.

``feature_dtype=torch.float16`` (the default) reproduces stylegan2-ada-pytorch, which casts the
VGG16 features to float16 before computing distances (in float16: distances and radii are
float16 values). Here the features are rounded to float16, distances computed in float32 from
the rounded values and rounded to float16 before every comparison and before taking radii, so
radii and the compared distances are float16 values as theirs are; their float16 products
themselves round differently (a few ulps of float16), which can flip a probe lying within that
margin of a radius. ``feature_dtype=None`` keeps float32 throughout (torch-fidelity).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import numpy as np
import torch

from .._core.device import DeviceLike, default_batch_size, metric_precision, resolve_device
from .arrays import as_feature_matrix

NHOOD_SIZE = 3
ArrayLike = Union[np.ndarray, torch.Tensor]


@dataclass
class PRResult:
    """Precision, recall and their F1 score (torch-fidelity's ``f_score``), with the settings used."""

    precision: float
    recall: float
    f_score: float
    nhood_size: int
    num_gen: int
    num_real: int
    feature_dtype: str
    row_batch_size: int
    col_batch_size: int
    # per-probe hit flags (generated covered by the real manifold, real covered by the generated one):
    # which samples fall outside the other side's manifold
    gen_covered: Optional[np.ndarray] = field(default=None, repr=False)
    real_covered: Optional[np.ndarray] = field(default=None, repr=False)


def _as_features(x: ArrayLike, who: str) -> torch.Tensor:
    return as_feature_matrix(x, f"precision/recall: {who} features")


class _Blocks:
    """Distances between row and column blocks of one or two feature sets, float32 on the device."""

    def __init__(self, round_fp16: bool) -> None:
        self.round_fp16 = round_fp16

    def __call__(self, a: torch.Tensor, a_sq: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor,
                 same: bool = False) -> torch.Tensor:
        if same and a.device.type == "cpu":
            # a block against itself: NumPy's a @ a.T calls BLAS syrk, half the multiply-adds of torch.mm
            an = a.numpy()
            d = torch.from_numpy(an @ an.T).mul_(-2).add_(a_sq[:, None]).add_(a_sq[None, :])
        else:
            d = torch.addmm(a_sq[:, None] + b_sq[None, :], a, b.T, alpha=-2)
        d = d.clamp_min_(0).sqrt_()
        # float16 distances as stylegan2-ada's float16 cdist returns (rounding is monotonic, so a
        # k-th smallest of rounded values is the rounded k-th smallest)
        return d.half().float() if self.round_fp16 else d


def _merge_smallest(best: torch.Tensor, d: torch.Tensor, dim: int, kk: int) -> torch.Tensor:
    """The kk smallest values per row of cat(best, smallest kk of d along ``dim``)."""
    kk_here = min(kk, d.shape[dim])
    part = d.topk(kk_here, dim=dim, largest=False).values
    if dim == 0:
        part = part.T
    return torch.cat([best, part], 1).topk(kk, dim=1, largest=False).values


def _radii(f: torch.Tensor, sq: torch.Tensor, k: int, bs: int, dist: Callable[..., torch.Tensor],
           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Distance of every row of ``f`` to its k-th nearest neighbour in ``f`` (itself counted as the 0-th).

    ``dist`` is called as ``dist(a, a_sq, b, b_sq, same=...)`` on blocks (:class:`_Blocks` here,
    prdc's float64-upcast distances in :mod:`.prdc`) and returns ``dtype`` distances.
    """
    n, kk = f.shape[0], k + 1
    best = torch.full((n, kk), float("inf"), device=f.device, dtype=dtype)
    starts = list(range(0, n, bs))
    for bi, i0 in enumerate(starts):
        i1 = min(i0 + bs, n)
        for j0 in starts[bi:]:                       # upper triangle of blocks; the lower by symmetry
            j1 = min(j0 + bs, n)
            d = dist(f[i0:i1], sq[i0:i1], f[j0:j1], sq[j0:j1], same=j0 == i0)
            best[i0:i1] = _merge_smallest(best[i0:i1], d, 1, kk)
            if j0 != i0:
                best[j0:j1] = _merge_smallest(best[j0:j1], d, 0, kk)
    return best[:, k]


def precision_recall_from_features(gen: ArrayLike, real: ArrayLike, *, nhood_size: int = NHOOD_SIZE,
                                   row_batch_size: Optional[int] = None, col_batch_size: Optional[int] = None,
                                   feature_dtype: Optional[torch.dtype] = torch.float16,
                                   device: DeviceLike = "auto") -> PRResult:
    """Precision and recall of ``gen`` [N_g, D] against ``real`` [N_r, D] (see the module docstring).

    ``row_batch_size`` x ``col_batch_size`` distances are held at a time (default 10000 x 10000
    on CUDA as stylegan2-ada, 2048 x 2048 on CPU); the self-distance blocks are square, of
    ``row_batch_size``. Peak memory beyond the features: about 3 such float32 blocks.
    """
    x, y = _as_features(gen, "generated"), _as_features(real, "real")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"precision/recall: generated features are {x.shape[1]}-d but real ones {y.shape[1]}-d")
    if nhood_size < 1 or min(x.shape[0], y.shape[0]) <= nhood_size:
        raise ValueError(f"precision/recall with k={nhood_size} needs more than k features on each side "
                         f"(got {x.shape[0]} generated, {y.shape[0]} real)")
    dev = resolve_device(device)
    rb = row_batch_size or default_batch_size(dev, cpu=2048, cuda=10_000)
    cb = col_batch_size or rb
    dist = _Blocks(round_fp16=feature_dtype == torch.float16)

    def prep(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = t.to(dev)
        if feature_dtype is not None:
            t = t.to(feature_dtype)          # the rounding stylegan2-ada applies
        t = t.to(torch.float32)
        return t, (t * t).sum(1)

    with metric_precision(), torch.inference_mode():
        (x, x_sq), (y, y_sq) = prep(x), prep(y)
        r_gen, r_real = _radii(x, x_sq, nhood_size, rb, dist), _radii(y, y_sq, nhood_size, rb, dist)
        gen_covered = torch.zeros(x.shape[0], dtype=torch.bool, device=dev)
        real_covered = torch.zeros(y.shape[0], dtype=torch.bool, device=dev)
        for i0 in range(0, x.shape[0], rb):
            i1 = min(i0 + rb, x.shape[0])
            for j0 in range(0, y.shape[0], cb):
                j1 = min(j0 + cb, y.shape[0])
                d = dist(x[i0:i1], x_sq[i0:i1], y[j0:j1], y_sq[j0:j1])
                gen_covered[i0:i1] |= (d <= r_real[None, j0:j1]).any(1)
                real_covered[j0:j1] |= (d <= r_gen[i0:i1, None]).any(0)
        precision = float(gen_covered.float().mean())
        recall = float(real_covered.float().mean())
    return PRResult(precision=precision, recall=recall,
                    f_score=2 * precision * recall / max(1e-5, precision + recall),
                    nhood_size=nhood_size, num_gen=int(x.shape[0]), num_real=int(y.shape[0]),
                    feature_dtype=str(feature_dtype).replace("torch.", "") if feature_dtype else "float32",
                    row_batch_size=rb, col_batch_size=cb,
                    gen_covered=gen_covered.cpu().numpy(), real_covered=real_covered.cpu().numpy())


def precision_recall_parts(gen: ArrayLike, real: ArrayLike, groups: Optional[int] = None,
                           **kwargs: Any) -> list[PRResult]:
    """:func:`precision_recall_from_features` on each disjoint part of both sides
    (:func:`~.intervals.pr_parts`: rows ``i::groups``), the values :func:`~.intervals.pr_interval` takes."""
    from . import intervals
    parts = intervals.pr_parts(int(gen.shape[0]), int(real.shape[0]),
                               intervals.PR_GROUPS if groups is None else groups)
    return [precision_recall_from_features(gen[g], real[r], **kwargs) for g, r in parts]
