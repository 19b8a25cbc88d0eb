"""Shared test configuration: GPU tests skip cleanly without CUDA; results never touch the user's cache."""

import pytest
import torch


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
