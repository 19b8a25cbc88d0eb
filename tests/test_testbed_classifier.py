"""The shipped test-bed classifier: bundled TorchScript file, registry, export parity, extractor, distance, ls hook."""

from __future__ import annotations

import shutil

import pytest
import torch

from disentangle_metrics._core import weights as W
from disentangle_metrics.data.testbed import ATTRIBUTES, TestbedConfig, render
from disentangle_metrics.features import build_extractor
from disentangle_metrics.metrics.distances import build_distance
from disentangle_metrics.features.testbed_net import (
    WEIGHTS_NAME, TestbedClassifier, load_testbed_classifier, resize_square,
)
from disentangle_metrics.metrics.testbed_lpips import unit_normalize
from reference_models import build_classifier, load_checkpoint
from reference_models.classifier_export import export_module, metadata, save_export

CHECKPOINT = "reference_models/pretrained/testbed_classifier"


@pytest.fixture(scope="module")
def clf() -> TestbedClassifier:
    return load_testbed_classifier()


def _images(n: int, res: int = 32, seed: int = 0) -> torch.Tensor:
    return render(TestbedConfig(resolution=res), range(seed, seed + n)).float() / 127.5 - 1


# ---------------------------------------------------------------- weights registry and the bundled file

def test_registry_finds_bundled_file_and_verifies_hash():
    spec = W.get_spec(WEIGHTS_NAME)
    path = W.resolve(WEIGHTS_NAME)                      # the test cache is empty and offline
    assert path == W.bundled_path(spec) and path.is_file()
    assert W.sha256_of(path) == spec.sha256
    assert W.candidate_paths(spec)[0] == path           # searched before the cache
    assert W.status(WEIGHTS_NAME, check_hash=True).ok
    assert path.stat().st_size + sum(p.stat().st_size for p in
                                     __import__("pathlib").Path(CHECKPOINT).iterdir()) < 2_000_000


