"""frechet_distance against pytorch-fid; FeatureStats against numpy; save/load and merging."""

import warnings

import numpy as np
import pytest
import torch

from disentangle_metrics.functional.frechet import frechet_details, frechet_distance
from disentangle_metrics.functional.stats import FeatureStats, read_stats_file


def _gaussian_stats(d, n, seed):
    """Well-conditioned statistics: features with a random mixing and a spread of scales."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / np.sqrt(d) + np.eye(d)
    x = rng.standard_normal((n, d)) @ mix * rng.uniform(0.5, 2, d) + rng.uniform(0, 1, d)
    return x.mean(0), np.cov(x, rowvar=False)


@pytest.mark.parametrize("d", [128, pytest.param(2048, marks=pytest.mark.slow)])
def test_matches_pytorch_fid(d):
    # 2048-d is the FID case; scipy's sqrtm needs ~1 min for it on 2 shared cores, hence slow.
    from pytorch_fid.fid_score import calculate_frechet_distance
    (m1, s1), (m2, s2) = _gaussian_stats(d, 2 * d, 0), _gaussian_stats(d, 2 * d, 1)
    ours = frechet_distance(m1, s1, m2, s2)
    ref = calculate_frechet_distance(m1, s1, m2, s2)
    assert abs(ours - ref) <= 1e-6 * abs(ref)
    # torch input (float32 here) goes through the same float64 path
    t = frechet_distance(*(torch.as_tensor(a) for a in (m1, s1, m2, s2)))
    assert t == pytest.approx(ours, rel=1e-12)


def test_small_cases_exact():
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 for standard deviations s
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])) == pytest.approx(4 + 1)
    # commuting diagonal covariances: sum (sqrt a - sqrt b)^2
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 16.0])
    assert frechet_distance(np.zeros(3), np.diag(a), np.zeros(3), np.diag(b)) == pytest.approx(((np.sqrt(a) - np.sqrt(b)) ** 2).sum())


def test_singular_case_is_finite_and_matches_reference():
    from pytorch_fid.fid_score import calculate_frechet_distance
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((20, 64)), rng.standard_normal((30, 64)) + 0.3  # fewer samples than dims
    m1, s1, m2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    det = frechet_details(m1, s1, m2, s2)
    assert det.factorisation == "eigh" and np.isfinite(det.distance)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = calculate_frechet_distance(m1, s1, m2, s2)
    assert det.distance == pytest.approx(ref, rel=1e-4)


def test_identical_stats_near_zero_not_hidden():
    m, s = _gaussian_stats(128, 400, 5)
    det = frechet_details(m, s, m, s)
    assert abs(det.distance) < 1e-8 * np.trace(s)
    # the reported value is the raw one, sign included
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert frechet_distance(m, s, m, s) == det.distance


def test_bad_input_messages():
    with pytest.raises(ValueError, match="different feature extractors"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.array([np.nan]), np.eye(1), np.zeros(1), np.eye(1))


def test_stats_match_numpy_and_merge_equals_one_shot(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((301, 16)).astype(np.float32) * 3 + 1
    one = FeatureStats(16).update(torch.from_numpy(x))
    np.testing.assert_allclose(one.mean().numpy(), x.astype(np.float64).mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(one.cov().numpy(), np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-12)
    parts = [FeatureStats(16).update(torch.from_numpy(c)) for c in np.array_split(x, [7, 100, 250])]
    merged = parts[0]
    for p in parts[1:]:
        merged.merge(p)
    assert merged.count == 301
    np.testing.assert_allclose(merged.cov().numpy(), one.cov().numpy(), rtol=1e-10, atol=1e-12)
    assert merged.all_reduce_() is merged and merged.count == 301  # no process group: no-op
    # save/load round trip, readable the way pytorch-fid reads it, and mergeable again
    path = tmp_path / "s.npz"
    one.save(path)
    with np.load(path) as f:
        np.testing.assert_allclose(f["mu"], one.mean().numpy())
        np.testing.assert_allclose(f["sigma"], one.cov().numpy())
    back = FeatureStats.load(path)
    twice = np.concatenate([x, x]).astype(np.float64)
    np.testing.assert_allclose(back.merge(one).cov().numpy(), np.cov(twice, rowvar=False), rtol=1e-8, atol=1e-10)


def test_pytorch_fid_style_file_loads_but_refuses_merge(tmp_path):
    path = tmp_path / "pf.npz"
    np.savez(path, mu=np.zeros(4), sigma=np.eye(4))
    st = FeatureStats.load(path)
    np.testing.assert_allclose(st.cov().numpy(), np.eye(4))
    with pytest.raises(ValueError, match="unknown"):
        st.merge(FeatureStats(4))


def test_stats_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="dmetrics stats"):
        read_stats_file(tmp_path / "none.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        read_stats_file(bad)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, mean=np.zeros(2))
    with pytest.raises(ValueError, match="'mu' and 'sigma'"):
        read_stats_file(wrong)
    with pytest.raises(ValueError, match="NaN"):
        FeatureStats(2).update(torch.tensor([[float("nan"), 0.0]]))
