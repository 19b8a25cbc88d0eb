"""Fréchet distance between two Gaussians, exact and fast.

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

The eigenvalues of S1 S2 equal those of the symmetric matrix M = A^T S2 A for any A with
A A^T = S1 (similar matrices), so tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(M)). A is the Cholesky
factor of S1 when S1 is positive definite (else of S2, the roles being symmetric), else the
symmetric square root from the eigenvalues of S1 (the singular case: fewer samples than dimensions). One Cholesky (or one eigh), two matrix
products and one symmetric eigenvalue solve in float64: no scipy ``sqrtm`` (a Schur
decomposition of a non-symmetric matrix, much slower and with complex round-off), and it runs
on the GPU when the inputs live there or ``device`` says so.

Eigenvalues of M below zero are round-off (M is positive semi-definite); they are clipped to zero
and reported in :class:`FrechetDetails`. The distance itself is never clipped: a slightly negative
value (identical statistics up to round-off) is returned as is.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch

from .._core.device import DeviceLike, resolve_device

ArrayLike = Union[np.ndarray, torch.Tensor]


@dataclass
class FrechetDetails:
    """The distance and its parts; ``num_negative_eigenvalues`` of M were clipped to 0."""

    distance: float
    mean_term: float            # |mu1 - mu2|^2
    trace_term: float           # tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))
    trace_sqrt: float           # tr((S1 S2)^(1/2))
    factorisation: str          # 'cholesky' or 'eigh' (S1 singular)
    num_negative_eigenvalues: int
    most_negative_eigenvalue: float
    negative_eigenvalue_mass: float   # sum of sqrt(|lambda|) of the clipped ones, an error bound on trace_sqrt

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _as_f64(x: ArrayLike, device: torch.device, what: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    t = t.to(device=device, dtype=torch.float64)
    if not torch.isfinite(t).all():
        raise ValueError(f"{what} contains NaN or inf values; the statistics are broken (recompute them)")
    return t


def _check(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor, s2: torch.Tensor) -> None:
    d = mu1.shape[-1] if mu1.ndim else 0
    if mu1.ndim != 1 or mu2.shape != mu1.shape:
        raise ValueError(f"mean vectors must be 1-D of equal length, got {tuple(mu1.shape)} and {tuple(mu2.shape)}")
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if tuple(s.shape) != (d, d):
            raise ValueError(f"{name} must be [{d}, {d}] to match the means, got {tuple(s.shape)} "
                             "(were the two statistics computed with different feature extractors?)")


def _root_factor(s: torch.Tensor) -> tuple[torch.Tensor, str]:
    """A with A A^T = s: Cholesky when s is positive definite, else V diag(sqrt(max(l, 0))) V^T."""
    L, info = torch.linalg.cholesky_ex(s)
    if int(info) == 0:
        return L, "cholesky"
    lam, V = torch.linalg.eigh(s)
    return (V * lam.clamp_min(0).sqrt()) @ V.T, "eigh"


def frechet_details(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike,
                    device: DeviceLike = None) -> FrechetDetails:
    """Fréchet distance with its terms and the round-off report (see module docstring).

    ``device``: None uses the inputs' device when they are CUDA tensors, else CUDA when present.
    """
    if device is None:
        device = mu1.device if isinstance(mu1, torch.Tensor) and mu1.is_cuda else "auto"
    dev = resolve_device(device)
    m1, s1 = _as_f64(mu1, dev, "mu1"), _as_f64(sigma1, dev, "sigma1")
    m2, s2 = _as_f64(mu2, dev, "mu2"), _as_f64(sigma2, dev, "sigma2")
    _check(m1, s1, m2, s2)
    # Symmetrise: a covariance saved in float32 or accumulated on a GPU may be asymmetric by round-off.
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    # tr((S1 S2)^(1/2)) is symmetric in S1, S2: factor whichever is positive definite.
    A, how = _root_factor(s1)
    other = s2
    if how == "eigh":
        L2, info = torch.linalg.cholesky_ex(s2)
        if int(info) == 0:
            A, how, other = L2, "cholesky", s1
    M = A.T @ other @ A
    lam = torch.linalg.eigvalsh((M + M.T) / 2)
    neg = lam < 0
    trace_sqrt = lam.clamp_min(0).sqrt().sum()
    diff = m1 - m2
    mean_term = diff @ diff
    trace_term = torch.trace(s1) + torch.trace(s2) - 2 * trace_sqrt
    return FrechetDetails(
        distance=float(mean_term + trace_term), mean_term=float(mean_term), trace_term=float(trace_term),
        trace_sqrt=float(trace_sqrt), factorisation=how, num_negative_eigenvalues=int(neg.sum()),
        most_negative_eigenvalue=float(lam.min().clamp_max(0)),
        negative_eigenvalue_mass=float(lam[neg].abs().sqrt().sum()) if bool(neg.any()) else 0.0)


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike,
                     device: DeviceLike = None) -> float:
    """d^2 = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)) in float64 (numpy or torch inputs).

    Warns (``RuntimeWarning``) when clipped negative eigenvalues could move the result by more
    than 1e-6 relative, or when the result is negative; the value is returned unclipped.
    """
    det = frechet_details(mu1, sigma1, mu2, sigma2, device=device)
    scale = max(abs(det.distance), 1e-12)
    if 2 * det.negative_eigenvalue_mass > 1e-6 * scale:
        warnings.warn(f"Fréchet distance: {det.num_negative_eigenvalues} negative eigenvalues of S1^(1/2) S2 S1^(1/2) "
                      f"(min {det.most_negative_eigenvalue:.3g}) clipped to 0; they bound the round-off error of the "
                      f"result by {2 * det.negative_eigenvalue_mass:.3g}", RuntimeWarning, stacklevel=2)
    if det.distance < 0:
        warnings.warn(f"Fréchet distance came out negative ({det.distance:.3g}): the two statistics are equal up to "
                      "round-off; reported unclipped", RuntimeWarning, stacklevel=2)
    return det.distance
