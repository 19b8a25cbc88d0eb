"""Issue 15: `dmetrics score` never returns a silent wrong number and never loses work.

Items 1 (zero counts), 2 (protocol check first), 5 (too few samples), 6 (stats mismatches),
7 (--resume, kill -9), 8 (provenance) and the CLI traps of item 9. Tiny generators and the
metrics of tests.guard_helpers keep each test to a few seconds.
"""

import json
import shutil
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import tests.guard_helpers  # noqa: F401  (registers test_quick, test_sleep)
from cli.main import main
from disentangle_metrics._core import sampling
from disentangle_metrics.generators.sources import to_uint8
from disentangle_metrics.generators.protocol import validate_generator
from disentangle_metrics._core.options import ScoreOptions
from disentangle_metrics.metrics.registry import get_metric
from disentangle_metrics.metrics.separability import separability_from_samples
from disentangle_metrics.functional.stats import FeatureStats
from disentangle_metrics._core.weights import sha256_of
from tests import guard_helpers as H
from tests.fid_helpers import ToyGenerator as FidToy  # noqa: F401  (registers test-pixel-stats)

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "reference_models" / "pretrained" / "mini-f-mixing90"


def _score(*args, out):
    return CliRunner().invoke(main, ["score", *args, "--device", "cpu", "--no-progress", "--out", str(out)])


def _lines(path):
    # whole lines only: a poll may catch a line while it is being written
    text = Path(path).read_text() if Path(path).exists() else ""
    return [json.loads(x) for x in text.split("\n")[:-1]]


# ---- item 1: zero and negative counts -------------------------------------------------------

