"""The trainer's Adam is TensorFlow's AdamOptimizer (the official optimiser), epsilon placement included.

TF's documentation (tf.compat.v1.train.AdamOptimizer) gives, with t restarting at every
re-initialisation of the optimiser (the official ``reset_optimizer_state`` at each resolution change)::

    lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
    m_t = beta1 m + (1 - beta1) g;  v_t = beta2 v + (1 - beta2) g^2
    var -= lr_t * m_t / (sqrt(v_t) + eps)

``torch.optim.Adam`` adds eps before undoing the bias correction, which moves elements with
gradients near eps (<= 1e-6) differently; these tests use such elements next to large ones.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reference_models.train import Trainer
from reference_models.train.optim import beta_power

from .train_helpers import tiny_config, tiny_reals

LR, B1, B2, EPS = 0.0025, 0.0, 0.99, 1e-8
# gradient magnitudes from far below eps to large, both signs
MAGS = np.array([1e-10, 3e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-3, 0.5, 40.0])


@pytest.fixture()
def trainer(tmp_path):
    return Trainer(tiny_config(tiny_reals(tmp_path / "reals.npy"), tmp_path / "run", lr_base=LR), progress=False)


def _fresh(trainer, params):
    """An optimiser of the kind, and with the settings, the trainer builds, over ``params``."""
    opt = trainer.D_opt
    assert opt.defaults["betas"] == (B1, B2) and opt.defaults["eps"] == EPS
    return type(opt)(params, **opt.defaults)


def _grads(step: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(step)
    sign = rng.choice([-1.0, 1.0], size=n)
    return (sign * MAGS * rng.uniform(0.5, 2.0, size=n)).astype(np.float32)


def test_update_follows_tf_documented_formula_across_a_reset(trainer):
    p = torch.nn.Parameter(torch.zeros(len(MAGS)))
    opt = _fresh(trainer, [p])
    ref = np.zeros(len(MAGS))
    m = v = np.zeros(len(MAGS))
    t = 0
    for step in range(7):
        if step == 4:   # the official optimiser reset: moments and t start over
            opt.state.clear()
            m = v = np.zeros(len(MAGS))
            t = 0
        g = _grads(step, len(MAGS))
        t += 1
        lr_t = LR * np.sqrt(1 - B2 ** t) / (1 - B1 ** t)
        m = B1 * m + (1 - B1) * g.astype(np.float64)
        v = B2 * v + (1 - B2) * g.astype(np.float64) ** 2
        ref = ref - lr_t * m / (np.sqrt(v) + EPS)
        p.grad = torch.from_numpy(g.copy())
        for group in opt.param_groups:
            group["lr"] = LR
        opt.step()
        got = p.detach().numpy().astype(np.float64)
        # float32 rounding of a few updates of size <= lr; torch.optim.Adam's eps misses tiny elements by up to 0.5 lr
        np.testing.assert_allclose(got, ref, rtol=2e-6, atol=1e-9, err_msg=f"step {step} (t={t})")


def _official_numpy_adam(params, grads_per_step, lrs, reset_at, beta1=B1, beta2=B2, eps=EPS):
    """A float32 numpy transcription of the official update: TF's ApplyAdam kernel and the beta powers
    (variables initialised to beta and multiplied by beta after each step, re-initialised at a reset)."""
    f = np.float32
    var = [x.astype(f).copy() for x in params]
    b1, b2, one = f(beta1), f(beta2), f(1)
    m = v = b1p = b2p = None
    for step, (grads, lr) in enumerate(zip(grads_per_step, lrs)):
        if step == 0 or step in reset_at:
            m = [np.zeros_like(x) for x in var]
            v = [np.zeros_like(x) for x in var]
            b1p, b2p = b1, b2
        alpha = f(lr) * np.sqrt(one - b2p) / (one - b1p)
        for i, g in enumerate(grads):
            m[i] += (g - m[i]) * (one - b1)
            v[i] += (g * g - v[i]) * (one - b2)
            var[i] -= (m[i] * alpha) / (np.sqrt(v[i]) + f(eps))
        b1p, b2p = b1p * b1, b2p * b2
    return var


def test_steps_equal_a_numpy_transcription_of_the_official_update(trainer):
    torch.manual_seed(0)
    shapes = [(3, 4, 3, 3), (7,), (5, 2)]
    start = [np.random.default_rng(i).normal(size=s).astype(np.float32) for i, s in enumerate(shapes)]
    params = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in start]
    opt = _fresh(trainer, params)
    n_steps, reset_at, lrs = 12, {5}, [0.001, 0.001, 0.0025, 0.0025, 0.0025, 0.0015, 0.0015, 0.002, 0.002, 0.002, 0.003, 0.003]
    grads = []
    for step in range(n_steps):
        rng = np.random.default_rng(100 + step)
        gs = []
        for s in shapes:
            g = rng.normal(size=s) * rng.choice([1e-9, 1e-7, 1e-6, 1e-2, 3.0], size=s)
            gs.append(g.astype(np.float32))
        grads.append(gs)
    for step in range(n_steps):
        if step in reset_at:
            opt.state.clear()
        for p, g in zip(params, grads[step]):
            p.grad = torch.from_numpy(g.copy())
        for group in opt.param_groups:
            group["lr"] = lrs[step]
        opt.step()
    want = _official_numpy_adam(start, grads, lrs, reset_at)
    for p, w in zip(params, want):
        # float32 operation for operation, each correctly rounded: the same bits
        np.testing.assert_array_equal(p.detach().numpy(), w)


def test_beta_powers_are_float32_products_and_restart_at_resolution_changes(tmp_path):
    reals = tiny_reals(tmp_path / "reals.npy")
    cfg = tiny_config(reals, tmp_path / "run", progressive=True, lod_initial_resolution=8, lod_training_kimg=0.008,
                      lod_transition_kimg=0.008, minibatch_repeats=1, total_kimg=0.032, tick_kimg=0.004)
    seen = []

    def record(tr):
        st = next(iter(tr.D_opt.state.values()))
        seen.append((int(st["step"]), st["beta2_power"]))

    Trainer(cfg, progress=False).train(on_group=record)
    # steps since the last reset: 1, 2, 3 at lod 1; reset when the fade starts and when it ends
    assert [s for s, _ in seen] == [1, 2, 3, 1, 1, 2, 3, 4]
    # the power after step t is beta2^(t+1) as TF's float32 variable holds it (ready for the next step)
    assert [p for _, p in seen] == [float(beta_power(B2, s + 1)) for s, _ in seen]


def test_resumes_a_torch_adam_state(trainer):
    """A checkpoint written with torch.optim.Adam resumes: same moments, beta powers rebuilt from its step."""
    p = torch.nn.Parameter(torch.zeros(4))
    torch_opt = torch.optim.Adam([p], lr=LR, betas=(B1, B2), eps=EPS)
    for _ in range(3):
        p.grad = torch.ones(4)
        torch_opt.step()
    q = torch.nn.Parameter(p.detach().clone())
    opt = _fresh(trainer, [q])
    opt.load_state_dict(torch_opt.state_dict())
    q.grad = torch.ones(4)
    opt.step()
    st = opt.state[q]
    assert int(st["step"]) == 4 and st["beta2_power"] == float(beta_power(B2, 5))
