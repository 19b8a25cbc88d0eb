"""Adam as TensorFlow 1.x's ``tf.train.AdamOptimizer`` applies it (the official StyleGAN optimiser).

TF's documented update (``tensorflow/python/training/adam.py``), with ``t`` counted from the last
(re)initialisation of the optimiser's variables::

    lr_t = learning_rate * sqrt(1 - beta2^t) / (1 - beta1^t)
    m_t  = beta1 * m_{t-1} + (1 - beta1) * g
    v_t  = beta2 * v_{t-1} + (1 - beta2) * g * g
    var  = var - lr_t * m_t / (sqrt(v_t) + epsilon)

Epsilon is added *after* the bias correction ("epsilon hat" of Kingma & Ba). ``torch.optim.Adam``
adds it to ``sqrt(v_t / (1 - beta2^t))``, so its eps equals TF's eps / sqrt(1 - beta2^t): 10x
TF's at the first step with beta2 = 0.99. Elements whose gradients are near eps (<= 1e-6) then
move by up to half the learning rate differently at the first steps after every reset.

:class:`TFAdam` follows TF's CPU kernel (``ApplyAdamNonCuda``) operation for operation in float32:
``alpha = lr * sqrt(1 - beta2_power) / (1 - beta1_power)``, ``m += (g - m) * (1 - beta1)``,
``v += (g^2 - v) * (1 - beta2)``, ``var -= (m * alpha) / (sqrt(v) + eps)`` (each operation rounded
to float32 as IEEE prescribes, so a numpy float32 transcription gives the same bits), where ``beta1_power``
and ``beta2_power`` are float32 variables that start at beta1 / beta2 and are multiplied by them
after every applied step (TF's ``_finish``). Clearing ``optimizer.state`` is the official
``reset_optimizer_state()``: moments and beta powers start over.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import numpy as np
import torch


def _f32(x: float) -> np.float32:
    return np.float32(x)


def beta_power(beta: float, step: int) -> np.float32:
    """``beta ** step`` as TF accumulates it: ``step - 1`` float32 products starting from float32(beta)."""
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    # ufunc.accumulate multiplies in order, rounding each product to float32 as TF's variable does.
    return np.multiply.accumulate(np.full(step, _f32(beta), np.float32))[-1]


def tf_adam_alpha(lr: float, beta1_power: np.float32, beta2_power: np.float32) -> np.float32:
    """TF's step size ``lr * sqrt(1 - beta2_power) / (1 - beta1_power)``, in float32 like its kernel."""
    one = np.float32(1)
    return _f32(lr) * np.sqrt(one - np.float32(beta2_power)) / (one - np.float32(beta1_power))


class TFAdam(torch.optim.Optimizer):
    """Adam with TensorFlow's epsilon placement and float32 beta powers (module docstring).

    Per-parameter state: ``step`` (a float32 tensor, as ``torch.optim.Adam`` keeps it), ``exp_avg``,
    ``exp_avg_sq`` (the same names as ``torch.optim.Adam``), and ``beta1_power`` / ``beta2_power``
    (float32 values as Python floats). A state loaded without the powers (a checkpoint written by
    ``torch.optim.Adam``) gets them rebuilt from ``step`` with :func:`beta_power`.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        if not lr >= 0 or not eps >= 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"TFAdam needs lr >= 0, eps >= 0 and betas in [0, 1); got lr={lr}, betas={betas}, eps={eps}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps))

    @torch.no_grad()
    def step(self, closure: Optional[Any] = None) -> None:  # type: ignore[override]
        """Apply one TF Adam update to every parameter that has a gradient."""
        if closure is not None:
            raise ValueError("TFAdam.step takes no closure")
        for group in self.param_groups:
            beta1, beta2 = (_f32(b) for b in group["betas"])
            one = np.float32(1)
            params, grads, ms, vs, alphas = [], [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise ValueError("TFAdam does not take sparse gradients")
                st = self.state[p]
                if not st:
                    st["step"] = torch.zeros((), dtype=torch.float32)
                    st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    st["beta1_power"], st["beta2_power"] = float(beta1), float(beta2)
                elif "beta1_power" not in st:   # written by torch.optim.Adam: same moments, powers from the step count
                    n = int(st["step"])
                    st["beta1_power"] = float(beta_power(beta1, n + 1))
                    st["beta2_power"] = float(beta_power(beta2, n + 1))
                st["step"] += 1
                params.append(p)
                grads.append(p.grad)
                ms.append(st["exp_avg"])
                vs.append(st["exp_avg_sq"])
                alphas.append(float(tf_adam_alpha(group["lr"], np.float32(st["beta1_power"]),
                                                  np.float32(st["beta2_power"]))))
                st["beta1_power"] = float(np.float32(st["beta1_power"]) * beta1)
                st["beta2_power"] = float(np.float32(st["beta2_power"]) * beta2)
            if not params:
                continue
            # m += (g - m) * (1 - beta1); v += (g*g - v) * (1 - beta2): TF's kernel, one rounding per operation.
            d = torch._foreach_sub(grads, ms)
            torch._foreach_mul_(d, float(one - beta1))
            torch._foreach_add_(ms, d)
            d = torch._foreach_mul(grads, grads)
            torch._foreach_sub_(d, vs)
            torch._foreach_mul_(d, float(one - beta2))
            torch._foreach_add_(vs, d)
            # var -= (m * alpha) / (sqrt(v) + eps)
            num = torch._foreach_mul(ms, alphas)
            # sqrt through float64: torch's vectorised float32 sqrt on the CPU is off by one ulp for ~17% of
            # inputs; the float64 root rounded to float32 is the correctly rounded float32 root (IEEE, TF's GPU).
            den = [r.float() for r in torch._foreach_sqrt([v.double() for v in vs])]
            torch._foreach_add_(den, float(_f32(group["eps"])))
            torch._foreach_div_(num, den)
            torch._foreach_sub_(params, num)
