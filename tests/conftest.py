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
