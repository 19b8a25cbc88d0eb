"""95% intervals on the image metrics computed in the shared pass (image_metrics.compute)."""

import math

import numpy as np
import pytest

import disentangle_metrics as dm
import disentangle_metrics as fid_mod
from disentangle_metrics.metrics import image as IM
from disentangle_metrics.functional import intervals
from disentangle_metrics._core.results import format_value
from tests.fid_helpers import ToyGenerator
from tests.suite_helpers import nvidia_standins  # noqa: F401
from tests.test_image_metrics import _export, _opts, _small


@pytest.fixture(scope="module")
def real_folder(tmp_path_factory):
    return _export(ToyGenerator(seed=7, shift=0.3), tmp_path_factory.mktemp("real") / "img", 120, seed=3)


def test_score_fid50k_has_the_same_value_and_jackknife_interval_as_fid(real_folder):
    G = ToyGenerator(seed=2)
    kw = dict(device="cpu", batch_size=8, seed=0, progress=False)
    shared = dm.score(G, ["fid50k"], num_samples=100, num_real=110, reference=str(real_folder),
                      extractor="test-pixel-stats", **kw)[0]
    alone = fid_mod.fid(G, str(real_folder), num_samples=100, num_real=110, extractor="test-pixel-stats", **kw)
    assert shared.metric == alone.metric == "fid100@test-pixel-stats"
    assert shared.value == alone.value
    assert shared.intervals[shared.metric] == alone.intervals[alone.metric]
    assert shared.ci95 == alone.ci95 and shared.stderr == alone.stderr > 0
    assert "jackknife" in shared.ci_method
    assert "+-" in format_value(shared)


def test_every_image_metric_row_gets_an_interval(nvidia_standins, real_folder):
    res = IM.compute(ToyGenerator(seed=1), _small(["fid50k_full", "kid50k_full", "pr50k3_full", "is50k"]),
                     _opts(nvidia_standins, real_folder))
    by = {r.metric.split("@")[0]: r for r in res}
    for r in res:   # the headline value has an interval, and so has every value but the reported std
        assert r.ci95 is not None and r.ci95[0] <= r.value <= r.ci95[1], r.metric
        assert set(r.intervals) == {k for k in r.values if "_std" not in k}, r.metric
        for k in r.intervals:
            assert "+-" in format_value(r, k)
    kid = by["kid100_full"]
    assert kid.intervals[kid.metric]["value"] == pytest.approx(kid.value)
    assert "subsets (5 of 40" in kid.ci_method
    is_ = by["is100"]
    splits = np.array(is_.extras["splits"])
    se = splits.std(ddof=1) / math.sqrt(splits.size)
    assert is_.stderr == pytest.approx(se) and is_.intervals["is100_mean"]["value"] == pytest.approx(splits.mean())
    pr = by["pr1003_full"]
    for k in ("pr1003_full_precision", "pr1003_full_recall"):
        iv = pr.intervals[k]
        assert 0 <= iv["low"] <= pr.values[k] <= iv["high"] <= 1 and iv["stderr"] > 0 or pr.values[k] in (0.0, 1.0)
    assert pr.ci95 == [pr.intervals["pr1003_full_precision"]["low"], pr.intervals["pr1003_full_precision"]["high"]]


def test_kid_row_interval_is_kid_interval_of_its_subsets(nvidia_standins, real_folder):
    opts = _opts(nvidia_standins, real_folder, keep_samples=True)
    kid = IM.compute(ToyGenerator(seed=1), _small(["kid50k_full"]), opts)[0]
    want = intervals.kid_interval(kid.samples["subset_mmd2"], kid.config["subset_size"], 100, kid.config["num_real"])
    assert kid.intervals[kid.metric] == want.as_dict()


