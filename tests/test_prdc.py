"""prdc_from_features against the reference package ``prdc`` 0.2 (clovaai, Naeem et al. 2020)."""

import numpy as np
import pytest
import torch

from disentangle_metrics.functional.prdc import prdc_from_features

prdc = pytest.importorskip("prdc", reason="the reference package prdc (pip install prdc==0.2; the test extra)")

KEYS = ("precision", "recall", "density", "coverage")


def _reference(real, fake, k):
    ref = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
    return {key: float(ref[key]) for key in KEYS}


def _ours(real, fake, k, **kw):
    return prdc_from_features(real, fake, nearest_k=k, device="cpu", **kw).as_dict()


@pytest.mark.parametrize("k", [1, 3, 5, 9])
@pytest.mark.parametrize("sizes", [(300, 300), (257, 190), (120, 401)])
def test_prdc_matches_package_on_random_features(k, sizes):
    rng = np.random.default_rng(k * 1000 + sizes[0])
    real = rng.standard_normal((sizes[0], 24)).astype(np.float32)
    fake = (rng.standard_normal((sizes[1], 24)) * 1.1 + 0.15).astype(np.float32)
    # a small block size so the block-wise pass crosses block edges (incl. the symmetric upper triangle)
    assert _ours(real, fake, k, batch_size=64) == _reference(real, fake, k)


@pytest.mark.parametrize("k", [2, 5])
def test_prdc_matches_package_with_ties(k):
    """Integer-valued features (many exactly equal distances, some exactly equal to a radius) and
    duplicated points (fakes that are copies of reals, repeated reals): strict ``<`` decides."""
    rng = np.random.default_rng(7 + k)
    real = rng.integers(-2, 3, size=(220, 6)).astype(np.float32)
    real[200:] = real[:20]                                      # duplicated real points
    fake = rng.integers(-2, 3, size=(170, 6)).astype(np.float32)
    fake[:40] = real[rng.choice(220, 40, replace=False)]        # fakes on top of reals
    ours, ref = _ours(real, fake, k, batch_size=50), _reference(real, fake, k)
    assert ours == ref
    # the ties matter: with <= the counts would differ (proof that the data exercise the boundary)
    d = np.sqrt(((real[:, None] - fake[None]) ** 2).sum(-1))
    dr = np.sqrt(((real[:, None] - real[None]) ** 2).sum(-1))
    radii = np.sort(dr, 1)[:, k]
    assert (d == radii[:, None]).any()
    assert ((d <= radii[:, None]).sum() != (d < radii[:, None]).sum())


def test_prdc_float64_features_match_package():
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((150, 10)), rng.standard_normal((130, 10)) + 0.2
    res = prdc_from_features(real, fake, nearest_k=4, batch_size=40, device="cpu")
    assert res.distance_dtype == "float64"
    assert res.as_dict() == _reference(real, fake, 4)


def test_prdc_block_size_does_not_change_the_result():
    rng = np.random.default_rng(11)
    real = torch.from_numpy(rng.standard_normal((333, 16)).astype(np.float32))
    fake = torch.from_numpy(rng.standard_normal((211, 16)).astype(np.float32))
    results = {tuple(_ours(real, fake, 5, batch_size=b).values()) for b in (17, 100, 4096)}
    assert len(results) == 1


def test_prdc_identical_sets_and_far_sets():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((100, 8)).astype(np.float32)
    same = prdc_from_features(x, x.copy(), nearest_k=5, device="cpu")
    assert same.precision == same.recall == same.coverage == 1.0
    far = prdc_from_features(x, x + 100, nearest_k=5, device="cpu")
    assert far.precision == far.recall == far.density == far.coverage == 0.0


def test_prdc_refuses_bad_inputs():
    x = np.zeros((10, 4), np.float32)
    with pytest.raises(ValueError, match="more than k"):
        prdc_from_features(x, x[:5], nearest_k=5)
    with pytest.raises(ValueError, match="-d but"):
        prdc_from_features(x, np.zeros((10, 3), np.float32))
    with pytest.raises(ValueError, match="floating-point"):
        prdc_from_features(x.astype(np.int64), x)
