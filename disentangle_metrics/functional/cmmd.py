"""CMMD (Jayasumana et al. 2024): the MMD between two sets of CLIP embeddings, on its own.

As google-research's ``cmmd/distance.py`` computes it: the biased (minimum-variance, diagonal
terms included) MMD^2 estimate with the Gaussian RBF kernel k(a, b) = exp(-gamma |a - b|^2),
gamma = 1 / (2 sigma^2), sigma = 10, scaled by 1000:

    CMMD = 1000 * [ mean_{i,i'} k(x_i, x_i') + mean_{j,j'} k(y_j, y_j') - 2 mean_{i,j} k(x_i, y_j) ]

with |a - b|^2 = |a|^2 + |b|^2 - 2 a.b, not clamped (the reference does not clamp either). The
reference runs in JAX's default float32; here everything is float64, because the three means are
close to 1 and their difference is ~1e-3 (float32 loses about 4 of the 7 significant digits).

Memory is bounded: the kernel is summed over row x column blocks, never stored whole; the two
within-set sums use the upper triangle of blocks only (the kernel is symmetric).

Interval (``method`` "cmmd_jackknife"): delete-one-group jackknife. Row i of each set belongs to
group i mod K (K = 10, deterministic, no random draw). The block pass accumulates the kernel sums
per pair of groups (K x K per term, ~K/D extra work), so the K leave-one-group-out values
CMMD_{-g} (group g removed from both sets) cost nothing extra, and

    SE^2 = (K - 1) / K * sum_g (CMMD_{-g} - mean_g CMMD_{-g})^2,   interval = CMMD +- z SE.

No reference reports an interval on CMMD; this one is the project's (as FID's ``fid_jackknife``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch

from .._core.device import DeviceLike, default_batch_size, resolve_device
from . import intervals
from .arrays import as_feature_matrix

SIGMA = 10.0
SCALE = 1000.0
JACKKNIFE_GROUPS = 10
ArrayLike = Union[np.ndarray, torch.Tensor]


@dataclass(frozen=True)
class CMMDResult:
    """CMMD ``value`` (google-research's scale), its jackknife ``interval``, and the settings used."""

    value: float
    interval: intervals.Interval
    sigma: float
    scale: float
    num_x: int
    num_y: int

    def __float__(self) -> float:
        return self.value


def _as_embeddings(x: ArrayLike, who: str) -> torch.Tensor:
    return as_feature_matrix(x, f"CMMD: {who} embeddings")


def _group_onehot(n: int, groups: int, device: torch.device) -> torch.Tensor:
    """[n, groups] float64 indicator of row i's group i mod ``groups``."""
    return torch.nn.functional.one_hot(torch.arange(n, device=device) % groups, groups).to(torch.float64)


def _kernel_group_sums(a: torch.Tensor, b: Optional[torch.Tensor], gamma: float, bs: int,
                       groups: int) -> torch.Tensor:
    """S[g, h] = sum over rows i of ``a`` in group g and rows j of ``b`` in group h of exp(-gamma |a_i - b_j|^2);
    ``b=None`` means ``a`` against itself (upper triangle of blocks, mirrored)."""
    same = b is None
    b = a if same else b
    dev = a.device
    a_sq, b_sq = (a * a).sum(1), (b * b).sum(1)
    ga, gb = _group_onehot(a.shape[0], groups, dev), _group_onehot(b.shape[0], groups, dev)
    out = torch.zeros(groups, groups, dtype=torch.float64, device=dev)
    for i0 in range(0, a.shape[0], bs):
        i1 = min(i0 + bs, a.shape[0])
        for j0 in range(i0 if same else 0, b.shape[0], bs):
            j1 = min(j0 + bs, b.shape[0])
            # the reference's order: -2 a.b + |a|^2 + |b|^2, then exp(-gamma * that)
            d = torch.addmm(a_sq[i0:i1, None] + b_sq[None, j0:j1], a[i0:i1], b[j0:j1].T, alpha=-2)
            k = d.mul_(-gamma).exp_()
            s = ga[i0:i1].T @ k @ gb[j0:j1]
            out += s
            if same and j0 != i0:          # the mirrored block below the diagonal
                out += s.T
    return out


def _mmd_from_sums(sxx: torch.Tensor, syy: torch.Tensor, sxy: torch.Tensor, nx: float, ny: float,
                   scale: float) -> float:
    return float(scale * (sxx.sum() / (nx * nx) + syy.sum() / (ny * ny) - 2 * sxy.sum() / (nx * ny)))


def cmmd_from_embeddings(x: ArrayLike, y: ArrayLike, sigma: float = SIGMA, scale: float = SCALE, *,
                         groups: int = JACKKNIFE_GROUPS, batch_size: Optional[int] = None,
                         device: DeviceLike = "auto") -> CMMDResult:
    """CMMD = scale * [mean k(x, x') + mean k(y, y') - 2 mean k(x, y)], k(a, b) = exp(-|a - b|^2 / (2 sigma^2)),
    the biased MMD^2 of google-research's ``cmmd/distance.py`` (all pairs, diagonals included), in float64.

    ``x`` [N_x, D] and ``y`` [N_y, D] are embeddings (CMMD uses unit-length CLIP ViT-L/14@336
    embeddings: extractor ``clip-vitl14-336``). The interval is the delete-one-group jackknife over
    ``groups`` groups of rows i mod ``groups`` (module docstring). ``batch_size`` x ``batch_size``
    kernel entries are held at a time (default 2048 on CPU, 8192 on CUDA).
    """
    a, b = _as_embeddings(x, "first"), _as_embeddings(y, "second")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"CMMD: the first embeddings are {a.shape[1]}-d but the second {b.shape[1]}-d")
    if groups < 2 or min(a.shape[0], b.shape[0]) < groups:
        raise ValueError(f"CMMD's jackknife needs groups >= 2 and at least {groups} rows on each side "
                         f"(got {a.shape[0]} and {b.shape[0]}); pass a smaller groups=")
    if sigma <= 0:
        raise ValueError(f"CMMD: sigma must be positive, got {sigma}")
    dev = resolve_device(device)
    bs = batch_size or default_batch_size(dev, cpu=2048, cuda=8192)
    gamma = 1.0 / (2.0 * float(sigma) ** 2)
    with torch.inference_mode():
        a, b = a.to(dev, torch.float64), b.to(dev, torch.float64)
        sxx = _kernel_group_sums(a, None, gamma, bs, groups).cpu()
        syy = _kernel_group_sums(b, None, gamma, bs, groups).cpu()
        sxy = _kernel_group_sums(a, b, gamma, bs, groups).cpu()
    nx_g = torch.bincount(torch.arange(a.shape[0]) % groups, minlength=groups).double()
    ny_g = torch.bincount(torch.arange(b.shape[0]) % groups, minlength=groups).double()
    nx, ny = float(a.shape[0]), float(b.shape[0])
    value = _mmd_from_sums(sxx, syy, sxy, nx, ny, scale)
    loo = []
    for g in range(groups):
        keep = torch.ones(groups, dtype=torch.bool)
        keep[g] = False
        loo.append(_mmd_from_sums(sxx[keep][:, keep], syy[keep][:, keep], sxy[keep][:, keep],
                                  nx - float(nx_g[g]), ny - float(ny_g[g]), scale))
    loo_arr = np.asarray(loo)
    se = float(np.sqrt((groups - 1) / groups * ((loo_arr - loo_arr.mean()) ** 2).sum()))
    interval = intervals.normal_interval(value, se, f"cmmd_jackknife (delete-one-group, {groups} groups of rows i mod {groups})")
    return CMMDResult(value=value, interval=interval, sigma=float(sigma), scale=float(scale),
                      num_x=int(a.shape[0]), num_y=int(b.shape[0]))
