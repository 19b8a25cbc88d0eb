"""Issue 23, the output side: --out checked before any compute, results kept when a write fails,
Ctrl-C in `score` says what is saved and how to continue, honest times, `compare` prints like `score`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import tests.guard_helpers  # noqa: F401  (registers test_quick, test_sleep)
from cli.main import main
from tests.fid_helpers import ToyGenerator  # noqa: F401  (registers test-pixel-stats)

REPO = Path(__file__).resolve().parents[1]


def _score(*args, out):
    return CliRunner().invoke(main, ["score", *args, "--device", "cpu", "--no-progress", "--out", str(out)])


def _lines(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()] if Path(path).is_file() else []


# ---- item 5: --out that cannot be written --------------------------------------------------------

def test_score_refuses_an_unwritable_out_before_computing(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    out = tmp_path / "afile" / "r.jsonl"       # root ignores permission bits; a file as parent stops everyone
    r = _score("tests.guard_helpers:good", "--metrics", "test_quick", out=out)
    assert r.exit_code == 2, r.output
    assert "cannot write" in r.output and "is a file" in r.output and "--out" in r.output
    assert "test_quick" not in r.output.replace("--metrics test_quick", "")   # nothing was computed


@pytest.mark.parametrize("cmd", [["compare", "GEN", "GEN"], ["stats", "GEN"]])
def test_compare_and_stats_refuse_an_unwritable_out_first(tmp_path, cmd):
    gen = tmp_path / "gen"
    gen.mkdir()
    (tmp_path / "afile").write_text("x")
    args = [str(gen) if a == "GEN" else a for a in cmd]
    r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "afile" / "r.npz")])
    assert r.exit_code == 2 and "is a file" in r.output, r.output


@pytest.mark.parametrize("cmd", [["tables", "--report-only"], ["init-model", "f-mixing90"],
                                 ["train", "f-mixing90", "--data", "testbed"]])
def test_folder_outs_are_checked_first(tmp_path, cmd):
    (tmp_path / "afile").write_text("x")
    r = CliRunner().invoke(main, [*cmd, "--out", str(tmp_path / "afile" / "run")])
    assert r.exit_code == 2 and "is a file" in r.output, r.output


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (a device whose writes fail with ENOSPC)")
def test_results_that_fail_to_write_are_printed_and_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))      # where the fallback file goes
    r = _score("tests.guard_helpers:good", "--metrics", "test_quick,test_sleep", "--num-samples", "5",
               out="/dev/full")
    assert r.exit_code == 1, r.output
    assert re.search(r"test_quick\s+5\.0000", r.output) and re.search(r"test_sleep\s+5\.0000", r.output), r.output
    assert "2 result(s) could not be appended to /dev/full" in r.output
    kept = list(tmp_path.glob("dmetrics-unsaved-full-*.jsonl"))
    assert len(kept) == 1 and str(kept[0]) in r.output and f"cat {kept[0]} >> /dev/full" in r.output
    assert [x["metric"] for x in _lines(kept[0])] == ["test_quick", "test_sleep"]


def test_when_the_fallback_fails_too_the_result_lines_are_printed(tmp_path, monkeypatch):
    import disentangle_metrics._core.results as R

    def full(path, result, **kw):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(R, "append_result", full)
    r = _score("tests.guard_helpers:good", "--metrics", "test_quick", "--num-samples", "3", out=tmp_path / "r.jsonl")
    assert r.exit_code == 1 and "No space left on device" in r.output, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("{"))
    assert json.loads(line)["metric"] == "test_quick" and json.loads(line)["value"] == 3.0


# ---- item 8: Ctrl-C during score ---------------------------------------------------------------------

def test_ctrl_c_during_score_says_what_is_saved_and_how_to_resume(tmp_path):
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "cli.main", "score", "tests.guard_helpers:good", "--metrics", "test_quick,test_sleep",
           "--device", "cpu", "--no-progress", "--out", str(out)]
    env = dict(os.environ, GUARD_SLEEP_S="120", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _lines(out) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert [x["metric"] for x in _lines(out)] == ["test_quick"], proc.poll()
        time.sleep(0.5)                           # into test_sleep
        proc.send_signal(signal.SIGINT)
        text, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, text
    assert f"interrupted: 1 result(s) saved to {out.resolve()} (test_quick)" in text, text
    assert "not finished: test_sleep" in text
    resume = re.search(r"to continue, run (dmetrics score .*--resume):", text)
    assert resume and "--metrics test_quick,test_sleep" in resume.group(1), text
    # the printed command continues: test_quick skipped, test_sleep computed
    env["GUARD_SLEEP_S"] = "0"
    args = resume.group(1).split()[1:]
    done = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "skipped" in done.stdout, done.stdout + done.stderr
    assert [x["metric"] for x in _lines(out)] == ["test_quick", "test_sleep"]


# ---- item 12: honest times, compare prints like score ------------------------------------------------

def test_score_prints_the_shared_pass_time(tmp_path):
    from tests.test_score_guards import _pixel_stats_file
    ref = _pixel_stats_file(tmp_path / "ref.npz", 150)
    out = tmp_path / "r.jsonl"
    r = _score("tests.fid_helpers:make_toy_generator", "--metrics", "fid50k", "--reference", str(ref),
               "--extractor", "test-pixel-stats", "--num-samples", "200", out=out)
    assert r.exit_code == 0, r.output
    res = _lines(out)[0]
    shared = res["extras"]["shared_generate_s"] + res["extras"]["shared_real_s"]
    m = re.search(r"\(200 samples, ([0-9.]+) s \+ shared pass ([0-9.]+) s\)", r.output)
    assert m, r.output
    assert float(m.group(2)) == pytest.approx(shared, abs=0.06)


def test_compare_prints_the_interval_and_the_fewer_than_the_paper_note(tmp_path):
    from tests.test_image_metrics import _export
    gen = _export(ToyGenerator(seed=1), tmp_path / "gen", 100)
    real = _export(ToyGenerator(seed=5, shift=0.4), tmp_path / "real", 110, seed=2)
    r = CliRunner().invoke(main, ["compare", str(gen), str(real), "--extractor", "test-pixel-stats", "--device", "cpu",
                                  "--no-progress"])
    assert r.exit_code == 0, r.output
    assert re.search(r"fid100_full@test-pixel-stats\s+[0-9.]+ \+- [0-9.e-]+ \[[0-9.]+, [0-9.]+\]", r.output), r.output
    assert "note: fid100_full@test-pixel-stats with 100 samples instead of the paper's 50000" in r.output


# ---- item 10: run folders and samples folders with a config.json -------------------------------------

def _run_folder(path):
    """What `dmetrics train` leaves: its config.json, latest.pt (G_ema and more), snapshots, a grid PNG."""
    import numpy as np
    import torch
    from PIL import Image

    import reference_models as rm
    from reference_models.checkpoint import network_record
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"preset": "f-mixing90", "resolution": 8, "total_kimg": 1}))
    for name, seed in (("snapshot-000000500.pt", 1), ("latest.pt", 2)):
        G = rm.build_generator("f-mixing90", resolution=8, fmap_base=16, fmap_max=8, latent_size=8, seed=seed)
        torch.save({"G_ema": network_record(G), "progress": {"nimg": 1000}}, path / name)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path / "fakes000001.png")
    return path


def test_a_train_run_folder_scores_its_latest_checkpoint_and_says_so(tmp_path):
    run = _run_folder(tmp_path / "run")
    out = tmp_path / "r.jsonl"
    r = _score(str(run), "--metrics", "test_quick", "--num-samples", "4", "--no-check", out=out)   # untrained: range
    assert r.exit_code == 0, r.output
    assert f"scoring its latest checkpoint {run / 'latest.pt'}" in r.output
    res = _lines(out)[0]
    assert res["extras"]["generator"] == str(run) and res["extras"]["generator_resolved"] == str(run / "latest.pt")
    assert list(res["extras"]["generator_files"]) == ["latest.pt"]
    c = CliRunner().invoke(main, ["check", str(run), "--device", "cpu"])
    assert "scoring its latest checkpoint" in c.output and "model.pt is missing" not in c.output, c.output


def test_a_run_folder_without_latest_takes_its_newest_snapshot(tmp_path):
    from cli.loading import resolve_generator_spec
    run = _run_folder(tmp_path / "run")
    (run / "latest.pt").unlink()
    (run / "snapshot-000001000.pt").write_bytes((run / "snapshot-000000500.pt").read_bytes())
    spec, note = resolve_generator_spec(str(run))
    assert spec == str(run / "snapshot-000001000.pt") and "snapshot-000001000.pt" in note


def test_a_samples_folder_with_a_stray_config_json_is_images(tmp_path):
    from disentangle_metrics.generators.sources import is_image_path
    from tests.test_image_metrics import _export
    gen = _export(ToyGenerator(seed=1), tmp_path / "gen", 12)
    (gen / "config.json").write_text("{}")               # e.g. the sampler's settings saved beside the images
    assert is_image_path(gen)
    r = _score(str(gen), "--metrics", "ppl_wend", out=tmp_path / "r.jsonl")
    assert "holds images only" in r.output and "model.pt is missing" not in r.output, r.output


def test_an_ambiguous_folder_names_the_files_to_pass(tmp_path):
    d = tmp_path / "exp"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "G_ema-final.pt").write_bytes(b"x")
    r = _score(str(d), "--metrics", "test_quick", out=tmp_path / "r.jsonl")
    assert r.exit_code != 0 and f"pass one of its files instead: {d / 'G_ema-final.pt'}" in r.output, r.output


# ---- item 12 (issue 24): each set as it is in compare; the authors' protocol in score ----------------------------------------

def _random_pngs(folder, n, h, w, seed):
    import numpy as np
    from PIL import Image
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    return folder


@pytest.mark.parametrize("h,w", [(16, 24), (8, 8), (32, 32)])
def test_compare_scores_each_set_as_it_is(tmp_path, h, w):
    """compare, like pytorch-fid / torch-fidelity / clean-fid, resizes nothing before the extractor."""
    gen = _random_pngs(tmp_path / "gen", 100, 16, 16, 0)
    real = _random_pngs(tmp_path / "real", 110, h, w, 1)
    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(main, ["compare", str(gen), str(real), "--extractor", "test-pixel-stats", "--device", "cpu",
                                  "--no-progress", "--out", str(out)])
    assert r.exit_code == 0, r.output
    res = _lines(out)[0]
    assert res["extras"].get("reference_resized") is None and "own size" in res["config"]["reference_size"]


@pytest.mark.parametrize("h,w,outcome", [(16, 24, "refused"), (8, 8, "refused"), (24, 24, "refused"),
                                         (32, 32, "box-filtered"), (16, 16, None)])
def test_score_brings_a_dataset_to_the_generator_by_the_authors_protocol(tmp_path, h, w, outcome):
    """score G --reference DATASET: the dataset at G's resolution, or a power-of-two multiple 2x2 box-filtered
    (StyleGAN v1's dataset_tool), recorded; anything else refused (stylegan2-ada's calc_metrics refuses)."""
    import warnings

    import disentangle_metrics as dm
    from tests.fid_helpers import ToyGenerator
    real = _random_pngs(tmp_path / "real", 30, h, w, 1)
    run = lambda: dm.fid(ToyGenerator(resolution=16), str(real), num_samples=20, num_real=30,  # noqa: E731
                         extractor="test-pixel-stats", device="cpu")
    if outcome == "refused":
        with pytest.raises(ValueError, match=r"authors' protocol.*dmetrics compare"):
            run()
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)    # 20 samples: rank deficient, noted
        res = run()
    note = res.extras.get("reference_resized")
    assert (note is None) if outcome is None else (outcome in note and "32x32" in note and "16x16" in note)


# ---- item 12: install warning, default results file ignored in a checkout -------------------------------

def test_license_is_an_spdx_string_with_a_setuptools_that_reads_it():
    import tomllib
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "MIT"     # a TOML table is deprecated (a warning per build step)
    assert "setuptools>=77" in meta["build-system"]["requires"]   # the first to read an SPDX string


@pytest.mark.skipif(not (REPO / ".git").exists(), reason="needs a git checkout")
def test_the_default_results_file_is_ignored_in_a_checkout():
    for name in ("results.jsonl", "results.jsonl.torn"):
        r = subprocess.run(["git", "check-ignore", "-q", name], cwd=REPO)
        assert r.returncode == 0, f"{name} is not ignored"


def test_stats_that_fail_to_write_say_where_the_computed_statistics_are(tmp_path, monkeypatch):
    import disentangle_metrics.functional.stats as S
    from tests.test_image_metrics import _export
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    gen = _export(ToyGenerator(seed=1), tmp_path / "gen", 100)
    real_save = S.FeatureStats.save

    def full(self, path, **extra):
        if str(path).endswith("out.npz"):
            raise OSError(28, "No space left on device")
        return real_save(self, path, **extra)
    monkeypatch.setattr(S.FeatureStats, "save", full)
    r = CliRunner().invoke(main, ["stats", str(gen), "--out", str(tmp_path / "out.npz"), "--extractor",
                                  "test-pixel-stats", "--device", "cpu", "--no-progress"])
    assert r.exit_code == 1 and "No space left on device" in r.output, r.output
    kept = re.search(r"kept in the cache, (\S+\.npz):", r.output)
    assert kept and Path(kept.group(1)).is_file(), r.output
    monkeypatch.setattr(S.FeatureStats, "save", real_save)
    again = CliRunner().invoke(main, ["stats", str(gen), "--out", str(tmp_path / "out.npz"), "--extractor",
                                      "test-pixel-stats", "--device", "cpu", "--no-progress"])
    assert again.exit_code == 0 and "from cache" in again.output, again.output
