"""Test bed attribute sampling: marginals, configurable correlations, forbidden combinations."""

import numpy as np
import pytest

from disentangle_metrics.data.testbed import (ATTRIBUTES, Coupling, TestbedConfig, expected_phi,
                                              latent_correlation, sample_attributes)

N = 4000


def _col(attrs, name):
    return attrs[:, ATTRIBUTES.index(name)].astype(float)


def _phi(attrs, a, b):
    return float(np.corrcoef(_col(attrs, a), _col(attrs, b))[0, 1])


def test_marginals_follow_the_config_outside_forbidden_pairs():
    cfg = TestbedConfig()
    attrs = sample_attributes(cfg, np.arange(N))
    in_forbidden = {x for pair in cfg.forbidden for x in pair}
    for name in ATTRIBUTES:
        if name in in_forbidden:
            continue
        p = cfg.marginals[name]
        tol = 4 * np.sqrt(p * (1 - p) / N)
        assert abs(_col(attrs, name).mean() - p) < tol, name


def test_forbidden_combinations_never_occur():
    cfg = TestbedConfig()
    attrs = sample_attributes(cfg, np.arange(N))
    for a, b in cfg.forbidden:
        assert not np.any((_col(attrs, a) > 0) & (_col(attrs, b) > 0)), (a, b)
        assert _col(attrs, a).any() and _col(attrs, b).any()
    # a forbidden pair given in the config is honoured too, even for strongly coupled attributes
    cfg2 = TestbedConfig(forbidden=[("male", "beard")])
    attrs2 = sample_attributes(cfg2, np.arange(N))
    assert not np.any((_col(attrs2, "male") > 0) & (_col(attrs2, "beard") > 0))
    assert np.any((_col(attrs, "male") > 0) & (_col(attrs, "beard") > 0))  # allowed by default


@pytest.mark.parametrize("strength", [-0.7, 0.0, 0.4, 0.8])
def test_label_correlation_follows_the_coupling(strength):
    cfg = TestbedConfig(couplings=[Coupling("hat", "eyeglasses", strength)], forbidden=[])
    attrs = sample_attributes(cfg, np.arange(N))
    want = expected_phi(cfg, "hat", "eyeglasses")
    assert abs(_phi(attrs, "hat", "eyeglasses") - want) < 0.06
    if strength == 0.0:
        assert abs(want) < 1e-9
    else:
        assert np.sign(want) == np.sign(strength) and abs(want) > 0.1
    # attributes not coupled stay uncorrelated
    assert abs(_phi(attrs, "hat", "rosy_cheeks")) < 0.06


def test_default_couplings_show_in_the_labels():
    cfg = TestbedConfig()
    attrs = sample_attributes(cfg, np.arange(N))
    for c in cfg.couplings:
        if {c.a, c.b} & {x for p in cfg.forbidden for x in p}:
            continue
        assert abs(_phi(attrs, c.a, c.b) - expected_phi(cfg, c.a, c.b)) < 0.06, c
    assert _phi(attrs, "male", "beard") > 0.3


def test_sampling_is_per_index():
    cfg = TestbedConfig()
    whole = sample_attributes(cfg, np.arange(50))
    assert np.array_equal(sample_attributes(cfg, np.arange(20, 50)), whole[20:])
    assert not np.array_equal(sample_attributes(cfg.replace(seed=3), np.arange(50)), whole)


def test_inconsistent_couplings_are_a_clear_error():
    cfg = TestbedConfig(couplings=[Coupling("male", "beard", 0.9), Coupling("male", "hat", 0.9),
                                   Coupling("beard", "hat", -0.9)])
    with pytest.raises(ValueError, match="do not form a valid correlation matrix"):
        latent_correlation(cfg)
    with pytest.raises(ValueError, match="do not form a valid correlation matrix"):
        sample_attributes(cfg, [0])


def test_a_nearly_certain_forbidden_pair_is_a_clear_error():
    marg = dict(TestbedConfig().marginals, male=1.0, beard=1.0)
    cfg = TestbedConfig(marginals=marg, forbidden=[("male", "beard")])
    with pytest.raises(ValueError, match="forbidden combination in all"):
        sample_attributes(cfg, np.arange(10))
