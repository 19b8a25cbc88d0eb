"""Precision, recall, density and coverage (Naeem et al. 2020) from two feature arrays, on its own.

As clovaai's ``prdc/prdc.py`` (PyPI ``prdc`` 0.2) computes them, with R the real and F the fake
features, d Euclidean, and r_i = distance from real i to its k-th nearest real neighbour (the
(k + 1)-th smallest distance in R, itself included), s_j the same within F:

    precision = mean_j [ exists i: d(r_i, f_j) <  r_i ]
    recall    = mean_i [ exists j: d(r_i, f_j) <  s_j ]
    density   = (1 / k) mean_j #{i: d(r_i, f_j) < r_i}
    coverage  = mean_i [ min_j d(r_i, f_j) < r_i ]

All comparisons are strict ``<`` (stylegan2-ada's ``pr50k3`` uses ``<=`` on float16 features:
:mod:`.precision_recall`, kept under its own name).

Numerics as prdc's: it calls ``sklearn.metrics.pairwise_distances(..., n_jobs=8)``. For float32
inputs sklearn upcasts blocks to float64, forms ``-2 x.y + |x|^2 + |y|^2`` there, rounds the squared
distance to float32, clamps at 0 and takes the square root in float32; for other dtypes everything
is float64. Because ``n_jobs > 1`` splits the columns, sklearn never zeroes the self-distance
diagonal, and neither is it zeroed here. The same formula and roundings are used below, so
distances agree to the last float32 bit except where the two BLAS libraries round a float64 dot
product differently (then a comparison can flip only if it lies within one float32 ulp of a
radius; exact ties between integer-valued features are computed exactly by both).

Memory is bounded: prdc builds three full matrices (N_r^2, N_f^2, N_r N_f float32); here distances
are computed in blocks by :mod:`.precision_recall`'s block-wise pass (radii as a running
(k + 1)-smallest over symmetric upper-triangle blocks), then one pass over real x fake blocks
accumulates precision/recall flags, density counts and each real's nearest-fake distance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch

from .._core.device import DeviceLike, default_batch_size, metric_precision, resolve_device
from .precision_recall import _radii
from .arrays import as_feature_matrix

NEAREST_K = 5
ArrayLike = Union[np.ndarray, torch.Tensor]


@dataclass(frozen=True)
class PRDCResult:
    """Precision, recall, density and coverage (Naeem et al.), with the settings used."""

    precision: float
    recall: float
    density: float
    coverage: float
    nearest_k: int
    num_real: int
    num_fake: int
    distance_dtype: str   # "float32" (sklearn's upcast path, prdc's documented input) or "float64"

    def as_dict(self) -> dict[str, float]:
        """The four values by name, as ``prdc.compute_prdc`` returns them."""
        return {"precision": self.precision, "recall": self.recall, "density": self.density,
                "coverage": self.coverage}


class _SklearnDistances:
    """Blocks of sklearn's euclidean distances: float64 ``-2 a.b + |a|^2 + |b|^2``, rounded to
    ``out_dtype`` (float32 for float32 inputs, as sklearn's upcast path), clamped at 0, square root."""

    def __init__(self, out_dtype: torch.dtype) -> None:
        self.out_dtype = out_dtype

    def __call__(self, a: torch.Tensor, a_sq: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor,
                 same: bool = False) -> torch.Tensor:
        a64, b64 = a.to(torch.float64), b.to(torch.float64)
        if same and a.device.type == "cpu":
            an = a64.numpy()
            d = torch.from_numpy(an @ an.T)      # BLAS syrk: half the multiply-adds of a general product
        else:
            d = a64 @ b64.T
        # sklearn's order of operations: d = -2 x.y; d += |x|^2; d += |y|^2
        d = d.mul_(-2).add_(a_sq[:, None]).add_(b_sq[None, :]).to(self.out_dtype)
        return d.clamp_min_(0).sqrt_()


def _as_features(x: ArrayLike, who: str) -> torch.Tensor:
    return as_feature_matrix(x, f"prdc: {who} features")


def prdc_from_features(real: ArrayLike, fake: ArrayLike, nearest_k: int = NEAREST_K, *,
                       batch_size: Optional[int] = None, device: DeviceLike = "auto") -> PRDCResult:
    """Precision, recall, density and coverage of ``fake`` [N_f, D] against ``real`` [N_r, D].

    precision = mean_j [exists i: d_ij < r_i], recall = mean_i [exists j: d_ij < s_j],
    density = (1/k) mean_j #{i: d_ij < r_i}, coverage = mean_i [min_j d_ij < r_i], with r_i / s_j the
    k-th nearest-neighbour distances within the real / fake set (module docstring; prdc 0.2).

    ``batch_size`` x ``batch_size`` distances are held at a time (default 2048 on CPU, 10000 on
    CUDA); peak memory beyond the features is a few such float64 blocks.
    """
    r, f = _as_features(real, "real"), _as_features(fake, "fake")
    if r.shape[1] != f.shape[1]:
        raise ValueError(f"prdc: real features are {r.shape[1]}-d but fake ones {f.shape[1]}-d")
    if nearest_k < 1 or min(r.shape[0], f.shape[0]) <= nearest_k:
        raise ValueError(f"prdc with nearest_k={nearest_k} needs more than k features on each side "
                         f"(got {r.shape[0]} real, {f.shape[0]} fake)")
    # sklearn keeps float32 only when both sides are float32; anything else is computed in float64
    out_dtype = torch.float32 if r.dtype == f.dtype == torch.float32 else torch.float64
    dev = resolve_device(device)
    bs = batch_size or default_batch_size(dev, cpu=2048, cuda=10_000)
    dist = _SklearnDistances(out_dtype)

    def prep(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # keep the input precision in memory (float32 at 50k x 4096 is half of float64); blocks upcast
        t = t.to(dev, dtype=torch.float32 if out_dtype == torch.float32 else torch.float64)
        t64 = t.to(torch.float64)
        return t, (t64 * t64).sum(1)

    with metric_precision(), torch.inference_mode():
        (r, r_sq), (f, f_sq) = prep(r), prep(f)
        r_rad = _radii(r, r_sq, nearest_k, bs, dist, dtype=out_dtype)
        f_rad = _radii(f, f_sq, nearest_k, bs, dist, dtype=out_dtype)
        n_r, n_f = r.shape[0], f.shape[0]
        fake_covered = torch.zeros(n_f, dtype=torch.bool, device=dev)
        real_covered = torch.zeros(n_r, dtype=torch.bool, device=dev)
        fake_counts = torch.zeros(n_f, dtype=torch.int64, device=dev)
        nearest_fake = torch.full((n_r,), float("inf"), dtype=out_dtype, device=dev)
        for i0 in range(0, n_r, bs):
            i1 = min(i0 + bs, n_r)
            for j0 in range(0, n_f, bs):
                j1 = min(j0 + bs, n_f)
                d = dist(r[i0:i1], r_sq[i0:i1], f[j0:j1], f_sq[j0:j1])      # real rows x fake columns
                inside = d < r_rad[i0:i1, None]
                fake_covered[j0:j1] |= inside.any(0)
                fake_counts[j0:j1] += inside.sum(0)
                real_covered[i0:i1] |= (d < f_rad[None, j0:j1]).any(1)
                nearest_fake[i0:i1] = torch.minimum(nearest_fake[i0:i1], d.min(1).values)
        # the final means in NumPy, as prdc takes them (same summation, same (1/k) * mean order)
        precision = float(fake_covered.cpu().numpy().mean())
        recall = float(real_covered.cpu().numpy().mean())
        density = float((1.0 / float(nearest_k)) * fake_counts.cpu().numpy().mean())
        coverage = float((nearest_fake < r_rad).cpu().numpy().mean())
    return PRDCResult(precision=precision, recall=recall, density=density, coverage=coverage,
                      nearest_k=nearest_k, num_real=int(n_r), num_fake=int(n_f),
                      distance_dtype=str(out_dtype).replace("torch.", ""))
