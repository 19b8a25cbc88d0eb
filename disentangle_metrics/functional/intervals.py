"""Confidence intervals for the metrics: one :class:`Interval` type and one estimator per metric.

No anchor (the paper's code, stylegan2-ada-pytorch, torch-fidelity) reports an interval on FID,
PPL or separability; these are this project's. Each is computed from arrays the metric already
has, and says which estimator made it (``method``):

- PPL (``ppl_bootstrap``): nonparametric bootstrap over the per-sample distances d_i; inside each
  resample the 1st/99th percentile filter is applied again, so the interval includes the
  filter's own variability. value = PPL of the full sample, SE = std of the resampled PPLs,
  interval = their 2.5 / 97.5 percentiles.
- FID (``fid_jackknife``): delete-one-group jackknife. The generated features are accumulated in
  K groups (count, sum, sum of outer products; no per-sample features kept), FID_{-k} is the
  Fréchet distance of all groups but k against the reference, and

      SE^2 = (K - 1) / K * sum_k (FID_{-k} - mean_k FID_{-k})^2,  interval = FID +- z SE.

  The reference statistics are treated as fixed (they are the same for every model compared).
  Groups take every K-th row of each batch; the rows of one batch share a noise draw, so the
  batch-to-batch variation of the noise is averaged into every group rather than resolved.
- FID-infinity (``fid_infinity``, Chong and Forsyth 2020): FID of nested unions of the groups
  (N_m = m N / K images) fitted linearly in 1 / N; the intercept is the bias-free FID_inf.
- Separability (``ls_bootstrap``): bootstrap over the samples with SVM refits. A resample is a
  vector of multiplicities (multinomial counts), which the batched solver takes as per-sample
  weights, so all resamples x attributes are one batched fit; the most-confident half is chosen
  again inside each resample. SE of log2(score) = sum_a H_a from the B resamples, t_{B-1} interval
  on that scale mapped back by 2 ** x (SE reported by the delta method). Cost: B times the SVM stage
  (default B = 20; at the mini scale ~1.4 s per resample and space on one CPU thread).
- KID (``subset_interval``): from the per-subset MMD^2 values; SE = std * sqrt(m / N) (the
  leading U-statistic variance term scales as 1 / m, for subsets of m out of N samples).
  ``kid_interval`` (what KID rows use) adds the finite-population correction,
  SE = std * sqrt(m / (N - m)): subsets drawn from the N samples vary less than independent ones.
- Inception Score (``split_interval``): SE of the mean of the S split scores (disjoint parts),
  t_{S-1} interval.
- Precision / recall (``pr_interval``): recomputed on S = 10 disjoint parts of both samples (each
  part its own k-NN manifold), SE = std / sqrt(S), t_{S-1}.
- Over training seeds (``seed_interval``): mean and Student-t interval of the mean.
- Differences (``difference``): a - b with SE = sqrt(SE_a^2 + SE_b^2) (independent runs).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Optional, Sequence

import numpy as np
import torch

LEVEL = 0.95
PPL_RESAMPLES = 1000
LS_RESAMPLES = 20
FID_GROUPS = 10
PR_GROUPS = 10


@dataclass(frozen=True)
class Interval:
    """A value with its standard error and ``level`` confidence interval [low, high]."""

    value: float
    stderr: float
    low: float
    high: float
    method: str
    level: float = LEVEL

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``MetricResult.intervals`` entries)."""
        return asdict(self)

    def covers(self, truth: float) -> bool:
        """low <= truth <= high."""
        return bool(self.low <= truth <= self.high)


def _z(level: float) -> float:
    from scipy.stats import norm
    return float(norm.ppf(0.5 + level / 2))


def normal_interval(value: float, stderr: float, method: str, level: float = LEVEL) -> Interval:
    """value +- z_{level} * stderr."""
    h = _z(level) * stderr
    return Interval(float(value), float(stderr), float(value - h), float(value + h), method, level)


