"""Generators that break the protocol in the ways issue 15 found, and two cheap registered metrics.

Importing this module (the CLI does, through a ``tests.guard_helpers:...`` factory) registers
``test_quick`` (returns the sample count it was given) and ``test_sleep`` (sleeps
``$GUARD_SLEEP_S`` seconds first, so a test can kill a run in the middle of it).
"""

from __future__ import annotations

import os
import time

import torch

from disentangle_metrics.metrics.registry import METRICS, register_metric
from disentangle_metrics._core.results import MetricResult
from tests.toy_generators import ToyGenerator


class Scaled(ToyGenerator):
    """ToyGenerator whose images are ``a * x + b`` (x in [-1, 1])."""

    def __init__(self, a: float, b: float, **kw) -> None:
        super().__init__(**kw)
        self.a, self.b = a, b

    def synthesis(self, ws, noise_mode="random"):
        return self.a * super().synthesis(ws, noise_mode) + self.b


class NonDeterministic(ToyGenerator):
    def synthesis(self, ws, noise_mode="random"):
        return (super().synthesis(ws, noise_mode) + 0.05 * torch.randn(ws.shape[0], 3, 8, 8)).clamp(-1, 1)


class WrongResolution(ToyGenerator):
    """Declares 4x4 but returns 8x8 images."""

    def __init__(self) -> None:
        super().__init__(res=4)

    def synthesis(self, ws, noise_mode="random"):
        return torch.nn.functional.interpolate(super().synthesis(ws, noise_mode), scale_factor=2)


def good() -> ToyGenerator:
    return ToyGenerator()


def zero_one() -> ToyGenerator:
    return Scaled(0.5, 0.5)


def zero_255() -> ToyGenerator:
    return Scaled(127.5, 127.5)


def overshoot() -> ToyGenerator:
    return Scaled(1.6, 0.0, seed=1)      # the demo model's kind of range: a warning only


def nondeterministic() -> ToyGenerator:
    return NonDeterministic()


def wrong_resolution() -> ToyGenerator:
    return WrongResolution()


def _result(name: str, opts) -> MetricResult:
    n = 7 if opts.num_samples is None else opts.num_samples
    return MetricResult(metric=name, value=float(n), values={name: float(n)}, seed=opts.seed, num_samples=n,
                        config={"num_samples": n, "batch_size": opts.batch_size})


if "test_quick" not in METRICS:
    @register_metric("test_quick")
    def _quick(G, opts) -> MetricResult:
        return _result("test_quick", opts)

    @register_metric("test_sleep")
    def _sleep(G, opts) -> MetricResult:
        time.sleep(float(os.environ.get("GUARD_SLEEP_S", "0")))
        return _result("test_sleep", opts)
