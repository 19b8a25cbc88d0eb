"""The batched solver minimises exactly LinearSVC()'s objective; failures are reported per problem."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.svm import LinearSVC

from disentangle_metrics.functional.linear_svm import BatchedLinearSVC, squared_hinge_objective




def _problem(seed=0, n=3000, d=16, a=4, noise=1.0):
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.5 + 0.3).astype(np.float32)
    W = rng.standard_normal((d, a))
    logit = X @ W / np.sqrt(d) + np.sin(2 * X[:, :a]) + noise * rng.standard_normal((n, a)) + 0.4
    y = (logit > 0).astype(np.int64)
    mask = rng.random((n, a)) < 0.7
    return X, y, mask


def test_objective_and_predictions_match_sklearn():
    X, y, mask = _problem()
    ours = BatchedLinearSVC().fit(X, y, mask)
    assert ours.converged_.all(), ours.messages_
    for a in range(y.shape[1]):
        rows = mask[:, a]
        sk = LinearSVC().fit(X[rows], y[rows, a])
        exact = LinearSVC(tol=1e-12, max_iter=100_000).fit(X[rows], y[rows, a])
        ypm = 2.0 * y[rows, a] - 1
        f_ours = squared_hinge_objective(X[rows], ypm, ours.coef_[a], ours.intercept_[a])
        f_exact = squared_hinge_objective(X[rows], ypm, exact.coef_[0], exact.intercept_[0])
        f_sk = squared_hinge_objective(X[rows], ypm, sk.coef_[0], sk.intercept_[0])
        # Same minimiser: our objective within 1e-7 (relative) of the tightly solved sklearn one,
        # at least as close as sklearn's own default tolerance gets.
        assert abs(f_ours - f_exact) <= 1e-7 * f_exact
        assert f_ours - f_exact <= max(f_sk - f_exact, 1e-9 * f_exact)
        assert ours.objective_[a] == pytest.approx(f_ours, rel=1e-10)
        np.testing.assert_allclose(ours.coef_[a], exact.coef_[0], atol=1e-4)
        assert ours.intercept_[a] == pytest.approx(exact.intercept_[0], abs=1e-4)
        pred_ours = ours.predict(X[rows])[:, a]
        assert (pred_ours != sk.predict(X[rows])).sum() <= 2


def test_intercept_is_regularised_like_sklearn():
    # With a large offset the unregularised intercept would differ; the solution must follow
    # intercept_scaling exactly as LinearSVC does.
    X, y, _ = _problem(seed=3, a=1)
    X = X + 5.0
    for s in (1.0, 10.0):
        ours = BatchedLinearSVC(intercept_scaling=s).fit(X, y[:, 0])
        exact = LinearSVC(intercept_scaling=s, tol=1e-12, max_iter=100_000).fit(X, y[:, 0])
        assert ours.intercept_[0] == pytest.approx(exact.intercept_[0], abs=2e-4)
        np.testing.assert_allclose(ours.coef_[0], exact.coef_[0], atol=2e-4)


def test_batched_equals_separate_fits_and_mask_equals_subset():
    X, y, mask = _problem(seed=1, a=3)
    together = BatchedLinearSVC(tol=1e-8).fit(X, y, mask)
    for a in range(3):
        alone = BatchedLinearSVC(tol=1e-8).fit(X[mask[:, a]], y[mask[:, a], a])
        np.testing.assert_allclose(together.coef_[a], alone.coef_[0], atol=1e-6)
        assert together.intercept_[a] == pytest.approx(alone.intercept_[0], abs=1e-6)


def test_torch_inputs_stay_torch():
    X, y, mask = _problem(seed=2, a=2)
    svm = BatchedLinearSVC(device="cpu").fit(torch.as_tensor(X), torch.as_tensor(y), torch.as_tensor(mask))
    pred = svm.predict(torch.as_tensor(X))
    assert isinstance(pred, torch.Tensor) and pred.shape == (len(X), 2)
    np.testing.assert_array_equal(pred.numpy(), svm.predict(X))


def test_single_class_problem_is_flagged_not_fitted():
    X, y, mask = _problem(seed=4, a=2)
    y[:, 1] = 1
    svm = BatchedLinearSVC().fit(X, y, mask)
    assert svm.status_[1] == "single_class" and not svm.converged_[1]
    assert (svm.predict(X)[:, 1] == 1).all()
    assert svm.status_[0] == "converged"


def test_non_convergence_is_reported_per_problem():
    X, y, mask = _problem(seed=5, a=3, noise=3.0)
    ours = BatchedLinearSVC(max_iter=1).fit(X, y, mask)
    assert list(ours.status_) == ["max_iter"] * 3 and not ours.converged_.any()
    assert all("max_iter" in m for m in ours.messages_)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the sklearn backend records the warning instead of raising it
        ref = BatchedLinearSVC(backend="sklearn", max_iter=1).fit(X, y, mask)
    assert not ref.converged_.any() and set(ref.status_) == {"max_iter"}


def test_sklearn_backend_failure_is_reported(monkeypatch):
    X, y, mask = _problem(seed=6, a=2)

    def boom(self, X, y):
        raise RuntimeError("solver exploded")
    monkeypatch.setattr(LinearSVC, "fit", boom)
    svm = BatchedLinearSVC(backend="sklearn").fit(X, y, mask)
    assert list(svm.status_) == ["failed", "failed"]
    assert "solver exploded" in svm.messages_[0]
    assert (svm.predict(X) == -1).all()


@pytest.mark.parametrize("bad, match", [
    (dict(X=np.full((10, 2), np.nan)), "NaN"),
    (dict(y=np.zeros((9, 1))), "n_samples=10"),
    (dict(y=np.full((10, 1), 2)), "labels 0 and 1"),
    (dict(mask=np.ones((10, 2), bool)), "shape of y"),
    (dict(mask=np.zeros((10, 1), bool)), "no samples"),
    (dict(X=np.zeros(10)), "2-D"),
])
def test_bad_input_gets_a_clear_message(bad, match):
    args = dict(X=np.random.default_rng(0).standard_normal((10, 2)), y=np.arange(10)[:, None] % 2, mask=None)
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        BatchedLinearSVC().fit(args["X"], args["y"], args["mask"])


def test_bad_parameters_and_unfitted_use():
    X, y, _ = _problem(n=50, a=1)
    with pytest.raises(ValueError, match="backend"):
        BatchedLinearSVC(backend="cuml").fit(X, y)
    with pytest.raises(ValueError, match="C, tol"):
        BatchedLinearSVC(C=0).fit(X, y)
    with pytest.raises(RuntimeError, match="not fitted"):
        BatchedLinearSVC().predict(X)
    svm = BatchedLinearSVC().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        svm.predict(X[:, :3])


def test_constructor_only_stores_parameters():
    svm = BatchedLinearSVC(C=-1, backend="nope")   # no validation until fit, scikit-learn style
    assert svm.C == -1 and svm.backend == "nope" and not hasattr(svm, "coef_")


@pytest.mark.gpu
def test_cuda_matches_cpu():
    X, y, mask = _problem(seed=7, a=3)
    cpu = BatchedLinearSVC(device="cpu", tol=1e-8).fit(X, y, mask)
    gpu = BatchedLinearSVC(device="cuda", tol=1e-8).fit(torch.as_tensor(X).cuda(), y, mask)
    np.testing.assert_allclose(gpu.coef_, cpu.coef_, atol=1e-5)