def percentile_interval(value: float, replicates: np.ndarray, method: str, level: float = LEVEL) -> Interval:
    """SE = std of the bootstrap replicates, interval = their (1 -/+ level) / 2 quantiles."""
    r = np.asarray(replicates, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size < 2:
        raise ValueError(f"{method}: fewer than 2 finite bootstrap replicates; cannot form an interval")
    a = (1 - level) / 2
    lo, hi = np.quantile(r, [a, 1 - a])
    return Interval(float(value), float(r.std(ddof=1)), float(lo), float(hi), method, level)


# --------------------------------------------------------------------------------------------
# PPL


def ppl_bootstrap(distances: np.ndarray, num_resamples: int = PPL_RESAMPLES, seed: int = 0, level: float = LEVEL,
                  lower: float = 1.0, upper: float = 99.0, chunk_elems: int = 20_000_000) -> Interval:
    """Bootstrap interval of PPL = mean{d_i : lo <= d_i <= hi} (lo / hi = 1st 'lower' / 99th 'higher'
    percentile), the filter recomputed inside each of ``num_resamples`` resamples."""
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 1 or d.size < 2:
        raise ValueError(f"PPL bootstrap needs a 1-D array of at least 2 distances, got shape {d.shape}")
    if num_resamples < 2:
        raise ValueError(f"num_resamples must be >= 2, got {num_resamples}")
    n = d.size

    def filtered_mean(x: np.ndarray) -> np.ndarray:
        lo = np.percentile(x, lower, axis=-1, method="lower", keepdims=True)
        hi = np.percentile(x, upper, axis=-1, method="higher", keepdims=True)
        keep = (x >= lo) & (x <= hi)
        return (x * keep).sum(-1) / keep.sum(-1)

    rng = np.random.default_rng(seed)
    per = max(1, chunk_elems // n)
    reps = []
    for start in range(0, num_resamples, per):
        b = min(per, num_resamples - start)
        reps.append(filtered_mean(d[rng.integers(0, n, size=(b, n))]))
    value = float(filtered_mean(d))
    return percentile_interval(value, np.concatenate(reps), f"bootstrap over samples ({num_resamples} resamples, "
                               "percentile filter refit in each)", level)


# --------------------------------------------------------------------------------------------
# FID


class GroupedFeatures:
    """Wraps a feature extractor: every call's features are also split row-wise into K groups.

    The wrapped extractor is called as before (``generator_stats`` sees no difference); the
    groups hold count, sum and sum of outer products in float64 (K D^2 numbers, no per-sample
    features).
    """

    def __init__(self, extractor: Any, groups: int = FID_GROUPS) -> None:
        from .stats import FeatureStats
        if groups < 2:
            raise ValueError(f"FID intervals need at least 2 groups, got {groups}")
        self._ext = extractor
        self._calls = 0
        self.groups: list[Any] = [None] * groups
        self._make = FeatureStats

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ext, name)

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        f = self._ext(*args, **kwargs)
        self.add(f)
        return f

    def add(self, f: torch.Tensor, batch_index: Optional[int] = None) -> None:
        """Split the features ``f`` of global batch ``batch_index`` (default: the count of calls so far,
        which is the global index in one process) into the groups.

        Row r of batch j goes to group (r + j) % K: every group gets ~N / K samples however few
        batches there are (rows of one batch share a noise draw; see the module doc). Under
        torch.distributed the global batch index keeps the groups those of one process."""
        K = len(self.groups)
        if self.groups[0] is None:   # all at once, so every rank holds every group for all_reduce_
            self.groups = [self._make(f.shape[1], device=f.device) for _ in self.groups]
        j = self._calls if batch_index is None else int(batch_index)
        for k in range(min(K, f.shape[0])):
            self.groups[(k + j) % K].update(f[k::K])
        self._calls += 1

    def all_reduce_(self) -> "GroupedFeatures":
        """Sum every group over torch.distributed ranks.

        Every rank reduces every group, filled or not: which groups a rank filled depends on its share
        of the batches, and a collective skipped on one rank would wait forever on the others."""
        from .._core import distributed
        if distributed.info().world_size == 1:
            return self
        if self.groups[0] is None:      # this rank saw no batch: zeros of the extractor's width
            dim = getattr(self._ext, "feature_dim", None)
            if dim is None:
                raise RuntimeError("GroupedFeatures.all_reduce_ on a rank without batches needs the extractor's "
                                   "feature_dim")
            self.groups = [self._make(int(dim)) for _ in self.groups]
        for g in self.groups:
            g.all_reduce_()
        return self

    def filled(self) -> list[Any]:
        """The groups that received features."""
        return [g for g in self.groups if g is not None and g.count > 1]


def _union(groups: Sequence[Any]) -> Any:
    from .stats import FeatureStats
    out = FeatureStats(groups[0].dim, device=groups[0].device)
    for g in groups:
        out.merge(g)
    return out


def _fd(st: Any, ref: Any, device: Any) -> float:
    from .frechet import frechet_details
    return float(frechet_details(st.mean(), st.cov(), ref.mean(), ref.cov(), device=device).distance)


def fid_jackknife(value: float, groups: Sequence[Any], ref: Any, device: Any = None, level: float = LEVEL) -> Interval:
    """Delete-one-group jackknife interval of FID (module docstring); ``groups``: FeatureStats."""
    K = len(groups)
    if K < 2:
        raise ValueError(f"FID jackknife needs at least 2 filled groups, got {K}")
    loo = np.array([_fd(_union([g for j, g in enumerate(groups) if j != k]), ref, device) for k in range(K)])
    se = math.sqrt((K - 1) / K * float(((loo - loo.mean()) ** 2).sum()))
    from scipy.stats import t as student_t
    h = float(student_t.ppf(0.5 + level / 2, K - 1)) * se   # the SE has K - 1 degrees of freedom
    return Interval(float(value), se, float(value - h), float(value + h),
                    f"delete-one-group jackknife ({K} groups of generated features, t_{K - 1}, reference fixed)", level)


def fid_infinity(groups: Sequence[Any], ref: Any, device: Any = None) -> dict[str, Any]:
    """FID_inf (Chong and Forsyth 2020): FID of the first m groups' union for m = ceil(K/2) .. K,
    least-squares line in 1 / N_m, intercept at 1 / N = 0. Returns intercept, slope and the points."""
    K = len(groups)
    if K < 3:
        raise ValueError(f"FID-infinity needs at least 3 groups, got {K}")
    ms = list(range((K + 1) // 2, K + 1))
    n = np.array([sum(g.count for g in groups[:m]) for m in ms], dtype=np.float64)
    f = np.array([_fd(_union(groups[:m]), ref, device) for m in ms])
    slope, intercept = np.polyfit(1.0 / n, f, 1)
    return {"fid_inf": float(intercept), "slope": float(slope), "num": n.astype(int).tolist(), "fid": f.tolist()}


# --------------------------------------------------------------------------------------------
# Separability


def _weighted_entropy_bits(pred: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """H(Y | X) in bits per column from per-sample weights ``w`` [N, C] (0 = left out)."""
    n = w.sum(0).clamp_min(1e-300)
    p = torch.stack([torch.stack([((pred == x) & (target == y)).double().mul(w).sum(0) / n for y in (0, 1)], -1)
                     for x in (0, 1)], -2)
    px = p.sum(-1, keepdim=True)
    terms = torch.where(p > 0, -p * torch.log2(p / px.clamp_min(1e-300)), torch.zeros_like(p))
    return terms.sum((-2, -1)).clamp_min(0)


def ls_bootstrap(value: float, latents: torch.Tensor, logits: torch.Tensor, num_keep: int,
                 num_resamples: int = LS_RESAMPLES, seed: int = 0, level: float = LEVEL,
                 svm_options: Optional[dict[str, Any]] = None, chunk_columns: int = 512) -> Interval:
    """Bootstrap interval of one space's separability 2 ** sum_a H_a(Y | X) (module docstring).

    ``latents`` [N, D], ``logits`` [N, A]; per resample, multiplicities c_i ~ Multinomial(N, 1/N),
    per attribute the ``num_keep`` most confident of the resampled multiset (by |logit|, ties by
    index) are kept with their multiplicities, an SVM is refit with them as sample weights, and
    H is the weighted in-sample conditional entropy. Attributes whose kept resample has one class
    contribute H = 0, as in the metric.
    """
    from .linear_svm import solve_squared_hinge
    if num_resamples < 2:
        raise ValueError(f"num_resamples must be >= 2 (the standard error needs two replicates), got {num_resamples}")
    opts = dict(C=1.0, tol=1e-4, max_iter=1000, intercept_scaling=1.0)
    opts.update(svm_options or {})
    X = latents.double()
    L = logits.to(X.device).double()
    N, A = L.shape
    dev = X.device
    order = torch.sort(-L.abs(), dim=0, stable=True).indices                  # [N, A]
    target = (L < 0).long()                                                   # [N, A]
    g = torch.Generator().manual_seed(int(seed))
    per = max(1, chunk_columns // A)
    reps = []
    for start in range(0, num_resamples, per):
        b = min(per, num_resamples - start)
        counts = torch.stack([torch.bincount(torch.randint(0, N, (N,), generator=g), minlength=N)
                              for _ in range(b)]).to(dev, torch.float64)      # [b, N]
        c_sorted = counts[:, order]                                           # [b, N, A] in confidence order
        before = c_sorted.cumsum(1) - c_sorted
        kept_sorted = (num_keep - before).clamp(min=0).minimum(c_sorted)
        W = torch.zeros_like(kept_sorted).scatter_(1, order.expand(b, N, A), kept_sorted)   # [b, N, A]
        W = W.permute(1, 0, 2).reshape(N, b * A)
        T = target.repeat(1, b)                                               # [N, b*A]
        pos = ((T == 1) * W).sum(0)
        fit = (pos > 0) & (pos < W.sum(0))
        h = torch.zeros(b * A, dtype=torch.float64, device=dev)
        cols = torch.nonzero(fit).flatten()
        if cols.numel():
            Wc, Tc = W[:, cols], T[:, cols]
            rows = torch.nonzero(Wc.sum(1) > 0).flatten()
            Xr = X[rows]
            P, _, _, _ = solve_squared_hinge(Xr.float(), (2.0 * Tc[rows] - 1).double(), Wc[rows],
                                             C=opts["C"], tol=opts["tol"], max_iter=opts["max_iter"],
                                             intercept_scaling=opts["intercept_scaling"])
            dec = Xr @ P[:-1] + opts["intercept_scaling"] * P[-1]
            pred = (dec > 0).long()
            h[cols] = _weighted_entropy_bits(pred, Tc[rows], Wc[rows])
        reps.append(h.view(b, A).sum(1).cpu().numpy())
    # A few dozen resamples estimate a standard error well but tail quantiles poorly: normal
    # interval of log2(score) = sum_a H_a with the bootstrap SE, mapped back by 2 ** x.
    r = np.concatenate(reps)
    se_log = float(r.std(ddof=1))
    from scipy.stats import t as student_t
    z = float(student_t.ppf(0.5 + level / 2, r.size - 1)) * se_log   # the SE has B - 1 degrees of freedom
    log_v = math.log2(value) if value > 0 else float("nan")
    return Interval(float(value), float(value * math.log(2) * se_log), float(2 ** (log_v - z)), float(2 ** (log_v + z)),
                    f"bootstrap over samples with SVM refits ({num_resamples} resamples), t interval on log2 scale",
                    level)


# --------------------------------------------------------------------------------------------
# KID, seeds, differences


def subset_interval(values: np.ndarray, subset_size: int, num_samples: int, level: float = LEVEL) -> Interval:
    """KID-style interval from per-subset estimates: mean +- z std * sqrt(subset_size / num_samples)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        raise ValueError("subset_interval needs at least 2 subset values")
    se = float(v.std(ddof=1)) * math.sqrt(min(1.0, subset_size / num_samples))
    return normal_interval(float(v.mean()), se, f"subsets ({v.size} of {subset_size} of {num_samples} samples)", level)


def seed_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean over independent runs (seeds) with the Student-t interval of the mean; SE = std / sqrt(n)."""
    from scipy.stats import t as student_t
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        raise ValueError("seed_interval needs at least one finite value")
    if v.size == 1:
        return Interval(float(v[0]), float("nan"), float("nan"), float("nan"), "one seed", level)
    se = float(v.std(ddof=1) / math.sqrt(v.size))
    h = float(student_t.ppf(0.5 + level / 2, v.size - 1)) * se
    return Interval(float(v.mean()), se, float(v.mean() - h), float(v.mean() + h),
                    f"mean over {v.size} seeds, Student t", level)


def difference(a: Interval, b: Interval, level: float = LEVEL) -> Interval:
    """a - b for independent estimates: SE = sqrt(SE_a^2 + SE_b^2), normal interval."""
    return normal_interval(a.value - b.value, math.hypot(a.stderr, b.stderr), f"difference ({a.method}; {b.method})",
                           level)


# --------------------------------------------------------------------------------------------
# Inception Score, precision / recall


def parts_interval(value: float, part_values: Sequence[float], method: str, level: float = LEVEL) -> Interval:
    """value +- t_{S-1} SE with SE = std_s(ddof=1) / sqrt(S) of S estimates on disjoint parts of the sample.

    Each part holds N / S of the samples, so its estimates vary by Var ~ c S / N when the
    variance falls as 1 / N, and std_s / sqrt(S) estimates the SE of one estimate on all N.
    """
    from scipy.stats import t as student_t
    s = np.asarray(part_values, dtype=np.float64)
    if s.ndim != 1 or s.size < 2:
        raise ValueError(f"{method}: needs at least 2 part estimates, got shape {s.shape}")
    se = float(s.std(ddof=1) / math.sqrt(s.size))
    h = float(student_t.ppf(0.5 + level / 2, s.size - 1)) * se
    return Interval(float(value), se, float(value - h), float(value + h), method, level)


def split_interval(scores: np.ndarray, level: float = LEVEL) -> Interval:
    """Interval of IS = mean_s IS_s from its S split scores: :func:`parts_interval` around their mean.

    The splits are disjoint parts of the sample, so their scores are independent draws of the
    score of N / S images; the reported IS is their mean (the anchors report np.std over splits,
    the spread of one split, not the SE of the mean).
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size < 2:
        raise ValueError(f"split_interval needs at least 2 split scores, got shape {s.shape}; use num_splits >= 2")
    return parts_interval(float(s.mean()), s, f"splits ({s.size} disjoint parts, SE of their mean, t_{s.size - 1})",
                          level)


def pr_parts(num_gen: int, num_real: int, groups: int = PR_GROUPS) -> list[tuple[slice, slice]]:
    """Row slices (generated, real) of the ``groups`` disjoint parts precision/recall is recomputed on.

    Every ``groups``-th row (``i::groups``), so an ordered dataset is spread over all parts.
    """
    if groups < 2:
        raise ValueError(f"precision/recall intervals need at least 2 parts, got {groups}")
    return [(slice(i, num_gen, groups), slice(i, num_real, groups)) for i in range(groups)]


def pr_interval(value: float, part_values: Sequence[float], num_gen: int, num_real: int,
                level: float = LEVEL) -> Interval:
    """Interval of precision or recall from its values on disjoint parts of *both* samples (:func:`pr_parts`).

    Both sides vary: the probe points and the other side's k-NN manifold (radii). A bootstrap of the
    probes' hit flags holds the manifold fixed and is 26-53% short; resampling with replacement
    breaks the k-NN radii (duplicates sit at distance 0). Each part recomputes the manifold from its
    own N / S points, and SE = std_s / sqrt(S) (:func:`parts_interval`), t_{S-1}. This assumes the
    variance falls as 1 / N, which k-NN statistics only approach; on Gaussian toys
    (``python -m benchmarks.interval_calibration``, k = 3) the SE against the spread over fresh draws
    of both sides is, for precision / recall: 8-d, 1000 vs 1000: 0.0093 / 0.0186 against 0.0090 /
    0.0216; 16-d, 2000 vs 2000: 0.0133 / 0.0124 against 0.0184 / 0.0165 (3-28% short; the manifold
    held fixed: 0.0067 / 0.0145 and 0.0098 / 0.0077). Extra cost: 1 / S of the full computation.
    """
    s = len(part_values)
    iv = parts_interval(value, part_values, f"disjoint parts ({s} parts of {num_gen // s} generated and "
                        f"{num_real // s} real, manifold recomputed per part, t_{s - 1})", level)
    return replace(iv, low=max(iv.low, 0.0), high=min(iv.high, 1.0))   # a fraction


def kid_interval(values: np.ndarray, subset_size: int, num_gen: int, num_real: int, level: float = LEVEL) -> Interval:
    """KID's interval from its per-subset MMD^2 values, with the finite-population correction.

    Subsets of m drawn without replacement from N samples vary by Var_sub ~ c (1 / m - 1 / N)
    (the U-statistic's first-order term is a subsample mean), while the full-sample estimate has
    Var ~ c / N, so SE = std_sub * sqrt(m / (N - m)). :func:`subset_interval`'s sqrt(m / N) drops
    the correction and understates the SE by sqrt((N - m) / N) (by 29% at m = N / 2; 1% at the
    anchors' 1000 of 50,000). N = min(num_gen, num_real) bounds the two sides' mix from above.
    Needs m < N: subsets holding every sample cannot vary.
    """
    v = np.asarray(values, dtype=np.float64)
    n = min(int(num_gen), int(num_real))
    if v.size < 2:
        raise ValueError("kid_interval needs at least 2 subset values (num_subsets >= 2)")
    if subset_size >= n:
        raise ValueError(f"kid_interval: subsets of {subset_size} from {n} samples hold every sample and cannot vary; "
                         "use more samples than the subset size")
    se = float(v.std(ddof=1)) * math.sqrt(subset_size / (n - subset_size))
    return normal_interval(float(v.mean()), se, f"subsets ({v.size} of {subset_size} of {n} samples, "
                           "finite-population corrected)", level)
