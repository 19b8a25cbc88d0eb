import numpy as np
import torch

from disentangle_metrics.data.testbed import render
from disentangle_metrics.data.testbed_config import TestbedConfig
from disentangle_metrics.features.cache import testbed_stats as render_testbed_stats
from disentangle_metrics.features import build_extractor
from disentangle_metrics import fid
from disentangle_metrics.functional.frechet import frechet_distance
from disentangle_metrics.functional.stats import FeatureStats
from tests.fid_helpers import ToyGenerator  # registers 'test-pixel-stats'


def test_testbed_stats_equal_direct_computation_and_are_cached():
    ext = build_extractor("test-pixel-stats")
    st = render_testbed_stats(ext, 40, 16, batch_size=16, progress=False, device="cpu")
    direct = FeatureStats(ext.feature_dim)
    direct.update(ext(render(TestbedConfig().replace(resolution=16), range(40))))
    torch.testing.assert_close(st.mean(), direct.mean())
    torch.testing.assert_close(st.cov(), direct.cov())
    again = render_testbed_stats(ext, 40, 16, batch_size=16, progress=False, device="cpu")
    assert again.info["cached"] is True and not st.info["cached"]
    other = render_testbed_stats(ext, 41, 16, batch_size=16, progress=False, device="cpu")
    assert other.info["cached"] is False           # a different num is a different key


def test_fid_against_the_testbed_reference():
    G = ToyGenerator(resolution=16)
    r = fid(G, "testbed", num_samples=24, num_real=40, batch_size=8, device="cpu", extractor="test-pixel-stats")
    assert r.metric == "fid24@test-pixel-stats" and "testbed at 16x16" in r.config["reference"]
    ext = build_extractor("test-pixel-stats")
    ref = render_testbed_stats(ext, 40, 16, progress=False, device="cpu")
    from disentangle_metrics.features.extract import generator_stats
    gen = generator_stats(G, ext, 24, 8, device="cpu")
    expected = frechet_distance(gen.mean(), gen.cov(), ref.mean(), ref.cov())
    assert np.isclose(r.value, expected, rtol=1e-9)


def test_cached_testbed_statistics_are_keyed_by_the_render_version(monkeypatch):
    """A changed renderer must never be scored against statistics of the old pictures."""
    from disentangle_metrics.data import testbed_render
    ext = build_extractor("test-pixel-stats")
    first = render_testbed_stats(ext, 24, 16, batch_size=8, progress=False, device="cpu")
    assert render_testbed_stats(ext, 24, 16, batch_size=8, progress=False, device="cpu").info["cached"] is True
    monkeypatch.setattr(testbed_render, "RENDER_VERSION", testbed_render.RENDER_VERSION + 1)
    other = render_testbed_stats(ext, 24, 16, batch_size=8, progress=False, device="cpu")
    assert other.info["cached"] is False and other.info["cache_key"] != first.info["cache_key"]