def test_corrupt_copy_is_refused(tmp_path):
    bad = tmp_path / "testbed_classifier.pt"
    data = bytearray(W.resolve(WEIGHTS_NAME).read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(W.WeightsHashError, match="does not match"):
        load_testbed_classifier(bad)


def test_missing_bundled_file_names_where_it_belongs(monkeypatch, tmp_path):
    spec = W.WeightSpec(name="t-bundled", filename="nothing.pt", url="", sha256=None,
                        format=W.WeightsFormat.TORCHSCRIPT, bundled="assets/does-not-exist.pt")
    monkeypatch.setitem(W.REGISTRY, spec.name, spec)
    with pytest.raises(W.MissingWeightsError, match="no download URL.*\n.*does-not-exist.pt"):
        W.resolve("t-bundled", allow_download=True)


def test_bundled_file_matches_reference_checkpoint(clf):
    """The TorchScript export computes what the reference_models network computes (1e-5)."""
    net = load_checkpoint(CHECKPOINT)
    x = _images(6)
    with torch.no_grad():
        assert torch.allclose(clf(x), net(x), atol=1e-5, rtol=0)
        assert torch.allclose(clf.features(x), net.features(x), atol=1e-5, rtol=0)
        for a, b in zip(clf.activations(x), net.activations(x), strict=True):
            assert torch.allclose(a, b, atol=1e-5, rtol=0)
    assert clf.attribute_names == list(ATTRIBUTES)


def test_export_of_random_network_matches_and_roundtrips(tmp_path):
    net = build_classifier(3, 16, seed=1, fmap_base=64, fmap_max=16).eval()
    path = save_export(export_module(net), metadata(net, ["a", "b", "c"]), tmp_path / "x.pt")
    loaded = load_testbed_classifier(path, allow_hash_mismatch=True)
    x = torch.rand(5, 3, 16, 16) * 2 - 1        # another batch size than the trace's
    with torch.no_grad():
        assert torch.allclose(loaded(x), net(x), atol=1e-5, rtol=0)
        assert torch.allclose(loaded.features(x), net.features(x), atol=1e-5, rtol=0)
        assert [a.shape for a in loaded.activations(x)] == [a.shape for a in net.activations(x)]
    assert loaded.attribute_names == ["a", "b", "c"] and loaded.resolution == 16


def test_not_an_export_is_an_error(tmp_path):
    p = tmp_path / "x.pt"
    torch.jit.save(torch.jit.script(torch.nn.Identity()), str(p))
    with pytest.raises(ValueError, match="not a test-bed classifier export"):
        load_testbed_classifier(p, allow_hash_mismatch=True)


# ---------------------------------------------------------------- resizing

def test_resize_square_filters():
    x = torch.rand(2, 3, 64, 64)
    assert torch.allclose(resize_square(x, 32), torch.nn.functional.avg_pool2d(x, 2))
    assert resize_square(x[:, :, :32, :32], 32) is not None and torch.equal(resize_square(x[:, :, :32, :32], 32),
                                                                             x[:, :, :32, :32])
    assert resize_square(torch.rand(1, 3, 48, 48), 32).shape == (1, 3, 32, 32)
    const = torch.full((1, 3, 16, 16), 0.25)
    assert torch.allclose(resize_square(const, 32), torch.full((1, 3, 32, 32), 0.25))
    with pytest.raises(ValueError, match="square"):
        resize_square(torch.rand(1, 3, 32, 16), 32)


def test_classifier_accepts_any_size_and_rejects_uint8(clf):
    x64 = _images(4, 64)
    with torch.no_grad():
        assert torch.allclose(clf(x64), clf(torch.nn.functional.avg_pool2d(x64, 2)), atol=1e-5)
        assert clf(_images(2, 16)).shape == (2, len(ATTRIBUTES))
    with pytest.raises(TypeError, match="float images"):
        clf(render(TestbedConfig(resolution=32), [0]))


def test_shipped_classifier_reads_the_test_bed(clf):
    """Sanity check of the shipped weights on fresh held-out images (the full table is in docs)."""
    idx = range(2_000_000_000, 2_000_000_200)
    from disentangle_metrics.data.testbed import sample_attributes
    labels = torch.as_tensor(sample_attributes(TestbedConfig(), list(idx)))
    with torch.no_grad():
        pred = clf(render(TestbedConfig(), idx).float() / 127.5 - 1) > 0
    assert (pred == labels).float().mean().item() > 0.9


@pytest.mark.parametrize("resolution", [32, 64])
def test_shipped_classifier_is_95_percent_accurate_on_every_attribute(clf, resolution):
    """The issue's bar, on 2000 held-out images never used in training or validation (indices from 3e9)."""
    from disentangle_metrics.data.testbed import sample_attributes
    cfg = TestbedConfig(resolution=resolution)
    idx = list(range(3_100_000_000, 3_100_002_000))
    labels = torch.as_tensor(sample_attributes(cfg, idx))
    with torch.no_grad():
        pred = torch.cat([clf(render(cfg, idx[i:i + 500]).float() / 127.5 - 1) > 0 for i in range(0, len(idx), 500)])
    acc = (pred == labels).float().mean(0)
    low = {ATTRIBUTES[k]: round(acc[k].item(), 4) for k in range(len(ATTRIBUTES)) if acc[k] < 0.95}
    assert not low, f"attributes below 95% held-out accuracy at {resolution}x{resolution}: {low}"


# ---------------------------------------------------------------- FID extractor

def test_testbed_extractor_shape_determinism():
    ext = build_extractor("testbed", device="cpu")
    u = render(TestbedConfig(resolution=64), range(5))
    f1, f2 = ext(u), ext(u)
    assert f1.shape == (5, ext.feature_dim) and f1.dtype == torch.float32
    assert torch.isfinite(f1).all() and torch.equal(f1, f2)
    assert ext.weights_sha256 == W.get_spec(WEIGHTS_NAME).sha256
    assert f1.std(0).mean() > 0                     # features vary across images
    with pytest.raises(ValueError, match="uint8"):
        ext(u.float())


# ---------------------------------------------------------------- PPL distance

@pytest.fixture(scope="module")
def dist():
    return build_distance("testbed-lpips")


def test_distance_zero_symmetric_finite(dist):
    x, y = _images(4), _images(4, seed=10)
    assert dist.weights == {WEIGHTS_NAME: W.get_spec(WEIGHTS_NAME).sha256}
    d = dist(x, y)
    assert d.shape == (4,) and torch.isfinite(d).all() and (d > 0).all()
    assert torch.allclose(dist(x, x), torch.zeros(4), atol=1e-6)
    assert torch.allclose(d, dist(y, x), atol=1e-6)
    assert torch.equal(d, dist(x, y))


def test_distance_grows_with_perturbation(dist):
    x = _images(8)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    d = [dist(x, (x + s * noise).clamp(-1, 1)).mean().item() for s in (0.01, 0.05, 0.2, 0.6)]
    assert d == sorted(d) and d[0] > 0 and d[-1] > 5 * d[0]


def test_distance_matches_formula(clf, dist):
    x, y = _images(3), _images(3, seed=7)
    with torch.no_grad():
        expect = sum(((unit_normalize(a) - unit_normalize(b)) ** 2).sum(1).mean((1, 2))
                     for a, b in zip(clf.activations(x), clf.activations(y)))
    assert torch.allclose(dist(x, y), expect, atol=1e-6)


def test_ppl_reports_testbed_lpips_name():
    from disentangle_metrics.metrics.ppl import ppl
    from tests.toy_generators_ppl import make_linear
    res = ppl(make_linear(), space="w", sampling="end", num_samples=8, distance="testbed-lpips", batch_size=4,
              device="cpu")
    assert res.metric == "ppl_wend@testbed-lpips" and res.value > 0


# ---------------------------------------------------------------- separability hook

def test_cli_classifier_testbed_resolves_to_shipped(tmp_path, monkeypatch):
    from cli.loading import load_object
    monkeypatch.chdir(tmp_path)                     # no file called "testbed" here
    obj = load_object("testbed")
    assert isinstance(obj, TestbedClassifier) and obj.attribute_names == list(ATTRIBUTES)
    (tmp_path / "testbed").mkdir()                   # an existing path wins over the shipped name
    with pytest.raises(Exception, match="config.json"):
        load_object("testbed")


def test_separability_runs_with_testbed_classifier(clf):
    from disentangle_metrics.metrics.separability import separability
    from tests._ls_toys import ToyGenerator
    res = separability(ToyGenerator(resolution=64), clf, num_samples=40, batch_size=20, device="cpu")
    assert res.extras["attribute_names"] == list(ATTRIBUTES)
    assert res.metric == "ls@testbed" and set(res.values) == {"ls_z@testbed", "ls_w@testbed"}
    assert res.config["classifier_resolution"] == 32 and res.weights["classifier@testbed"] == clf.sha256


def test_reference_checkpoint_copy_is_a_valid_folder(tmp_path):
    # the shipped checkpoint folder loads on its own (no disentangle_metrics file needed)
    shutil.copytree(CHECKPOINT, tmp_path / "c")
    net = load_checkpoint(tmp_path / "c")
    assert net.num_attributes == len(ATTRIBUTES) and net.cfg.resolution == 32


def test_fid_with_testbed_extractor_is_named(tmp_path):
    import numpy as np

    from disentangle_metrics import fid
    from tests._ls_toys import ToyGenerator
    real = tmp_path / "real.npy"
    np.save(real, render(TestbedConfig(resolution=32), range(40)).numpy())
    res = fid(ToyGenerator(resolution=32), str(real), num_samples=40, num_real=40, extractor="testbed", device="cpu")
    assert res.metric == "fid40@testbed" and res.value > 0
    assert res.weights == {WEIGHTS_NAME: W.get_spec(WEIGHTS_NAME).sha256}
