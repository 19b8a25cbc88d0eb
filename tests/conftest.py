"""Shared test configuration: GPU tests skip cleanly without CUDA; results never touch the user's cache."""

import sys
from pathlib import Path

import pytest
import torch

FAKE_NVIDIA = str(Path(__file__).parent / "fake_nvidia")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (no GPU on this machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Point every cache (weights, dataset stats, torch hub) at a fresh temporary folder, offline."""
    root = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(root))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch"))
    monkeypatch.setenv("DMETRICS_OFFLINE", "1")
    monkeypatch.delenv("DMETRICS_WEIGHTS_DIR", raising=False)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run every test with one torch thread: the test problems are small, and two threads on a
    shared, oversubscribed 2-core machine are often >10x slower than one (OpenMP barriers wait for
    descheduled workers)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def nv(monkeypatch):
    """The stand-in stylegan2-ada networks module (``tests/fake_nvidia``, noise_const buffers), importable as
    `training.networks` for one test; the modules it displaced come back afterwards."""
    monkeypatch.syspath_prepend(FAKE_NVIDIA)
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] in ("training", "torch_utils")}
    import training.networks as networks
    yield networks
    for k in [k for k in sys.modules if k.split(".")[0] in ("training", "torch_utils")]:
        del sys.modules[k]
    sys.modules.update(saved)
