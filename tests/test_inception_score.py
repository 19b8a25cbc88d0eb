"""Inception Score from logits: torch-fidelity, stylegan2-ada-pytorch's formula and known answers."""

import numpy as np
import pytest
import torch

from disentangle_metrics.functional.inception_score import inception_score_from_logits
from tests import _sg2ada_formulas as sg2


def _logits(n=503, c=1008, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(n, c, generator=g)


@pytest.mark.parametrize("shuffle", [False, True])
def test_matches_torch_fidelity(shuffle):
    from torch_fidelity.metric_isc import isc_features_to_metric
    x = _logits()
    theirs = isc_features_to_metric(x, splits=10, shuffle=shuffle, rng_seed=2020)
    ours = inception_score_from_logits(x, num_splits=10, shuffle_seed=2020 if shuffle else None)
    assert ours.mean > 1.5 and ours.std > 0
    assert ours.mean == pytest.approx(theirs["inception_score_mean"], rel=1e-6)
    assert ours.std == pytest.approx(theirs["inception_score_std"], rel=1e-4)


def test_matches_stylegan2_ada_transcription_on_probabilities():
    probs = torch.softmax(_logits(n=1000).double(), 1)
    mean, std = sg2.inception_score(probs.numpy(), num_splits=10)
    ours = inception_score_from_logits(probs=probs, num_splits=10)
    assert ours.mean == pytest.approx(mean, rel=1e-6) and ours.std == pytest.approx(std, rel=1e-4)
    assert inception_score_from_logits(probs.log(), num_splits=10).mean == pytest.approx(mean, rel=1e-6)


def test_known_answers():
    # identical predictions: IS = 1; confident and evenly spread over K classes: IS = K
    assert inception_score_from_logits(torch.zeros(100, 10), num_splits=4).mean == pytest.approx(1.0)
    onehot = torch.eye(8).repeat(10, 1)       # 80 images, classes 0..7 in turn
    r = inception_score_from_logits(probs=onehot, num_splits=10)
    assert r.mean == pytest.approx(8.0) and r.std == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(r.splits, 8.0)


def test_zero_probabilities_contribute_nothing():
    probs = torch.softmax(_logits(n=200, c=50), 1)
    probs[:, :5] = 0
    probs /= probs.sum(1, keepdim=True)
    from_probs = inception_score_from_logits(probs=probs, num_splits=4)
    from_log = inception_score_from_logits(probs.log(), num_splits=4)      # -inf logits
    assert np.isfinite(from_probs.mean) and from_log.mean == pytest.approx(from_probs.mean, rel=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="exactly one"):
        inception_score_from_logits()
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score_from_logits(probs=torch.rand(20, 5))
    with pytest.raises(ValueError, match="num_splits=30"):
        inception_score_from_logits(torch.zeros(20, 5), num_splits=30)
