"""Sampling the test bed's binary attributes: a Gaussian copula plus forbidden combinations.

Each image draws a latent Gaussian vector with the correlation matrix given by the config's
couplings; attribute ``a`` is on when its latent lies below ``Phi^-1(p_a)``, so marginals and
couplings are set independently. Forbidden combinations are removed by rejection: every image draws
``CANDIDATES`` latent vectors from its own seed and keeps the first that contains no forbidden pair,
so image ``i`` does not depend on the batch it is drawn in. Rejection lowers the marginals of the
attributes in forbidden pairs a little; :func:`empirical_marginals` reports what is actually drawn.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from scipy.stats import multivariate_normal, norm

from disentangle_metrics._core import sampling

from .testbed_config import ATTRIBUTES, TestbedConfig

#: Random streams of the test bed (distinct from the metric streams in :class:`sampling.Stream`).
STREAM_ATTRIBUTES = 101
STREAM_NUISANCE = 102
STREAM_DETAIL = 103

#: Latent draws per image for the rejection of forbidden combinations.
CANDIDATES = 32


def latent_correlation(config: TestbedConfig) -> np.ndarray:
    """The [A, A] latent correlation matrix; raises if the couplings do not form a valid one."""
    idx = {a: i for i, a in enumerate(ATTRIBUTES)}
    c = np.eye(len(ATTRIBUTES))
    for cp in config.couplings:
        c[idx[cp.a], idx[cp.b]] = c[idx[cp.b], idx[cp.a]] = float(cp.strength)
    lowest = float(np.linalg.eigvalsh(c).min())
    if lowest <= 1e-6:
        pairs = ", ".join(f"({cp.a}, {cp.b}, {cp.strength})" for cp in config.couplings)
        raise ValueError(f"test bed couplings [{pairs}] do not form a valid correlation matrix (smallest eigenvalue "
                         f"{lowest:.3g} <= 0); weaken some strengths, e.g. chains like a~b, b~c, a~c with inconsistent signs")
    return c


def _thresholds(config: TestbedConfig) -> np.ndarray:
    p = np.clip(np.array([config.marginals[a] for a in ATTRIBUTES], dtype=np.float64), 0.0, 1.0)
    return norm.ppf(p)  # p=0 -> -inf (never on), p=1 -> +inf (always on)


def sample_attributes(config: TestbedConfig, indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """Boolean attributes [N, A] (columns in :data:`ATTRIBUTES` order) of the images ``indices``."""
    indices = np.asarray(indices, dtype=np.int64)
    if indices.ndim != 1 or (indices.size and indices.min() < 0):
        raise ValueError(f"indices must be a 1-D array of non-negative image indices, got shape {indices.shape}")
    a = len(ATTRIBUTES)
    if indices.size == 0:
        return np.zeros((0, a), dtype=bool)
    chol = np.linalg.cholesky(latent_correlation(config))
    eps = sampling.randn(config.seed, indices, (CANDIDATES, a), stream=STREAM_ATTRIBUTES).double().numpy()
    latent = eps @ chol.T                                        # [N, K, A]
    cand = latent < _thresholds(config)
    ok = np.ones(cand.shape[:2], dtype=bool)
    col = {name: i for i, name in enumerate(ATTRIBUTES)}
    for x, y in config.forbidden:
        ok &= ~(cand[..., col[x]] & cand[..., col[y]])
    if not ok.any(axis=1).all():
        bad = int(indices[~ok.any(axis=1)][0])
        raise ValueError(f"test bed: image {bad} drew a forbidden combination in all {CANDIDATES} tries; the config's "
                         f"marginals/couplings make the forbidden pairs {config.forbidden} nearly certain. Lower those marginals "
                         "or couple the pairs negatively")
    first = ok.argmax(axis=1)
    return cand[np.arange(len(indices)), first]


def expected_joint_probability(config: TestbedConfig, a: str, b: str) -> float:
    """P(a and b) implied by the copula before rejection (exact for pairs outside forbidden combinations' reach)."""
    i, j = ATTRIBUTES.index(a), ATTRIBUTES.index(b)
    rho = latent_correlation(config)[i, j]
    t = _thresholds(config)
    return float(multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([t[i], t[j]]))


def expected_phi(config: TestbedConfig, a: str, b: str) -> float:
    """Pearson correlation of the binary labels a and b implied by the copula before rejection."""
    pa, pb = config.marginals[a], config.marginals[b]
    pab = expected_joint_probability(config, a, b)
    return float((pab - pa * pb) / np.sqrt(pa * (1 - pa) * pb * (1 - pb)))


def empirical_marginals(attributes: np.ndarray) -> dict[str, float]:
    """Fraction of positives per attribute of a boolean [N, A] array."""
    attributes = np.asarray(attributes, dtype=bool)
    return {name: float(attributes[:, k].mean()) for k, name in enumerate(ATTRIBUTES)}


def as_tensor(attributes: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean attribute array -> float tensor of 0/1 on ``device``."""
    return torch.as_tensor(np.asarray(attributes, dtype=np.float32), device=device)
