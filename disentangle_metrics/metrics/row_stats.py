"""Each row's statistic on the features of one shared pass, from the pure functions of :mod:`..functional`,
with its 95% interval: FID the delete-one-group jackknife on groups filled in the pass, KID from its
subsets, IS from its splits, precision / recall on 10 disjoint parts of both sides, CMMD its
jackknife; or the reason there is none."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import torch

from .._core.options import ScoreOptions
from .._core.results import MetricResult
from ..features import FeatureExtractor
from ..features import extract as FP
from ..functional import intervals
from ..functional.frechet import frechet_details
from ..functional.inception_score import inception_score_from_logits
from ..functional.kid import kid_from_features
from ..functional.precision_recall import precision_recall_from_features, precision_recall_parts
from ..functional.stats import FeatureStats
from .rows import ImageMetric, _max_real, _mirror


def _parts_too_small(num_gen: int, num_real: int, k: int) -> Optional[str]:
    """Why a k-NN statistic gets no parts interval (each of the parts must hold more than k per side), or None."""
    S = intervals.PR_GROUPS
    if min(num_gen, num_real) // S > k:
        return None
    return (f"no interval: the {S} parts of {min(num_gen, num_real) // S} samples it is recomputed on need more "
            f"than k = {k}; use at least {S * (k + 1)} samples per side")


def _stats_of(all_feats: torch.Tensor, dim: int, device: torch.device) -> FeatureStats:
    st = FeatureStats(dim, device=device)
    for chunk in all_feats.split(4096):
        st.update(chunk)
    return st


def row_result(m: ImageMetric, gen: FP.Features, real: Optional[tuple[dict[str, FP.Features], str]], e: str,
         ext: FeatureExtractor, num_gen: int, opts: ScoreOptions, dev: torch.device) -> MetricResult:
    cfg: dict[str, Any] = {}
    if real is not None:
        rfeat, rdesc = real
        r = rfeat[e]
        n_real = _max_real([m], opts)
        cfg.update(reference=rdesc, mirror=_mirror(m, opts))
    if m.kind == "fid":
        if r.all is not None:
            ref = _stats_of(r.all if n_real is None else r.all[:n_real], ext.feature_dim, dev)
        else:
            ref = r.stats
        if ref.dim != ext.feature_dim:
            raise ValueError(f"reference statistics are {ref.dim}-d but extractor {e} gives {ext.feature_dim}-d features")
        det = frechet_details(gen.stats.mean(), gen.stats.cov(), ref.mean(), ref.cov(), device=dev)
        cfg.update(num_real=ref.count if ref.count_known else None)
        res = MetricResult(metric=m.name, value=det.distance, values={"": det.distance}, config=cfg,
                           extras=dict(frechet=det.as_dict(), reference_info={k: v for k, v in ref.info.items()
                                                                              if k != "skipped_files"}))
        groups = gen.groups.filled() if gen.groups is not None else []
        if m.params.get("fid_infinity"):    # Chong and Forsyth 2020, on the same groups
            res.extras["fid_infinity"] = intervals.fid_infinity(groups, ref, device=dev)
        if len(groups) >= 2:        # the delete-one-group jackknife
            res.add_interval("", intervals.fid_jackknife(det.distance, groups, ref, device=dev))
        else:
            res.extras["interval"] = (f"no interval: {num_gen} generated samples fill {len(groups)} of "
                                      f"{intervals.FID_GROUPS} jackknife groups with 2 or more samples; at least 2 "
                                      "are needed")
        return res
    if m.kind == "kid":
        y = r.all if n_real is None else r.all[:n_real]
        k = kid_from_features(gen.all, y, seed=opts.seed, device=dev, **m.params)
        cfg.update(num_real=int(y.shape[0]), subset_size=k.subset_size, subset_seed=k.seed,
                   subset_rng="np.random.RandomState(seed).choice(replace=False), generated then real")
        res = MetricResult(metric=m.name, value=k.mean, values={"": k.mean, "_std": k.std}, config=cfg,
                           samples={"subset_mmd2": k.subsets} if opts.keep_samples else {})
        # subsets of m out of min(N_gen, N_real): the scarcer side bounds what the subsets can average away
        n_min = min(num_gen, int(y.shape[0]))
        if k.subset_size >= n_min:
            # every subset of the scarcer side is all of it: their spread is summation-order rounding,
            # not sampling variability, and would pass for a near-zero interval
            res.extras["interval"] = (f"no interval: every subset holds all {n_min} "
                                      f"{'generated' if num_gen <= y.shape[0] else 'real'} samples (subset size "
                                      f"{k.subset_size}), so the subsets cannot vary; use more samples than the "
                                      "subset size (max_subset_size)")
        elif k.num_subsets >= 2:
            res.add_interval("", intervals.kid_interval(k.subsets, k.subset_size, num_gen, int(y.shape[0])))
        else:
            res.extras["interval"] = "no interval: one KID subset; at least 2 are needed"
        return res
    if m.kind == "pr":
        y = r.all if n_real is None else r.all[:n_real]
        pr = precision_recall_from_features(gen.all, y, device=dev, **m.params)
        cfg.update(num_real=int(y.shape[0]), feature_dtype=pr.feature_dtype, nhood_size=pr.nhood_size)
        res = MetricResult(metric=m.name, value=pr.precision,
                           values={"_precision": pr.precision, "_recall": pr.recall}, config=cfg,
                           extras=dict(f_score=pr.f_score))
        ng, nr, S = int(gen.all.shape[0]), int(y.shape[0]), intervals.PR_GROUPS
        why_not = _parts_too_small(ng, nr, pr.nhood_size)
        if why_not is None:
            parts = precision_recall_parts(gen.all, y, S, device=dev, **m.params)
            res.add_interval("_precision", intervals.pr_interval(pr.precision, [q.precision for q in parts], ng, nr))
            res.add_interval("_recall", intervals.pr_interval(pr.recall, [q.recall for q in parts], ng, nr))
        else:
            res.extras["interval"] = why_not
        return res
    if m.kind == "cmmd":
        from ..functional.cmmd import cmmd_from_embeddings
        y = r.all if n_real is None else r.all[:n_real]
        c = cmmd_from_embeddings(gen.all, y, device=dev, **m.params)
        cfg.update(num_real=int(y.shape[0]), sigma=c.sigma, scale=c.scale, kernel="exp(-|a-b|^2 / (2 sigma^2))",
                   estimator="biased MMD^2 (diagonals included), float64")
        res = MetricResult(metric=m.name, value=c.value, values={"": c.value}, config=cfg)
        res.add_interval("", c.interval)
        return res
    if m.kind == "prdc":
        from ..functional.prdc import prdc_from_features
        y = r.all if n_real is None else r.all[:n_real]
        q = prdc_from_features(y, gen.all, device=dev, **m.params)
        cfg.update(num_real=int(y.shape[0]), nearest_k=q.nearest_k, distance_dtype=q.distance_dtype,
                   comparison="strict < (Naeem et al.; stylegan2-ada's pr50k3 uses <=)")
        res = MetricResult(metric=m.name, value=q.precision,
                           values={"_precision": q.precision, "_recall": q.recall, "_density": q.density,
                                   "_coverage": q.coverage}, config=cfg)
        ng, nr, S = int(gen.all.shape[0]), int(y.shape[0]), intervals.PR_GROUPS
        why_not = _parts_too_small(ng, nr, q.nearest_k)
        if why_not is None:    # as pr50k3's: each of S disjoint parts of both sides recomputed
            parts = [prdc_from_features(y[rr], gen.all[gg], device=dev, **m.params)
                     for gg, rr in intervals.pr_parts(ng, nr, S)]
            for key in ("precision", "recall", "coverage"):     # fractions
                res.add_interval(f"_{key}", intervals.pr_interval(getattr(q, key), [getattr(x, key) for x in parts],
                                                                  ng, nr))
            dens = intervals.parts_interval(q.density, [x.density for x in parts],
                                            f"disjoint parts ({S} parts, manifold recomputed per part, t_{S - 1})")
            res.add_interval("_density", dataclasses.replace(dens, low=max(dens.low, 0.0)))
        else:
            res.extras["interval"] = why_not
        return res
    if m.kind == "is":
        is_ = inception_score_from_logits(gen.all, **m.params)
        res = MetricResult(metric=m.name, value=is_.mean, values={"_mean": is_.mean, "_std": is_.std}, config=cfg,
                           extras=dict(splits=is_.splits.tolist()))
        if is_.num_splits >= 2:
            res.add_interval("_mean", intervals.split_interval(is_.splits))
        else:
            res.extras["interval"] = "no interval: one split; at least 2 are needed (num_splits)"
        return res
    raise ValueError(f"unknown metric kind {m.kind!r} in row {m.name}")
