"""fid(): agreement with a by-hand computation, naming, references, caching, determinism."""

import numpy as np
import pytest
import torch

from disentangle_metrics._core import sampling
from disentangle_metrics.features.cache import dataset_stats
from disentangle_metrics.features import build_extractor
from disentangle_metrics import fid
from disentangle_metrics.generators.sources import to_uint8
from disentangle_metrics.functional.frechet import frechet_distance
from disentangle_metrics._core.options import ScoreOptions
from disentangle_metrics.metrics.registry import get_metric
from disentangle_metrics.functional.stats import FeatureStats
from tests.fid_helpers import ToyGenerator, inception_weights  # noqa: F401


def test_to_uint8_matches_reference_rounding():
    x = torch.tensor([-1.5, -1.0, -0.0039, 0.0, 0.5, 0.99, 1.0, 2.0])
    ref = np.clip(x.numpy().astype(np.float32) * 127.5 + 128, 0, 255).astype(np.uint8)  # numpy truncates too
    assert to_uint8(x).tolist() == ref.tolist() == [0, 0, 127, 128, 191, 254, 255, 255]


@pytest.mark.parametrize("which", ["test-pixel-stats", pytest.param("inception", marks=pytest.mark.slow)])
def test_fid_equals_by_hand_computation(request, which):
    # The Inception variant costs several 2048-d eigendecompositions: ~1 min on 2 loaded cores.
    G = ToyGenerator(resolution=32)
    if which == "inception":
        ext = build_extractor("inception-v3-tf", weights=request.getfixturevalue("inception_weights"), device="cpu",
                              allow_hash_mismatch=True)
    else:
        ext = build_extractor(which, device="cpu")
    ref_G = ToyGenerator(resolution=32, shift=0.3)
    ref = FeatureStats(ext.feature_dim)
    with torch.inference_mode():
        for idx in (range(0, 6), range(6, 12)):
            z = sampling.randn(99, idx, [8])
            ref.update(ext(to_uint8(ref_G.synthesis(ref_G.mapping(z, None)))))
    res = fid(G, ref, num_samples=12, batch_size=5, seed=1, device="cpu", extractor=ext)
    # by hand: the same latents, features and np.cov; the formula itself is checked against pytorch-fid
    # in test_fid_frechet_stats (its sqrtm takes a minute at 2048-d, too slow here)
    z = sampling.randn(1, range(12), [8])
    with torch.inference_mode():
        f = ext(to_uint8(G.synthesis(G.mapping(z, None)))).double().numpy()
    expected = frechet_distance(f.mean(0), np.cov(f, rowvar=False), ref.mean().numpy(), ref.cov().numpy())
    assert res.value == pytest.approx(expected, rel=1e-5) and res.value > 0
    assert res.num_samples == 12 and res.config["batch_size"] == 5
    if which == "inception":
        assert res.metric == "fid12"
        assert res.weights == {"inception-2015-12-05-pytorch-fid": ext.weights_sha256}
    else:
        assert res.metric == "fid12@test-pixel-stats" and res.weights == {}


def test_batch_size_does_not_change_noise_free_result():
    G = ToyGenerator()
    ref = dataset_stats_from_generator(ToyGenerator(shift=0.2))
    a = fid(G, ref, num_samples=40, batch_size=7, device="cpu", extractor="test-pixel-stats").value
    b = fid(G, ref, num_samples=40, batch_size=16, device="cpu", extractor="test-pixel-stats").value
    # float32 matmul kernels depend on the batch size (AVX-512 here), so a pixel can round to the next
    # uint8 level: 5e-9 relative seen; anything the batch size did to the statistic would be far larger
    assert a == pytest.approx(b, rel=1e-7) and a > 0


def test_random_noise_is_reproducible_and_seeded():
    G, ref = ToyGenerator(noise_scale=0.5), dataset_stats_from_generator(ToyGenerator())
    runs = [fid(G, ref, num_samples=30, batch_size=8, seed=s, device="cpu", extractor="test-pixel-stats").value
            for s in (0, 0, 1)]
    assert runs[0] == runs[1] != runs[2]


