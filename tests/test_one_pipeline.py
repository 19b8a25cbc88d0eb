"""Issue 24: every entry point (CLI score / compare, dm.*) goes through one path with one set of guards.

Each test here failed on the code before the restructuring (each way in was wired on its own).
"""

import inspect
import json
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import disentangle_metrics as dm
from cli.main import main
from tests.fid_helpers import ToyGenerator, inception_weights, smooth_images  # noqa: F401  (test-pixel-stats)
from tests.suite_helpers import nvidia_standins  # noqa: F401


def _pngs(folder, n, h, w, seed):
    folder.mkdir(parents=True)
    imgs = smooth_images(n, max(h, w), seed=seed)[:, :, :h, :w]
    for i, img in enumerate(imgs):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}.png")
    return str(folder)


def _stats(tmp_path, name, folder, extractor="test-pixel-stats", extra=()):
    out = tmp_path / name
    r = CliRunner().invoke(main, ["stats", folder, "--out", str(out), "--extractor", extractor, "--device", "cpu",
                                  "--no-progress", "--no-cache", *extra])
    assert r.exit_code == 0, r.output
    return str(out)


# ---- counts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["--num", "--num-real"])
def test_compare_refuses_a_zero_count_like_score(tmp_path, flag):
    a, b = _pngs(tmp_path / "a", 4, 8, 8, 0), _pngs(tmp_path / "b", 4, 8, 8, 1)
    r = CliRunner().invoke(main, ["compare", a, b, flag, "0", "--extractor", "test-pixel-stats", "--device", "cpu"])
    assert r.exit_code == 2 and "0" in r.output and flag in r.output, r.output


def test_the_api_refuses_a_zero_count():
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        dm.fid(ToyGenerator(), "testbed", num_samples=0, extractor="test-pixel-stats", device="cpu")


# ---- statistics against statistics ----------------------------------------------------------------