def test_kid_interval_matches_the_spread_over_independent_draws():
    """The SE from one run's subsets against the SE over 150 independent runs (N = 200, subsets of 100)."""
    from disentangle_metrics.functional.kid import kid_from_features
    rng = np.random.default_rng(0)
    vals, se, se_plain = [], [], []
    for r in range(150):
        x = rng.normal(0.0, 1.0, (200, 8)).astype(np.float32)
        y = rng.normal(0.3, 1.0, (200, 8)).astype(np.float32)
        k = kid_from_features(x, y, num_subsets=30, max_subset_size=100, seed=r, device="cpu")
        vals.append(k.mean)
        se.append(intervals.kid_interval(k.subsets, k.subset_size, 200, 200).stderr)
        se_plain.append(intervals.subset_interval(k.subsets, k.subset_size, 200).stderr)
    truth = np.std(vals, ddof=1)
    assert 0.8 < np.mean(se) / truth < 1.25
    assert np.mean(se_plain) / truth < 0.8          # without the correction: sqrt(1/2) of the truth
    with pytest.raises(ValueError, match="hold every sample"):
        intervals.kid_interval(np.ones(3), 100, 100, 500)


def test_pr_interval_matches_the_spread_over_independent_draws():
    """The SE from one run's 10 parts against the SE over 80 independent draws of both sides (8-d, N = 600)."""
    from disentangle_metrics.functional.precision_recall import precision_recall_from_features as prf
    from disentangle_metrics.functional.precision_recall import precision_recall_parts
    rng = np.random.default_rng(0)
    vals, se, se_fixed = {"p": [], "r": []}, {"p": [], "r": []}, {"p": [], "r": []}
    n = 600
    for _ in range(80):
        x = rng.normal(0.0, 1.0, (n, 8)).astype(np.float32)
        y = rng.normal(0.3, 1.2, (n, 8)).astype(np.float32)
        pr = prf(x, y, device="cpu")
        parts = precision_recall_parts(x, y, device="cpu")   # what the PR rows use
        for key, v, pv in (("p", pr.precision, [q.precision for q in parts]), ("r", pr.recall, [q.recall for q in parts])):
            vals[key].append(v)
            se[key].append(intervals.pr_interval(v, pv, n, n).stderr)
            se_fixed[key].append(math.sqrt(v * (1 - v) / n))   # the probes' binomial SE, manifold held fixed
    for key in ("p", "r"):
        truth = np.std(vals[key], ddof=1)
        assert 0.8 < np.mean(se[key]) / truth < 1.25, key
    # what holding the manifold fixed misses (recall's: the generated side's manifold is the looser one)
    assert np.mean(se_fixed["r"]) / np.std(vals["r"], ddof=1) < 0.85


def test_pr_interval_is_a_t_interval_clipped_to_fractions():
    iv = intervals.pr_interval(0.99, [0.97, 1.0, 1.0, 0.98], 400, 400)
    assert iv.stderr == pytest.approx(np.std([0.97, 1.0, 1.0, 0.98], ddof=1) / 2)
    assert iv.low < 0.99 < iv.high == 1.0 and "4 parts of 100 generated" in iv.method
    assert [(g.start, g.step) for g, _ in intervals.pr_parts(10, 20, 3)] == [(0, 3), (1, 3), (2, 3)]
    with pytest.raises(ValueError, match="2 part"):
        intervals.pr_interval(0.5, [0.5], 10, 10)


def test_kid_subsets_holding_every_sample_give_no_interval(nvidia_standins, real_folder):
    # 100 generated images and subsets of up to 1000: every subset is all 100, so the subsets'
    # spread is rounding noise, not sampling variability: no interval rather than a near-zero one
    row = IM.with_params(IM.TABLE["kid50k_full"], num_subsets=5, max_subset_size=1000)
    kid = IM.compute(ToyGenerator(seed=1), [row], _opts(nvidia_standins, real_folder))[0]
    assert kid.config["subset_size"] == 100
    assert kid.intervals == {} and kid.ci95 is None
    assert "every subset holds all 100" in kid.extras["interval"]


def test_pr_row_interval_comes_from_its_parts_or_says_why_not(nvidia_standins, real_folder):
    row = IM.TABLE["pr50k3_full"]
    pr = IM.compute(ToyGenerator(seed=1), [row], _opts(nvidia_standins, real_folder))[0]
    assert "10 parts of" in pr.ci_method and "manifold recomputed" in pr.ci_method
    few = IM.compute(ToyGenerator(seed=1), [row], _opts(nvidia_standins, real_folder, num_samples=30))[0]
    assert few.intervals == {} and few.ci95 is None
    assert "need more than k = 3" in few.extras["interval"] and "at least 40" in few.extras["interval"]