def dataset_stats_from_generator(G, n=64):
    ext = build_extractor("test-pixel-stats", device="cpu")
    st = FeatureStats(ext.feature_dim)
    z = sampling.randn(123, range(n), [G.z_dim])
    return st.update(ext(to_uint8(G.synthesis(G.mapping(z, None)))))


def _write_dataset(path, G, n=40):
    z = sampling.randn(5, range(n), [G.z_dim])
    imgs = to_uint8(G.synthesis(G.mapping(z, None))).permute(0, 2, 3, 1).numpy()
    np.save(path, imgs)
    return path


def test_registered_metric_naming_and_dataset_reference(tmp_path):
    G = ToyGenerator()
    data = _write_dataset(tmp_path / "real.npy", ToyGenerator(shift=0.1), n=120)   # > 96 features: full rank
    opts = ScoreOptions(device="cpu", num_samples=100, reference=str(data), extractor="test-pixel-stats", progress=False)
    res = get_metric("fid50k")(G, opts)
    assert res.metric == "fid100@test-pixel-stats" and list(res.values) == ["fid100@test-pixel-stats"]
    assert res.config["num_real"] == 120 and res.num_samples == 100
    again = get_metric("fid50k")(G, opts)
    assert again.extras["reference_info"]["cached"] is True and again.value == pytest.approx(res.value, rel=1e-7)
    # the same dataset as reference and as the generator's distribution: FID near 0 vs clearly > 0
    assert 0 < res.value


def test_dataset_stats_cache_invalidation(tmp_path):
    data = _write_dataset(tmp_path / "real.npy", ToyGenerator(), n=24)
    kw = dict(extractor="test-pixel-stats", device="cpu", progress=False)
    first = dataset_stats(data, **kw)
    assert first.info["cached"] is False and dataset_stats(data, **kw).info["cached"] is True
    for change in (dict(mirror=True), dict(num=20), dict(resolution=8), dict(num=20, subset="random", seed=3)):
        st = dataset_stats(data, **kw, **change)
        assert st.info["cached"] is False, change
        assert st.info["cache_file"] != first.info["cache_file"]
    assert dataset_stats(data, **kw, mirror=True).info["cached"] is True
    # mirrored statistics differ; the cached values equal the computed ones
    assert not torch.allclose(dataset_stats(data, **kw, mirror=True).mean(), first.mean())
    np.testing.assert_allclose(dataset_stats(data, **kw).cov().numpy(), first.cov().numpy(), rtol=1e-12)
    # touching the data invalidates
    arr = np.load(data)
    arr[0] = 255 - arr[0]
    np.save(data, arr)
    changed = dataset_stats(data, **kw)
    assert changed.info["cached"] is False and not torch.allclose(changed.mean(), first.mean())


def test_reference_errors(tmp_path):
    G = ToyGenerator()
    with pytest.raises(ValueError, match="dmetrics stats"):
        fid(G, None, num_samples=4, device="cpu", extractor="test-pixel-stats")
    data = _write_dataset(tmp_path / "real.npy", G, n=8)
    stats = tmp_path / "s.npz"
    dataset_stats(data, extractor="test-pixel-stats", device="cpu", progress=False).save(stats, extractor="other-net")
    with pytest.raises(ValueError, match="extractor other-net"):
        fid(G, str(stats), num_samples=4, device="cpu", extractor="test-pixel-stats")
    with pytest.raises(ValueError, match="96-d"):
        fid(G, FeatureStats(5).update(torch.randn(3, 5)), num_samples=4, device="cpu", extractor="test-pixel-stats")


def test_pytorch_fid_stats_file_as_reference(tmp_path):
    G = ToyGenerator()
    ref = dataset_stats_from_generator(ToyGenerator(shift=0.2))
    np.savez(tmp_path / "pf.npz", mu=ref.mean().numpy(), sigma=ref.cov().numpy())  # pytorch-fid's layout
    res = fid(G, str(tmp_path / "pf.npz"), num_samples=20, device="cpu", extractor="test-pixel-stats")
    assert res.value == pytest.approx(fid(G, ref, num_samples=20, device="cpu", extractor="test-pixel-stats").value, rel=1e-9)
    assert res.config["num_real"] is None and "pf.npz" in res.config["reference"]
