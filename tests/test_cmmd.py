"""cmmd_from_embeddings against a NumPy transcription of google-research's cmmd/distance.py."""

import numpy as np
import pytest
import torch

from disentangle_metrics.functional.cmmd import cmmd_from_embeddings


def reference_mmd(x, y, dtype=np.float64, sigma=10, scale=1000):
    """google-research cmmd/distance.py ``mmd`` transcribed to NumPy (jnp -> np), in ``dtype``.

    The original runs in JAX's default float32; ``dtype=np.float32`` mimics that (up to summation order).
    """
    x, y = np.asarray(x, dtype), np.asarray(y, dtype)
    x_sqnorms = np.diag(np.matmul(x, x.T))
    y_sqnorms = np.diag(np.matmul(y, y.T))
    gamma = dtype(1 / (2 * sigma ** 2))
    k_xx = np.mean(np.exp(-gamma * (-2 * np.matmul(x, x.T) + np.expand_dims(x_sqnorms, 1)
                                    + np.expand_dims(x_sqnorms, 0))))
    k_xy = np.mean(np.exp(-gamma * (-2 * np.matmul(x, y.T) + np.expand_dims(x_sqnorms, 1)
                                    + np.expand_dims(y_sqnorms, 0))))
    k_yy = np.mean(np.exp(-gamma * (-2 * np.matmul(y, y.T) + np.expand_dims(y_sqnorms, 1)
                                    + np.expand_dims(y_sqnorms, 0))))
    return scale * (k_xx + k_yy - 2 * k_xy)


def unit_embeddings(rng, n, d=768, shift=0.0):
    """Unit-length rows as CLIP embeddings are; ``shift`` moves the distribution."""
    e = rng.standard_normal((n, d)) + shift * np.linspace(-1, 1, d)
    return (e / np.linalg.norm(e, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("sizes,shift", [((300, 300), 0.0), ((300, 300), 0.3), ((257, 131), 0.5)])
def test_cmmd_matches_reference_transcription(sizes, shift):
    rng = np.random.default_rng(sizes[1])
    x, y = unit_embeddings(rng, sizes[0]), unit_embeddings(rng, sizes[1], shift=shift)
    res = cmmd_from_embeddings(x, y, batch_size=70, device="cpu")    # several blocks, ragged edges
    ref64 = reference_mmd(x, y)
    assert res.value == pytest.approx(ref64, rel=1e-9, abs=1e-9)
    # the reference's own float32: the same number to float32's cancellation error (means ~1, difference ~1e-3)
    assert res.value == pytest.approx(reference_mmd(x, y, np.float32), abs=2e-3)
    assert res.num_x == sizes[0] and res.num_y == sizes[1]


def test_cmmd_other_sigma_and_scale_and_non_unit_inputs():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((120, 32)), rng.standard_normal((90, 32)) * 1.3
    res = cmmd_from_embeddings(torch.from_numpy(x), y, sigma=4.0, scale=1.0, batch_size=50, device="cpu")
    assert res.value == pytest.approx(reference_mmd(x, y, sigma=4.0, scale=1.0), rel=1e-9)


def test_cmmd_of_a_set_with_itself_is_zero_and_grows_with_shift():
    rng = np.random.default_rng(2)
    x = unit_embeddings(rng, 200)
    assert abs(cmmd_from_embeddings(x, x, device="cpu").value) < 1e-9
    y1, y2 = unit_embeddings(rng, 200, shift=0.2), unit_embeddings(rng, 200, shift=0.6)
    assert cmmd_from_embeddings(x, y1, device="cpu").value < cmmd_from_embeddings(x, y2, device="cpu").value


def test_cmmd_jackknife_interval_equals_direct_leave_one_group_out():
    rng = np.random.default_rng(4)
    x, y = unit_embeddings(rng, 103, 64), unit_embeddings(rng, 87, 64, shift=0.4)
    groups = 5
    res = cmmd_from_embeddings(x, y, groups=groups, batch_size=30, device="cpu")
    loo = np.array([reference_mmd(x[np.arange(103) % groups != g], y[np.arange(87) % groups != g])
                    for g in range(groups)])
    se = np.sqrt((groups - 1) / groups * ((loo - loo.mean()) ** 2).sum())
    iv = res.interval
    assert iv.stderr == pytest.approx(se, rel=1e-7)
    assert iv.value == res.value and iv.low < res.value < iv.high
    assert iv.high - res.value == pytest.approx(1.959963984540054 * se, rel=1e-9)
    assert "jackknife" in iv.method


def test_cmmd_refuses_bad_inputs():
    x = np.zeros((20, 8))
    with pytest.raises(ValueError, match="-d but"):
        cmmd_from_embeddings(x, np.zeros((20, 4)))
    with pytest.raises(ValueError, match="at least 10 rows"):
        cmmd_from_embeddings(x, np.zeros((5, 8)))
    with pytest.raises(ValueError, match="floating-point"):
        cmmd_from_embeddings(x.astype(np.int32), x)