def test_stats_of_two_extractors_are_refused_and_matching_ones_named(tmp_path):
    a, b = _pngs(tmp_path / "a", 20, 16, 16, 0), _pngs(tmp_path / "b", 30, 32, 32, 1)
    sa, sb = _stats(tmp_path, "a.npz", a), _stats(tmp_path, "b.npz", b)
    tb = _stats(tmp_path, "tb.npz", b, extractor="testbed")
    r = CliRunner().invoke(main, ["compare", sa, tb])
    assert r.exit_code != 0 and "extractor" in r.output and "test-pixel-stats" in r.output, r.output
    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(main, ["compare", sa, sb, "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    # named like the image route (count, _full, extractor), never a bare "fid"; both sizes recorded and said
    assert res["metric"] == "fid20_full@test-pixel-stats" and res["config"]["extractor"] == "test-pixel-stats"
    assert "16px and 32px" in r.output and "rank at most 19 < 96" in r.output


# ---- one missing weights file fails its own rows only ----------------------------------------------

def test_a_missing_weights_file_fails_only_the_rows_that_need_it(tmp_path, nvidia_standins):
    a, b = _pngs(tmp_path / "a", 12, 16, 16, 0), _pngs(tmp_path / "b", 12, 16, 16, 1)
    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(main, ["compare", a, b, "--metrics", "fid,kid,pr,is", "--extractor", "test-pixel-stats",
                                  "--kid-subset-size", "6", "--kid-subsets", "2", "--device", "cpu", "--no-progress",
                                  "--weights", f"inception-v3-tf={nvidia_standins['inception-v3-tf']}",
                                  "--weights", f"vgg16-nvidia={tmp_path / 'missing' / 'vgg16.pt'}", "--out", str(out)])
    assert r.exit_code == 1, r.output
    written = [json.loads(x)["metric"] for x in out.read_text().splitlines()]
    assert written == ["fid12_full@test-pixel-stats", "kid12_full@test-pixel-stats", "is12"]
    assert "pr: failed" in r.output and "vgg16.pt" in r.output
    assert "fid: failed" not in r.output and "is: failed" not in r.output


def test_score_keeps_the_other_results_of_a_group_when_one_extractor_is_missing(tmp_path):
    G = ToyGenerator()
    got = dict(dm.metrics.scoring.score_iter(G, ["fid50k", "pr50k3_full"], dm.ScoreOptions(
        device="cpu", num_samples=12, num_real=12, reference="testbed", extractor="test-pixel-stats",
        weights={"vgg16-nvidia": str(tmp_path / "nope.pt")}, progress=False)))
    assert isinstance(got["fid50k"], dm.MetricResult) and isinstance(got["pr50k3_full"], Exception)
    assert "nope.pt" in str(got["pr50k3_full"])


# ---- compare scores each set as it is: torch-fidelity's numbers ------------------------------------

def test_compare_of_two_sizes_equals_torch_fidelity(tmp_path, inception_weights):
    """64x64 against 32x32, identical random Inception weights: each set goes to the network as it is."""
    import torch_fidelity
    n = 6
    a, b = _pngs(tmp_path / "a", n, 64, 64, 0), _pngs(tmp_path / "b", n, 32, 32, 1)
    theirs = torch_fidelity.calculate_metrics(input1=a, input2=b, fid=True, kid=True, kid_subset_size=n,
                                              kid_subsets=2, samples_shuffle=False, cuda=False, cache=False,
                                              feature_extractor_weights_path=inception_weights, verbose=False)
    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(main, ["compare", a, b, "--metrics", "fid,kid", "--kid-subset-size", str(n),
                                  "--kid-subsets", "2", "--device", "cpu", "--no-progress", "--allow-hash-mismatch",
                                  "--weights", f"inception-v3-tf={inception_weights}", "--out", str(out)])
    assert r.exit_code == 0, r.output
    fid, kid = [json.loads(x) for x in out.read_text().splitlines()]
    assert fid["value"] == pytest.approx(theirs["frechet_inception_distance"], rel=1e-4)
    assert kid["value"] == pytest.approx(theirs["kernel_inception_distance_mean"], rel=2e-3, abs=1e-6)
    assert "rank at most 5 < 2048" in r.output      # 6 images: a value, and the reason it is degenerate


def test_compare_takes_small_and_non_square_sets(tmp_path):
    a, b = _pngs(tmp_path / "a", 10, 12, 16, 0), _pngs(tmp_path / "b", 10, 16, 8, 1)
    out = tmp_path / "r.jsonl"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        r = CliRunner().invoke(main, ["compare", a, b, "--extractor", "test-pixel-stats", "--device", "cpu",
                                      "--no-progress", "--out", str(out)])
    assert not [w for w in seen if "rank at most" in str(w.message)]   # printed from the result instead
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert res["metric"] == "fid10_full@test-pixel-stats" and np.isfinite(res["value"])
    # each finding printed once, from the result (the library's warning of it is not shown again)
    assert r.output.count("generated images: 10 samples in a 96-d") == 1, r.output
    assert res["config"]["generated"]["size"] == [12, 16]
    assert any("rank at most 9 < 96" in n for n in res["extras"]["rank_deficient"])


def test_a_small_set_gives_a_value_on_every_route(tmp_path):
    a, b = _pngs(tmp_path / "a", 10, 16, 16, 0), _pngs(tmp_path / "b", 10, 16, 16, 1)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        api = dm.fid(a, b, num_real=None, extractor="test-pixel-stats", device="cpu")
    assert any("rank at most 9 < 96" in str(w.message) for w in seen)
    r = CliRunner().invoke(main, ["score", a, "--metrics", "fid50k_full", "--reference", b, "--num-samples", "10",
                                  "--extractor", "test-pixel-stats", "--device", "cpu", "--out",
                                  str(tmp_path / "s.jsonl")])
    assert r.exit_code == 0 and "rank at most 9 < 96" in r.output, r.output
    assert json.loads((tmp_path / "s.jsonl").read_text())["value"] == api.value


# ---- the public API -----------------------------------------------------------------------------

def test_public_functions_have_real_signatures():
    for fn in (dm.fid, dm.kid, dm.precision_recall, dm.inception_score, dm.ppl, dm.separability, dm.score):
        sig = inspect.signature(fn)
        assert "args" not in sig.parameters and fn.__doc__, fn
    assert list(inspect.signature(dm.fid).parameters)[:3] == ["G", "reference", "num_samples"]


def test_a_misspelt_keyword_names_the_public_function():
    with pytest.raises(TypeError, match=r"fid\(\) got an unexpected keyword argument 'num_sample'"):
        dm.fid(ToyGenerator(), "testbed", num_sample=10)
    with pytest.raises(TypeError, match=r"score\(\) got unknown options \['num_sample'\]"):
        dm.score(ToyGenerator(), ["fid50k"], num_sample=10)


def test_no_module_path_shadows_a_public_name():
    import importlib
    for name in dm.__all__:
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"disentangle_metrics.{name}")


def test_in_memory_images_equal_the_same_images_on_disk(tmp_path):
    imgs = smooth_images(20, 16, seed=3)
    folder = _pngs(tmp_path / "a", 20, 16, 16, 3)
    kw = dict(num_real=20, extractor="test-pixel-stats", device="cpu")
    ref = _pngs(tmp_path / "r", 20, 16, 16, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        on_disk = dm.fid(folder, ref, **kw)
        assert dm.fid(imgs, ref, **kw).value == on_disk.value               # uint8 NCHW tensor
        assert dm.fid(imgs.numpy(), ref, **kw).value == on_disk.value       # numpy array
        as_float = imgs.float() / 127.5 - 1                                  # generator-style floats
        assert dm.fid(as_float, ref, image_range=(-1, 1), **kw).value == on_disk.value
    with pytest.raises(ValueError, match="image_range"):
        dm.fid(as_float, ref, **kw)


def test_the_default_count_of_a_folder_is_the_count_compare_uses(tmp_path):
    a, b = _pngs(tmp_path / "a", 14, 16, 16, 0), _pngs(tmp_path / "b", 12, 16, 16, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        api = dm.fid(a, b, num_real=None, extractor="test-pixel-stats", device="cpu")
    r = CliRunner().invoke(main, ["compare", a, b, "--extractor", "test-pixel-stats", "--device", "cpu",
                                  "--no-progress", "--out", str(tmp_path / "c.jsonl")])
    cmp = json.loads((tmp_path / "c.jsonl").read_text())
    assert api.num_samples == cmp["num_samples"] == 14 and api.metric == cmp["metric"] and api.value == cmp["value"]


def test_separability_takes_the_named_classifier():
    from tests.fid_helpers import ToyGenerator as G
    res = dm.separability(G(resolution=32), "testbed", num_samples=64, num_keep=32, device="cpu", bootstrap=0)
    assert set(res.values) >= {"ls_z"}
    with pytest.raises(ValueError, match="named ones are testbed"):
        dm.separability(G(resolution=32), "celeba-hq", num_samples=64, device="cpu")


def test_a_result_prints_one_line_and_loads_into_a_dataframe(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = dm.fid(ToyGenerator(), "testbed", num_samples=40, num_real=40, extractor="test-pixel-stats",
                     device="cpu")
    line = str(res)
    assert "\n" not in line and line.startswith("fid40@test-pixel-stats = ") and "n=40" in line
    dm.append_result(tmp_path / "r.jsonl", res)
    df = dm.results_dataframe(tmp_path / "r.jsonl")
    assert list(df["name"]) == ["fid40@test-pixel-stats"] and df["value"][0] == res.value
    assert df["ci95_low"][0] < res.value < df["ci95_high"][0]
    assert dm.results_dataframe([res]).shape == df.shape
    assert torch.is_tensor(torch.zeros(1))