@pytest.mark.parametrize("opt", ["--num-samples", "--batch-size", "--num-real"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_zero_or_negative_counts_are_refused(tmp_path, opt, value):
    r = _score("tests.guard_helpers:good", "--metrics", "test_quick", opt, value, out=tmp_path / "r.jsonl")
    assert r.exit_code == 2 and opt in r.output and "is not in the range x>=1" in r.output, r.output
    assert not (tmp_path / "r.jsonl").exists()


@pytest.mark.parametrize("field", ["num_samples", "batch_size", "num_real"])
def test_score_options_refuse_zero(field):
    with pytest.raises(ValueError, match=field):
        ScoreOptions(**{field: 0})


@pytest.mark.parametrize("metric", ["fid50k", "ppl_wend", "ls"])
def test_registered_metrics_never_turn_zero_into_the_paper_count(metric):
    opts = ScoreOptions(device="cpu", progress=False)
    opts.num_samples = 0            # bypassing __post_init__: the metric itself must refuse, not run 50k
    with pytest.raises(ValueError, match="num_samples must be a positive integer"):
        get_metric(metric)(H.good(), opts)


# ---- item 2: the protocol check runs first ----------------------------------------------------

@pytest.mark.parametrize("factory,needle", [
    ("zero_one", "looks like [0, 1]"), ("zero_255", "looks like [0, 255]"),
    ("nondeterministic", "non-determinism"), ("wrong_resolution", "image shape"),
])
def test_score_refuses_a_broken_generator(tmp_path, factory, needle):
    out = tmp_path / "r.jsonl"
    r = _score(f"tests.guard_helpers:{factory}", "--metrics", "test_quick", out=out)
    assert r.exit_code == 1 and needle in r.output and "--no-check" in r.output, r.output
    assert not out.exists()
    r = _score(f"tests.guard_helpers:{factory}", "--metrics", "test_quick", "--no-check", out=out)
    assert r.exit_code == 0, r.output
    assert _lines(out)[0]["extras"]["protocol_check"] == "skipped (--no-check)"


def test_small_overshoot_is_a_warning_in_score_and_check(tmp_path):
    out = tmp_path / "r.jsonl"
    r = _score("tests.guard_helpers:overshoot", "--metrics", "test_quick", out=out)
    assert r.exit_code == 0 and "warning: range" in r.output, r.output
    assert _lines(out)[0]["extras"]["protocol_check"].startswith("passed with warnings")
    r = CliRunner().invoke(main, ["check", "tests.guard_helpers:overshoot"])
    assert r.exit_code == 0 and "warning: range" in r.output, r.output


def test_check_fails_zero_one_output():
    r = CliRunner().invoke(main, ["check", "tests.guard_helpers:zero_one"])
    assert r.exit_code == 1 and "[0, 1]" in r.output


def test_range_classification():
    from disentangle_metrics.generators.protocol import classify_range
    assert classify_range(-0.9, 0.95)[0] == "ok"
    assert classify_range(-1.41, 1.64)[0] == "warning"          # the shipped demo model
    assert classify_range(0.0, 1.0)[0] == "violation"
    assert classify_range(0.0, 255.0)[0] == "violation"
    assert classify_range(-7.0, 3.0)[0] == "violation"
    assert validate_generator(H.overshoot()).ok


def test_check_device_auto():
    r = CliRunner().invoke(main, ["check", "tests.guard_helpers:good", "--device", "auto"])
    assert r.exit_code == 0, r.output


# ---- item 5: too few samples -----------------------------------------------------------------

@pytest.mark.parametrize("n", [3, 200, 256])
def test_separability_refuses_fewer_kept_samples_than_dimensions(n):
    g = torch.Generator().manual_seed(0)
    z = torch.randn(n, 128, generator=g)
    logits = torch.randn(n, 4, generator=g)
    with pytest.raises(ValueError, match="separable whatever their labels"):
        separability_from_samples({"z": z}, logits)


def test_separability_scores_a_class_of_two_as_the_paper_and_notes_its_bound():
    """A class of 2 kept samples: the paper's code (LinearSVC, no guard) gives a number, so we do, and
    the note bounds what that attribute can do to the score (issue 23: smoke must be defined)."""
    from tests.test_separability import _paper_reference_entropies
    from disentangle_metrics._core.results import RecordedWarning
    from disentangle_metrics.metrics.separability import binary_entropy_bits
    g = torch.Generator().manual_seed(0)
    z = torch.randn(400, 4, generator=g)
    logits = torch.randn(400, 2, generator=g)
    logits[:, 1] = logits[:, 1].abs() + 0.1
    logits[:2, 1] = -5.0                       # 2 very confident positives: kept, a class of 2
    with pytest.warns(RecordedWarning, match=r"attr01 \(2 of 200\)"):
        res = separability_from_samples({"z": z}, logits, device="cpu")
    ref = _paper_reference_entropies(z.numpy(), logits.numpy(), 200)
    assert np.isfinite(res.scores["z"])
    np.testing.assert_allclose(res.entropies["z"], ref, atol=0.01)
    assert res.scores["z"] == pytest.approx(2 ** ref.sum(), rel=0.01)
    bound = 2 ** binary_entropy_bits(2 / 200)
    assert f"{bound:.4g}" in res.thin_classes and not res.nan_reason
    assert binary_entropy_bits(0.5) == 1.0 and binary_entropy_bits(0.0) == 0.0


class _ThinClassifier(torch.nn.Module):
    """PixelClassifier's logits plus one attribute whose label 1 holds only the samples above ``t``."""

    def __init__(self, t):
        super().__init__()
        from tests._ls_toys import PixelClassifier
        self.base, self.t = PixelClassifier(), t

    def forward(self, images):
        r = self.base(images)
        thin = torch.where(r[:, :1] > self.t, torch.full_like(r[:, :1], -6.0), torch.full_like(r[:, :1], 5.0))
        return torch.cat([r, thin], 1)


def test_separability_metric_notes_a_thin_class_in_its_result():
    from disentangle_metrics._core.results import RecordedWarning
    from disentangle_metrics.metrics.separability import sample_latents_and_logits, separability
    from tests._ls_toys import PixelClassifier, ToyGenerator
    G = ToyGenerator()
    r0 = sample_latents_and_logits(G, PixelClassifier(), 64, ("z", "w"), 8, 0, "cpu").logits[:, 0]
    clf = _ThinClassifier(float(r0.sort().values[-3]))       # exactly 2 samples above it
    with pytest.warns(RecordedWarning, match=r"attr03 \(2 of 32\)"):
        out = separability(G, clf, num_samples=64, num_keep=32, device="cpu", bootstrap=0, progress=False)
    assert np.isfinite(out.values["ls_z"]) and np.isfinite(out.values["ls_w"])
    assert any("attr03 (2 of 32)" in n for n in out.extras["notes"])
def _pixel_stats_file(path, n, res=16, mirror=False):
    from disentangle_metrics.features.cache import dataset_stats
    G = FidToy(resolution=res, shift=0.1)
    imgs = to_uint8(G.synthesis(G.mapping(sampling.randn(1, range(n), [8]), None))).permute(0, 2, 3, 1).numpy()
    np.save(path.with_suffix(".npy"), imgs)
    st = dataset_stats(path.with_suffix(".npy"), "test-pixel-stats", device="cpu", progress=False, mirror=mirror)
    st.save(path, **{k: v for k, v in st.info.items() if k not in ("cached", "cache_file", "skipped_files")})
    return path


def test_a_rank_deficient_fid_reference_gives_a_value_that_says_so(tmp_path):
    """As the peers do, a value; the rank deficiency is printed and kept in the result (one rule, every route)."""
    ref = _pixel_stats_file(tmp_path / "five.npz", 5)
    out = tmp_path / "r.jsonl"
    r = _score("tests.fid_helpers:make_toy_generator", "--metrics", "fid50k", "--reference", str(ref),
               "--extractor", "test-pixel-stats", "--num-samples", "200", out=out)
    assert r.exit_code == 0 and "rank at most 4 < 96" in r.output, r.output
    res = json.loads(out.read_text().splitlines()[0])
    assert any("rank at most 4 < 96" in n for n in res["extras"]["rank_deficient"])


def test_fewer_samples_than_the_paper_are_noted(tmp_path):
    r = _score("tests.guard_helpers:good", "--metrics", "test_quick,ppl_wend", "--num-samples", "2",
               "--distance", "nope", out=tmp_path / "r.jsonl")
    assert "instead of the paper's 100000" in r.output, r.output


# ---- item 6: stats files recorded at other settings --------------------------------------------

def test_stats_of_another_resolution_are_refused(tmp_path):
    ref = _pixel_stats_file(tmp_path / "s16.npz", 120, res=16)
    opts = ScoreOptions(device="cpu", num_samples=100, reference=str(ref), extractor="test-pixel-stats", progress=False)
    with pytest.raises(ValueError, match=r"16x16 images, but the generator makes 32x32"):
        get_metric("fid50k")(FidToy(resolution=32), opts)
    assert get_metric("fid50k")(FidToy(resolution=16), opts).value > 0


def test_stats_with_other_mirroring_are_refused_when_mirror_is_asked(tmp_path):
    ref = _pixel_stats_file(tmp_path / "s.npz", 120, mirror=False)
    opts = ScoreOptions(device="cpu", num_samples=100, reference=str(ref), extractor="test-pixel-stats",
                        progress=False, mirror=True)
    with pytest.raises(ValueError, match="mirror=False.*mirror=True"):
        get_metric("fid50k")(FidToy(), opts)


# ---- items 7 and 8: resume and provenance --------------------------------------------------------

def test_result_records_checkpoint_hashes_and_adapter(tmp_path):
    out = tmp_path / "r.jsonl"
    r = _score(str(DEMO), "--metrics", "test_quick", out=out)
    assert r.exit_code == 0, r.output
    ex = _lines(out)[0]["extras"]
    assert ex["generator_files"] == {"config.json": sha256_of(DEMO / "config.json"),
                                     "model.pt": sha256_of(DEMO / "model.pt")}
    assert len(ex["generator_sha256"]) == 64 and ex["generator_adapter"].endswith("StyleGenerator")


def test_factory_generators_are_identified_by_their_weights(tmp_path):
    out = tmp_path / "r.jsonl"
    assert _score("tests.guard_helpers:good", "--metrics", "test_quick", out=out).exit_code == 0
    assert _score("tests.guard_helpers:overshoot", "--metrics", "test_quick", out=out).exit_code == 0
    a, b = (line["extras"]["generator_sha256"] for line in _lines(out))
    assert a and b and a != b


def test_resume_skips_only_identical_requests(tmp_path):
    out = tmp_path / "r.jsonl"
    assert _score("tests.guard_helpers:good", "--metrics", "test_quick", out=out).exit_code == 0
    r = _score("tests.guard_helpers:good", "--metrics", "test_quick", "--resume", out=out)
    assert r.exit_code == 0 and "skipped" in r.output and len(_lines(out)) == 1
    r = _score("tests.guard_helpers:good", "--metrics", "test_quick", "--resume", "--seed", "1", out=out)
    assert "skipped" not in r.output and len(_lines(out)) == 2          # another configuration
    r = _score("tests.guard_helpers:overshoot", "--metrics", "test_quick", "--resume", out=out)
    assert "skipped" not in r.output and len(_lines(out)) == 3          # another generator


def test_kill_9_during_score_then_resume(tmp_path):
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "cli.main", "score", "tests.guard_helpers:good", "--metrics", "test_quick,test_sleep",
           "--device", "cpu", "--no-progress", "--resume", "--out", str(out)]
    env = dict(os.environ, GUARD_SLEEP_S="120", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _lines(out) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert [x["metric"] for x in _lines(out)] == ["test_quick"], proc.poll()
        os.kill(proc.pid, signal.SIGKILL)       # in the middle of test_sleep
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    env["GUARD_SLEEP_S"] = "0"
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_quick" in done.stdout and "skipped" in done.stdout
    assert [x["metric"] for x in _lines(out)] == ["test_quick", "test_sleep"]


# ---- item 9: messages ----------------------------------------------------------------------------

def test_no_results_message_when_every_metric_fails(tmp_path):
    out = tmp_path / "r.jsonl"
    r = _score("tests.guard_helpers:good", "--metrics", "fid50k", "--num-samples", "200", out=out)
    assert r.exit_code == 1 and "appended" not in r.output and "no results written" in r.output


@pytest.mark.parametrize("metrics", [",", " , ,"])
def test_empty_metric_list_is_refused(tmp_path, metrics):
    r = _score("tests.guard_helpers:good", "--metrics", metrics, out=tmp_path / "r.jsonl")
    assert r.exit_code == 2 and "no metric name" in r.output


def test_unknown_weights_name_is_refused(tmp_path):
    r = _score("tests.guard_helpers:good", "--metrics", "test_quick", "--weights", "incepton=x.pt",
               out=tmp_path / "r.jsonl")
    assert r.exit_code == 2 and "incepton" in r.output and "inception-2015-12-05-nvidia" in r.output


@pytest.mark.parametrize("cmd", [["score", "tests.guard_helpers:good", "--metrics", "test_quick"],
                                 ["check", "tests.guard_helpers:good"]])
def test_bad_device_is_one_line(tmp_path, cmd):
    r = CliRunner().invoke(main, cmd + ["--device", "gpu"])
    assert r.exit_code == 2 and "'gpu'" in r.output and "cuda" in r.output and "Traceback" not in r.output


def test_readme_names_can_be_asked_for(tmp_path):
    out = tmp_path / "r.jsonl"
    r = _score("tests.guard_helpers:good", "--metrics", "fid10k,ls_z", out=out)
    assert "unknown metric" not in r.output and "FAILED" in r.output    # no reference / classifier: they run and fail
    assert "fid10k" in r.output and "ls_z" in r.output


def test_help_has_no_dead_references_and_has_examples():
    for cmd in ("score", "stats", "check"):
        r = CliRunner().invoke(main, [cmd, "--help"])
        assert "Examples:" in r.output, cmd
        assert "score --list" not in r.output
    assert "testbed" in CliRunner().invoke(main, ["score", "--help"]).output


@pytest.mark.parametrize("change,needle", [
    ({"latent_size": "128"}, "field 'latent_size' must be an integer, got str '128'"),
    ({"use_noise": 1}, "field 'use_noise' must be true/false"),
    ({"blur_filter": "121"}, "field 'blur_filter' must be"),
    ({"latent_size": None}, "missing field(s) latent_size"),
])
def test_config_json_errors_name_the_field(tmp_path, change, needle):
    folder = tmp_path / "ckpt"
    shutil.copytree(DEMO, folder)
    meta = json.loads((folder / "config.json").read_text())
    for k, v in change.items():
        if v is None:
            del meta["config"][k]
        else:
            meta["config"][k] = v
    (folder / "config.json").write_text(json.dumps(meta))
    r = CliRunner().invoke(main, ["check", str(folder)])
    assert r.exit_code == 1 and needle in r.output and "Traceback" not in r.output, r.output
