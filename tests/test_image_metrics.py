"""The registered image metrics: folder input equals the generator, one shared pass, names, errors."""

import numpy as np
import pytest
import torch
from PIL import Image

import disentangle_metrics as dm
from disentangle_metrics.metrics import image as IM
from disentangle_metrics._core.options import ScoreOptions
from disentangle_metrics.metrics.registry import get_metric
from disentangle_metrics.generators.sources import GeneratorSource
from tests.fid_helpers import ToyGenerator
from tests.suite_helpers import nvidia_standins  # noqa: F401

N = 100  # > the 96-d test extractor's dimension: a full-rank covariance (FID refuses less)


def _export(G, folder, num, seed=0, batch_size=8):
    """Write a generator's uint8 samples as PNGs (lossless: the folder holds exactly those bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    src = GeneratorSource(G, device="cpu")
    for b in src.batches(num, batch_size, seed=seed):
        for i, img in zip(b.index, b.images):
            Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i:06d}.png")
    return folder


@pytest.fixture(scope="module")
def real_folder(tmp_path_factory):
    return _export(ToyGenerator(seed=7, shift=0.3), tmp_path_factory.mktemp("real") / "img", 120, seed=3)


def _opts(weights, reference, **kw):
    base = dict(device="cpu", seed=0, batch_size=8, num_samples=N, reference=None if reference is None else str(reference), weights=dict(weights),
                extractor="test-pixel-stats", progress=False)   # FID/KID on 96-d features: a 2048-d FID costs 10 s
    base.update(kw)
    return ScoreOptions(**base)


ROWS = ["fid50k_full", "kid50k_full", "pr50k3_full", "is50k"]


def _small(rows):
    # KID subsets and IS splits sized for 60 images (the constants stay otherwise)
    out = []
    for r in rows:
        row = IM.TABLE[r]
        if row.kind == "kid":
            row = IM.with_params(row, num_subsets=5, max_subset_size=40)
        if row.kind == "is":
            row = IM.with_params(row, num_splits=3)
        out.append(row)
    return out


def test_folder_of_samples_scores_like_the_generator(tmp_path, nvidia_standins, real_folder):
    G = ToyGenerator(seed=1)
    folder = _export(G, tmp_path / "gen", N)
    opts = _opts(nvidia_standins, real_folder)
    direct = IM.compute(G, _small(ROWS), opts)
    from_folder = IM.compute(str(folder), _small(ROWS), opts)
    for a, b in zip(direct, from_folder):
        assert a.metric == b.metric
        assert a.values == b.values, a.metric          # bit-identical: same uint8 images, same order
    v = {k: x for r in direct for k, x in r.values.items()}
    assert set(v) == {"fid100_full@test-pixel-stats", "kid100_full@test-pixel-stats", "kid100_full_std@test-pixel-stats",
                      "pr1003_full_precision", "pr1003_full_recall", "is100_mean", "is100_std"}
    assert all(np.isfinite(x) for x in v.values()) and v[direct[0].metric] > 0


def test_one_pass_generates_each_image_once(nvidia_standins, real_folder, monkeypatch):
    G = ToyGenerator(seed=1)
    calls = []
    orig = GeneratorSource.synthesis

    def counting(self, ws, **kw):
        calls.append(ws.shape[0])
        return orig(self, ws, **kw)
    monkeypatch.setattr(GeneratorSource, "synthesis", counting)
    together = IM.compute(G, _small(ROWS), _opts(nvidia_standins, real_folder))
    assert sum(calls) == N                       # four metrics, one pass over the generated images
    alone = [IM.compute(G, [row], _opts(nvidia_standins, real_folder))[0] for row in _small(ROWS)]
    assert sum(calls) == 5 * N
    for a, b in zip(together, alone):
        assert a.values == b.values


def test_score_groups_and_fid50k_matches_the_fid_module(nvidia_standins, real_folder):
    G = ToyGenerator(seed=2)
    kw = dict(device="cpu", batch_size=8, num_samples=100, num_real=110, reference=str(real_folder),
              weights=dict(nvidia_standins), extractor="test-pixel-stats", progress=False)
    grouped = dm.score(G, ["fid50k", "is50k"], **{**kw, "weights": dict(nvidia_standins)})
    registered = get_metric("fid50k")(G, ScoreOptions(**kw))
    assert grouped[0].metric == registered.metric == "fid100@test-pixel-stats"
    assert grouped[0].value == pytest.approx(registered.value, rel=1e-9)
    assert grouped[1].metric == "is100" and grouped[1].values["is100_mean"] > 1


def test_api_functions_and_aliases(nvidia_standins, real_folder):
    G = ToyGenerator(seed=2)
    common = dict(num_samples=100, weights=nvidia_standins, device="cpu", batch_size=8)
    k = dm.kid(G, str(real_folder), max_subset_size=30, num_subsets=4, extractor="test-pixel-stats", **common)
    assert k.metric == "kid100_full@test-pixel-stats"
    assert set(k.values) == {"kid100_full@test-pixel-stats", "kid100_full_std@test-pixel-stats"}
    p = dm.precision_recall(G, str(real_folder), **common)
    assert p.metric == "pr1003_full" and 0 <= p.values["pr1003_full_recall"] <= 1
    i = dm.inception_score(G, num_splits=4, **common)
    assert i.metric == "is100"
    f = dm.fid(G, str(real_folder), num_real=None, extractor="test-pixel-stats", **common)
    assert f.metric == "fid100_full@test-pixel-stats" and f.config["num_real"] == 120
    import inspect
    import types
    for fn in (dm.fid, dm.kid, dm.precision_recall, dm.inception_score, dm.ppl, dm.separability, dm.score):
        assert isinstance(fn, types.FunctionType), fn          # plain functions, not callable modules
        assert "num_samples" in inspect.signature(fn).parameters or fn is dm.score


def test_names_results_carry_are_accepted():
    from disentangle_metrics.metrics.registry import resolve_name
    assert resolve_name("fid10k") == ("fid50k", {"num_samples": 10_000})
    assert resolve_name("kid2500_full") == ("kid50k_full", {"num_samples": 2500})
    assert resolve_name("pr10k3@vgg16-torchvision") == ("pr50k3@vgg16-torchvision", {"num_samples": 10_000})
    assert resolve_name("fid50k@testbed") == ("fid50k", {"extractor": "testbed"})
    assert resolve_name("ls_z")[0] == resolve_name("ls_w")[0] == "ls"
    assert resolve_name("ppl_wend@testbed-lpips") == ("ppl_wend", {"distance": "testbed-lpips"})
    assert resolve_name("ppl_wend@ada") == ("ppl_wend@ada", {})
    for bad in ("pr50k", "fid50k3", "kid50k@nope-but-pr", "nonsense"):
        if bad == "kid50k@nope-but-pr":
            continue    # an unknown extractor is reported when it is built, by the extractor registry
        with pytest.raises(KeyError, match="unknown metric"):
            resolve_name(bad)


def test_latent_metrics_refuse_images_with_a_clear_message(tmp_path):
    folder = _export(ToyGenerator(), tmp_path / "gen", 8)
    with pytest.raises(ValueError, match="needs a generator .*holds images only"):
        dm.score(str(folder), ["ppl_wend"])


def test_full_rows_refuse_mirror_and_stats_refuse_kid(tmp_path, nvidia_standins, real_folder):
    G = ToyGenerator()
    with pytest.raises(ValueError, match="without x-flips by definition"):
        IM.compute(G, _small(["kid50k_full"]), _opts(nvidia_standins, real_folder, mirror=True))
    from disentangle_metrics.functional.stats import FeatureStats
    st = FeatureStats(2048)
    st.update(torch.randn(10, 2048))
    path = tmp_path / "s.npz"
    st.save(path)
    with pytest.raises(ValueError, match="needs? real images, not a statistics file"):
        IM.compute(G, _small(["kid50k"]), _opts(nvidia_standins, path))
    with pytest.raises(ValueError, match="need real images: pass reference="):
        IM.compute(G, _small(["kid50k"]), _opts(nvidia_standins, None))


def test_registered_fid50k_reads_num_real_and_mirror_and_takes_folders(tmp_path, real_folder):
    G = ToyGenerator(seed=2)
    kw = dict(device="cpu", batch_size=8, num_samples=100, reference=str(real_folder), extractor="test-pixel-stats",
              progress=False)
    fid50k = get_metric("fid50k")
    few = fid50k(G, ScoreOptions(num_real=100, **kw))
    flipped = fid50k(G, ScoreOptions(num_real=100, mirror=True, **kw))
    assert few.config["num_real"] == 100 and flipped.config["mirror"] is True and few.value != flipped.value
    folder = _export(G, tmp_path / "gen", 100)
    from_folder = fid50k(str(folder), ScoreOptions(num_real=100, **kw))
    assert from_folder.metric == few.metric and from_folder.value == pytest.approx(few.value, rel=1e-9)


def test_weights_for_is_the_one_weights_rule_of_the_shared_pass():
    from disentangle_metrics.features.inception import NVIDIA_WEIGHTS, PYTORCH_FID_WEIGHTS
    w = {PYTORCH_FID_WEIGHTS: "/p/pt.pth", "testbed": "/p/tb.pt"}
    assert IM.weights_for("inception-v3-tf", w) == "/p/pt.pth"
    assert IM.weights_for("inception-v3-tf-logits", w) == "/p/pt.pth"   # one network for features and logits
    assert IM.weights_for("inception-v3-tf", {NVIDIA_WEIGHTS: "/p/nv.pkl", "inception-v3-tf": "/p/own"}) == "/p/own"
    assert IM.weights_for("testbed", w) == "/p/tb.pt" and IM.weights_for("vgg16-torchvision", w) is None


def test_real_features_are_cached_and_give_the_same_numbers(tmp_path, nvidia_standins, real_folder, monkeypatch):
    from disentangle_metrics.features import cache as feature_cache, extract as FP
    G = ToyGenerator(seed=1)
    rows = _small(["kid50k_full", "pr50k3_full"])    # KID on test-pixel-stats (no weights file), PR on VGG16
    first = IM.compute(G, rows, _opts(nvidia_standins, real_folder))
    files = sorted(feature_cache.features_cache_dir().glob("*.npy"))
    assert [f.name.split("-")[1] for f in files] == ["4096d"]   # only the extractor named by a weights hash
    assert [r.extras["real_features_cached"] for r in first] == [False, False]
    assert first[0].extras["real_features_cache"] is None and first[1].extras["real_features_cache"] == str(files[0])
    calls = []
    orig = FP.collect

    def counting(batches, extractors, *a, **kw):
        calls.append(sorted(extractors))
        return orig(batches, extractors, *a, **kw)
    monkeypatch.setattr(FP, "collect", counting)
    second = IM.compute(G, rows, _opts(nvidia_standins, real_folder))
    # the generated side, then the real side for the uncached extractor alone
    assert calls == [["test-pixel-stats", "vgg16-nvidia"], ["test-pixel-stats"]]
    assert [r.extras["real_features_cached"] for r in second] == [False, True]
    for a, b in zip(first, second):
        assert a.values == b.values and a.intervals == b.intervals, a.metric
    # another real count is another key: computed afresh
    IM.compute(G, rows, _opts(nvidia_standins, real_folder, num_real=110))
    assert calls[-1] == ["test-pixel-stats", "vgg16-nvidia"] and len(list(feature_cache.features_cache_dir().glob("*.npy"))) == 2
    # a damaged cache file is recomputed with a warning, never used
    files[0].write_bytes(b"not an array")
    with pytest.warns(RuntimeWarning, match="do not load"):
        third = IM.compute(G, rows, _opts(nvidia_standins, real_folder))
    assert [r.values for r in third] == [r.values for r in first]
