"""KID from features: torch-fidelity's and stylegan2-ada-pytorch's formulas on the same features."""

import numpy as np
import pytest
import torch

from disentangle_metrics.functional.kid import TORCH_FIDELITY_SEED, kid_from_features
from tests import _sg2ada_formulas as sg2


def _features(n_gen, n_real, dim=64, shift=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.relu(torch.randn(n_gen, dim, generator=g))
    b = torch.relu(torch.randn(n_real, dim, generator=g) + shift)
    return a, b


@pytest.mark.parametrize("n_gen,n_real,subset", [(300, 250, 100), (120, 120, 120)])
def test_matches_torch_fidelity(n_gen, n_real, subset):
    from torch_fidelity.metric_kid import kid_features_to_metric
    a, b = _features(n_gen, n_real)
    ours = kid_from_features(a, b, num_subsets=7, max_subset_size=subset, seed=TORCH_FIDELITY_SEED, device="cpu")
    theirs = kid_features_to_metric(a, b, kid_subsets=7, kid_subset_size=subset, rng_seed=TORCH_FIDELITY_SEED,
                                    verbose=False)
    assert ours.subset_size == subset and abs(ours.mean) > 1e-3    # not a vacuous zero
    assert ours.mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-4)
    if subset < min(n_gen, n_real):   # else every subset is the whole set and the spread is round-off
        assert ours.std == pytest.approx(theirs["kernel_inception_distance_std"], rel=1e-3)


def test_subset_size_equal_to_set_size_does_not_depend_on_the_draw():
    # torch-fidelity's subsetting is then a permutation, which MMD ignores: any seed gives its value
    from torch_fidelity.metric_kid import kid_features_to_metric
    a, b = _features(80, 80)
    theirs = kid_features_to_metric(a, b, kid_subsets=3, kid_subset_size=80, rng_seed=1, verbose=False)
    for seed in (0, 5):
        r = kid_from_features(a, b, num_subsets=3, max_subset_size=1000, seed=seed, device="cpu")
        assert r.mean == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-4)
        assert r.std < 1e-3 * abs(r.mean)


def test_matches_stylegan2_ada_transcription():
    a, b = _features(400, 350, dim=128)
    np.random.seed(11)      # stylegan2-ada draws from the global state: seeding it gives RandomState(11)'s draws
    theirs = sg2.kid(a.numpy(), b.numpy(), num_subsets=5, max_subset_size=200)
    ours = kid_from_features(a, b, num_subsets=5, max_subset_size=200, seed=11, device="cpu")
    assert ours.mean == pytest.approx(theirs, rel=1e-4)


def test_unbiased_near_zero_for_one_distribution_and_positive_for_two():
    a, b = _features(600, 600, shift=0.0, seed=3)
    same = kid_from_features(a, b, num_subsets=20, max_subset_size=300, seed=0, device="cpu")
    a2, b2 = _features(600, 600, shift=0.5, seed=3)
    diff = kid_from_features(a2, b2, num_subsets=20, max_subset_size=300, seed=0, device="cpu")
    assert abs(same.mean) < 3 * same.std + 1e-6 and diff.mean > 20 * max(abs(same.mean), same.std)
    assert same.subsets.shape == (20,)


def test_errors_are_clear():
    a, b = _features(10, 10, dim=8)
    with pytest.raises(ValueError, match="8-d but real ones 9-d"):
        kid_from_features(a, torch.zeros(10, 9))
    with pytest.raises(ValueError, match="\\[N >= 2, D\\]"):
        kid_from_features(a[0], b)
