"""`dmetrics tables`: report layout, claims, header, resume per preset and per metric, scales."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from reference_models.tables import run as tables_run, scale as tables_scale
from reference_models.tables.paper import CLAIMS, TABLE3, TABLE4, presets_needed
from reference_models.tables.report import write_report
from reference_models.tables.run import RunOptions, run_presets
from reference_models.tables.scale import SMOKE, resolve_scale
from disentangle_metrics._core.results import MetricResult

REAL_LOAD_CLASSIFIER = tables_run.load_classifier


def _measured_like_paper() -> dict:
    m: dict = {}
    for r in TABLE3 + TABLE4:
        d = m.setdefault(r.preset, {})
        d[f"ppl_{r.space}full"], d[f"ppl_{r.space}end"], d[f"ls_{r.space}"] = r.ppl_full * 2, r.ppl_end * 2, r.separability
        if r.fid is not None:
            d["fid"] = r.fid + 1
    return m


def test_report_files_columns_paper_values_header_and_claims(tmp_path):
    frames = write_report(tmp_path, SMOKE, _measured_like_paper(), commit="abc123def456", hw="test-hardware")
    for name in ("table3.csv", "table3.md", "table3.tex", "table3.png", "table4.csv", "table4.md", "table4.tex",
                 "table4.png", "claims.csv", "claims.md"):
        assert (tmp_path / name).stat().st_size > 0, name
    t3 = pd.read_csv(tmp_path / "table3.csv")
    assert list(t3.columns) == ["generator", "space", "full (paper)", "full (ours)", "end (paper)", "end (ours)",
                                "separability (paper)", "separability (ours)"]
    assert t3["full (paper)"].tolist() == [r.ppl_full for r in TABLE3]
    assert t3["full (ours)"].tolist() == [2 * r.ppl_full for r in TABLE3]
    t4 = pd.read_csv(tmp_path / "table4.csv")
    assert t4["FID (paper)"].tolist() == [r.fid for r in TABLE4]
    assert t4["FID (ours)"].tolist() == pytest.approx([r.fid + 1 for r in TABLE4])
    assert len(t4) == 7 and t4["space"].tolist() == [r.space.upper() for r in TABLE4]
    md = (tmp_path / "table4.md").read_text()
    assert "scale: smoke" in md and "git commit abc123def456" in md and "hardware: test-hardware" in md
    assert "| Traditional 8 Z | Z | 4.87 |" in md
    tex = (tmp_path / "table3.tex").read_text()
    assert "% scale: smoke" in tex and r"\begin{tabular}" in tex and "446.2" in tex
    assert r"\multicolumn{2}{c}{separability}" in tex and "paper & ours & paper & ours" in tex
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert len(claims) == len(CLAIMS) and set(claims.columns) == {"claim", "holds", "margin"}   # no intervals given
    claims_md = (tmp_path / "claims.md").read_text()
    assert "git commit abc123def456" in claims_md
    table_lines = [line for line in claims_md.splitlines() if line.startswith("| ")]
    assert len(table_lines) == 1 + len(CLAIMS)
    assert all(line.replace("\\|", "").count("|") == 4 for line in table_lines)   # 3 columns, escaped | in text
    assert frames["claims"]["claim"].tolist() == [c.text for c in CLAIMS]


class _FakeG:
    def __init__(self, mapping: bool) -> None:
        self.has_mapping = mapping


def _install_fakes(monkeypatch, fake_train, fake_metric, has_mapping) -> None:
    """Replace training, the metric jobs and the generator / classifier loading of the tables run."""
    def fake_load_generator(spec, device="cpu"):
        G = _FakeG(mapping=has_mapping(Path(spec).stem))
        G.preset = Path(spec).stem
        return G

    monkeypatch.setattr(tables_run, "train_preset", fake_train)
    monkeypatch.setattr(tables_run, "run_metric", fake_metric)
    monkeypatch.setattr(tables_run, "load_trained_generator", fake_load_generator)
    monkeypatch.setattr(tables_run, "load_classifier", lambda spec: object())


def _patch_fakes(monkeypatch, calls: dict, fail_on: tuple[str, str] | None = None) -> None:
    """Replace training and every metric by counters; ``fail_on`` = (preset, job) raises there."""
    def fake_train(scale, preset, preset_dir, opts):
        calls.setdefault("train", []).append(preset)
        preset_dir.mkdir(parents=True, exist_ok=True)
        return preset_dir / f"{preset}.pt"

    def fake_metric(job, G, scale, classifier, opts):
        preset = G.preset
        if fail_on == (preset, job):
            raise RuntimeError("simulated crash")
        calls.setdefault("metric", []).append((preset, job))
        if job == "ls":
            vals = {"ls_z@testbed": 7.0} | ({"ls_w@testbed": 3.0} if G.has_mapping else {})   # tagged, as the metric names them
            return MetricResult(metric="ls@testbed", value=vals.get("ls_w@testbed", 7.0), values=vals)
        return MetricResult(metric=job, value=float(len(job)), values={job: float(len(job))})

    _install_fakes(monkeypatch, fake_train, fake_metric, lambda preset: preset not in ("b-traditional", "style-map0"))


def test_resume_skips_finished_presets_and_finished_metrics(monkeypatch, tmp_path):
    presets = ["b-traditional", "f-mixing90", "style-map1"]
    calls: dict = {}
    _patch_fakes(monkeypatch, calls, fail_on=("f-mixing90", "ppl_wfull"))
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_presets(SMOKE, tmp_path, presets, RunOptions(), log=lambda s: None)
    assert calls["train"] == ["b-traditional", "f-mixing90"]
    # no mapping: Z jobs only
    assert [j for p, j in calls["metric"] if p == "b-traditional"] == ["fid", "ppl_zfull", "ppl_zend", "ls"]
    assert [j for p, j in calls["metric"] if p == "f-mixing90"] == ["fid", "ppl_zfull", "ppl_zend"]
    assert (tmp_path / "b-traditional" / "done.json").is_file()
    assert not (tmp_path / "f-mixing90" / "done.json").exists()

    calls.clear()
    _patch_fakes(monkeypatch, calls)
    measured = run_presets(SMOKE, tmp_path, presets, RunOptions(), log=lambda s: None)
    assert calls["train"] == ["f-mixing90", "style-map1"]          # b-traditional was done
    assert [j for p, j in calls["metric"] if p == "f-mixing90"] == ["ppl_wfull", "ppl_wend", "ls"]
    assert measured["f-mixing90"] == {"fid": 3.0, "ppl_zfull": 9.0, "ppl_zend": 8.0, "ppl_wfull": 9.0,
                                      "ppl_wend": 8.0, "ls_z": 7.0, "ls_w": 3.0}
    assert measured["b-traditional"]["ls_z"] == 7.0 and "ls_w" not in measured["b-traditional"]

    calls.clear()
    run_presets(SMOKE, tmp_path, presets, RunOptions(), log=lambda s: None)
    assert calls == {}


def test_a_preset_held_by_another_process_is_skipped(monkeypatch, tmp_path):
    """Processes sharing --out may get overlapping presets: one held by another process is left to it."""
    import fcntl
    import os

    calls: dict = {}
    _patch_fakes(monkeypatch, calls)
    (tmp_path / "f-mixing90").mkdir(parents=True)
    fd = os.open(tmp_path / "f-mixing90" / tables_run.LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)   # a separate open file description: conflicts like another process
    lines: list[str] = []
    try:
        measured = run_presets(SMOKE, tmp_path, ["b-traditional", "f-mixing90"], RunOptions(), log=lines.append)
    finally:
        os.close(fd)
    assert calls["train"] == ["b-traditional"] and "f-mixing90" not in measured
    assert "f-mixing90: another process is working on it, skipped" in lines
    assert not (tmp_path / "f-mixing90" / "done.json").exists()
    calls.clear()
    run_presets(SMOKE, tmp_path, ["b-traditional", "f-mixing90"], RunOptions(), log=lambda s: None)
    assert calls["train"] == ["f-mixing90"]     # released: the next run does it


def test_a_different_scale_in_the_same_folder_is_refused(monkeypatch, tmp_path):
    _patch_fakes(monkeypatch, {})
    run_presets(SMOKE, tmp_path, ["b-traditional"], RunOptions(), log=lambda s: None)
    run_presets(dataclasses.replace(SMOKE, note="reworded"), tmp_path, ["b-traditional"], RunOptions(),
                log=lambda s: None)
    other = dataclasses.replace(SMOKE, kimg=SMOKE.kimg + 1)
    with pytest.raises(ValueError, match="kimg"):
        run_presets(other, tmp_path, ["b-traditional"], RunOptions(), log=lambda s: None)


def test_scales():
    with pytest.raises(ValueError, match="--data"):
        resolve_scale("paper", classifier="x")
    with pytest.raises(ValueError, match="--classifier"):
        resolve_scale("paper", data="ffhq")
    p = resolve_scale("paper", data="/d/ffhq", classifier="clf.pt")
    assert (p.resolution, p.kimg, p.fid_num_gen, p.ppl_samples, p.ls_samples, p.ls_keep) == (1024, 25000, 50000, 100000, 200000, 100000)
    assert p.fid_reference == "/d/ffhq" and p.extractor == "inception-v3-tf" and p.distance == "lpips-vgg"
    m = resolve_scale("mini")
    assert (m.resolution, m.extractor, m.distance, m.classifier) == (32, "testbed", "testbed-lpips", "testbed")
    assert resolve_scale("mini", kimg=3).kimg == 3.0
    with pytest.raises(ValueError, match="unknown scale"):
        resolve_scale("huge")
    assert any("meaningless" in line for line in SMOKE.header_lines())


def test_train_config_follows_the_scale(tmp_path):
    cfg = tables_run.train_config(tables_scale.MINI, "style-map1", tmp_path, RunOptions(threads=1))
    assert (cfg.resolution, cfg.total_kimg, cfg.batch, cfg.progressive, cfg.mirror) == (32, 100.0, 32, False, False)
    assert cfg.g_overrides == {"fmap_base": 256, "fmap_max": 32, "latent_size": 128}
    assert cfg.d_overrides == {"fmap_base": 256, "fmap_max": 32} and cfg.threads == 1
    # the mini recipe (measured learning curves) applies to the mini scale only
    assert (cfg.lr_base, cfg.g_smoothing_rampup) == (0.0025, 0.05)
    assert "recipe g_smoothing_rampup 0.05, lr_base 0.0025" in " ".join(tables_scale.MINI.header_lines())
    assert tables_run.train_config(tables_scale.SMOKE, "style-map1", tmp_path, RunOptions()).g_smoothing_rampup is None


TINY = dataclasses.replace(SMOKE, name="smoke", resolution=16, kimg=0.064, fmap_base=64, fmap_max=8, latent_size=8,
                           batch=16, testbed_num=64, fid_num_gen=80, fid_num_real=80, ppl_samples=32,
                           ls_samples=256, ls_keep=128, batch_metrics=32)   # 128 kept: no class of 1-2 samples
# FID: more samples than the test-bed extractor's 64 dimensions on each side (the registered fid50k,
# which the tables run through, refuses a rank-deficient covariance as `dmetrics score` does)


def test_pipeline_end_to_end_on_two_presets_then_resume(monkeypatch, tmp_path):
    """Real training and metrics on a tiny scale (two presets), then a rerun that does nothing."""
    from reference_models.tables import reproduce

    monkeypatch.setitem(tables_scale.SCALES, "smoke", TINY)
    lines: list[str] = []
    frames = reproduce("smoke", str(tmp_path), presets=["b-traditional", "style-map1"], device="cpu", threads=1,
                       log=lines.append)
    t4 = frames["table4"].set_index("generator")
    assert t4.loc["Traditional 0 Z", "FID (ours)"] > 0 and t4.loc["Style-based 1 W", "separability (ours)"] >= 1
    assert pd.isna(t4.loc["Traditional 8 Z", "FID (ours)"])      # not trained in this test
    t4_md = (tmp_path / "table4.md").read_text()
    assert "runs not finished yet: d-style (seed 0)," in t4_md
    assert "wall time of the sessions that finished the 2 preset runs" in t4_md
    assert "FID floor (real vs real: 80 test-bed images of seed 1" in t4_md
    claims = pd.read_csv(tmp_path / "claims.csv")
    assert {"verdict", "margin_low", "margin_high", "basis", "seeds_holding"} <= set(claims.columns)
    done = json.loads((tmp_path / "style-map1" / "done.json").read_text())
    assert set(done["values"]) == {"fid", "ppl_zfull", "ppl_zend", "ppl_wfull", "ppl_wend", "ls_z", "ls_w"}
    assert any("claims" in line for line in lines)
    lines.clear()
    reproduce("smoke", str(tmp_path), presets=["b-traditional", "style-map1"], device="cpu", threads=1, log=lines.append,
              export=str(tmp_path / "export"))
    assert sum("done before, skipped" in line for line in lines) == 2
    exported = {str(p.relative_to(tmp_path / "export")) for p in (tmp_path / "export").rglob("*") if p.is_file()}
    assert {"table3.md", "table4.png", "claims.csv", "scale.json", "style-map1/metrics.jsonl",
            "style-map1/done.json", "style-map1/train/log.csv"} <= exported
    assert not any(p.endswith(".pt") or p.endswith(".npy") for p in exported)


def test_cli_registers_tables():
    from click.testing import CliRunner

    from cli.main import main
    res = CliRunner().invoke(main, ["tables", "--help"])
    assert res.exit_code == 0 and "--scale" in res.output and presets_needed()


def test_a_bad_classifier_fails_before_any_training(monkeypatch, tmp_path):
    calls: dict = {}
    _patch_fakes(monkeypatch, calls)

    def missing(spec):
        raise FileNotFoundError(f"{spec!r}: no such file")

    # the loader the caller passes (the CLI passes its GENERATOR-argument loader) ...
    with pytest.raises(FileNotFoundError, match="no such file"):
        run_presets(SMOKE, tmp_path / "a", ["b-traditional"], RunOptions(load_classifier=missing), log=lambda s: None)
    # ... and the package's own (testbed or a reference_models checkpoint)
    monkeypatch.setattr(tables_run, "load_classifier", REAL_LOAD_CLASSIFIER)
    gone = dataclasses.replace(SMOKE, classifier=str(tmp_path / "no-classifier"))
    with pytest.raises(FileNotFoundError, match="no-classifier.*no such file or folder"):
        run_presets(gone, tmp_path / "b", ["b-traditional"], RunOptions(), log=lambda s: None)
    assert "train" not in calls


def test_the_cli_loads_the_classifier_with_its_generator_loader(monkeypatch, tmp_path):
    """`dmetrics tables --classifier` accepts what `dmetrics score --classifier` does: cli.loading.load_object."""
    from click.testing import CliRunner

    from cli.main import main
    seen: list = []

    def fake_run_presets(scale, out, presets, opts, log):
        seen.append(opts.load_classifier)
        raise ValueError("stop here")

    monkeypatch.setattr("reference_models.tables.pipeline.run_presets", fake_run_presets)
    res = CliRunner().invoke(main, ["tables", "--scale", "smoke", "--out", str(tmp_path / "o"), "--preset", "d-style"])
    from cli.loading import load_object
    assert "stop here" in res.output and seen == [load_object]


def test_paper_scale_trains_with_the_official_setup(tmp_path):
    p = resolve_scale("paper", data="/data/ffhq-1024", classifier="clf.pt")
    cfg = tables_run.train_config(p, "f-mixing90", tmp_path, RunOptions())
    assert (cfg.resolution, cfg.total_kimg, cfg.progressive, cfg.mirror, cfg.batch) == (1024, 25000.0, True, True, None)
    assert cfg.data == "/data/ffhq-1024" and cfg.g_overrides == {} and cfg.d_overrides == {}
    assert (cfg.lr_base, cfg.g_smoothing_rampup, cfg.r1_gamma, cfg.g_smoothing_kimg) == (0.001, None, 10.0, 10.0)
    assert cfg.lod_initial_resolution == 8 and cfg.minibatch_dict[512] == 4 and cfg.lod_training_kimg == 600.0


def _patch_seeded_fakes(monkeypatch) -> None:
    """Fake training and metrics whose values depend on the seed and carry within-run intervals."""
    from disentangle_metrics.functional.intervals import normal_interval

    wend_offset = {0: -1.0, 1: 2.0, 2: -0.5}      # W full - W end: +1, -2, +0.5 -> mean < 0, interval spans 0

    def fake_train(scale, preset, preset_dir, opts):
        preset_dir.mkdir(parents=True, exist_ok=True)
        return preset_dir / f"{preset}.pt"

    def fake_metric(job, G, scale, classifier, opts):
        s = opts.seed
        if job == "ls":
            vals = {"ls_z@testbed": 3.0, "ls_w@testbed": 7.0}      # W less separable: the claim fails
            r = MetricResult(metric="ls@testbed", value=7.0, values=vals)
            for k, v in vals.items():
                r.add_interval(k, normal_interval(v, 0.1, "fake"))
            return r
        v = {"fid": 10.0 + s, "ppl_zfull": 100.0 + s, "ppl_wfull": 50.0 + s, "ppl_zend": 100.0 + s,
             "ppl_wend": 50.0 + s + wend_offset[s]}[job]
        return MetricResult(metric=job, value=v, values={job: v}).add_interval(job, normal_interval(v, 0.5, "fake"))

    _install_fakes(monkeypatch, fake_train, fake_metric, lambda preset: True)
    monkeypatch.setitem(tables_scale.SCALES, "smoke", TINY)


def test_tables_over_seeds_cells_and_claims_with_confidence(monkeypatch, tmp_path):
    from reference_models.tables import reproduce

    _patch_seeded_fakes(monkeypatch)
    lines: list[str] = []
    frames = reproduce("smoke", str(tmp_path), presets=["f-mixing90"], device="cpu", seeds=3, log=lines.append)
    assert all((tmp_path / f"seed{s}" / "f-mixing90" / "done.json").is_file() for s in range(3))
    t3 = pd.read_csv(tmp_path / "table3.csv").set_index("generator")
    row = t3.loc["F + Mixing 90%"]
    assert row["full (ours)"] == pytest.approx(51.0)                        # mean of 50, 51, 52
    t2 = 4.302653
    assert row["full (seeds high)"] - row["full (ours)"] == pytest.approx(t2 * 1.0 / 3 ** 0.5, rel=1e-5)
    assert row["full (run half-width)"] == pytest.approx(1.959964 * 0.5, rel=1e-5) and row["full (n seeds)"] == 3
    md = (tmp_path / "table3.md").read_text()
    assert "51 +- 2.484 (run +- 0.98)" in md and "seeds: 0, 1, 2" in md
    c = frames["claims"].set_index("claim")["verdict"]
    assert c[CLAIMS[0].text] == "holds with confidence"        # Z full - W full = 50 in every seed
    assert c[CLAIMS[1].text] == "fails on the mean only"       # +1, -2, +0.5
    assert c[CLAIMS[3].text] == "fails with confidence"        # ls_z - ls_w = -4 in every seed
    assert c[CLAIMS[4].text] == "not measured"
    seeds_holding = frames["claims"].set_index("claim")["seeds_holding"]
    assert seeds_holding[CLAIMS[1].text] == "2/3"
    assert any("(CONFIDENT)" in line for line in lines)
    # export keeps the per-seed runs
    reproduce("smoke", str(tmp_path), presets=["f-mixing90"], device="cpu", seeds=3, log=lines.append,
              export=str(tmp_path / "export"))
    assert (tmp_path / "export" / "seed2" / "f-mixing90" / "metrics.jsonl").is_file()


def test_one_seed_claims_use_the_within_run_intervals(monkeypatch, tmp_path):
    from reference_models.tables import reproduce

    _patch_seeded_fakes(monkeypatch)
    frames = reproduce("smoke", str(tmp_path), presets=["f-mixing90"], device="cpu", log=lambda s: None)
    cl = frames["claims"].set_index("claim")
    # W full - W end = +1 with SE sqrt(0.5^2 + 0.5^2): interval [1 - 1.39, 1 + 1.39] spans 0
    assert cl.loc[CLAIMS[1].text, "verdict"] == "holds on the mean only"
    assert cl.loc[CLAIMS[1].text, "basis"] == "one seed, within-run intervals"
    assert cl.loc[CLAIMS[1].text, "margin_low"] == pytest.approx(1 - 1.959964 * 0.5 * 2 ** 0.5, rel=1e-5)
    assert cl.loc[CLAIMS[0].text, "verdict"] == "holds with confidence"
    with pytest.raises(ValueError, match="--seeds must be >= 1"):
        reproduce("smoke", str(tmp_path / "x"), presets=["f-mixing90"], seeds=0, log=lambda s: None)


def test_real_pipeline_over_two_seeds_tiny(monkeypatch, tmp_path):
    """Real training and metrics (tiny scale, one preset, two seeds): intervals reach the cells."""
    from reference_models.tables import reproduce

    monkeypatch.setitem(tables_scale.SCALES, "smoke", TINY)
    frames = reproduce("smoke", str(tmp_path), presets=["b-traditional"], device="cpu", threads=1, seeds=2,
                       log=lambda s: None)
    t4 = pd.read_csv(tmp_path / "table4.csv").set_index("generator")
    row = t4.loc["Traditional 0 Z"]
    assert row["FID (n seeds)"] == 2 and row["FID (seeds low)"] < row["FID (ours)"] < row["FID (seeds high)"]
    assert row["full (run half-width)"] > 0 and row["separability (run half-width)"] > 0
    a = json.loads((tmp_path / "seed0" / "b-traditional" / "done.json").read_text())["values"]["fid"]
    b = json.loads((tmp_path / "seed1" / "b-traditional" / "done.json").read_text())["values"]["fid"]
    assert a != b and row["FID (ours)"] == pytest.approx((a + b) / 2)
    assert "Traditional 0 Z | Z | 5.25 | " in (tmp_path / "table4.md").read_text()
    assert frames["claims"]["verdict"].eq("not measured").all()      # one preset: no claim is complete


def test_a_chain_claim_shows_the_term_that_decides_it():
    """FID chain map0 > map1 > map2 > F: the first link is noisy with the lowest mean, the last fails in every
    seed. The verdict is a confident failure and the margin shown is the failing link's, not the noisiest."""
    from reference_models.tables.seeds import Run, claims_with_confidence

    runs = []
    for s, noise in enumerate((-60.0, -10.0, 20.0)):   # map0 - map1: mean -21.7, interval spans 0
        fid = {"style-map0": 700 + noise, "style-map1": 705.0, "style-map2": 600.0, "f-mixing90": 610.0 + s}
        runs.append(Run(s, {p: {"fid": v} for p, v in fid.items()}, {}))
    row = claims_with_confidence(runs).set_index("claim").loc[CLAIMS[6].text]
    assert row["verdict"] == "fails with confidence"
    assert row["margin"] == pytest.approx(-11.0)          # map2 - F: -10, -11, -12
    assert row["margin_high"] < 0 and row["seeds_holding"] == "0/3"


def test_log_error_bars_keep_intervals_reaching_below_zero():
    import numpy as np
    from reference_models.tables.report import log_error_bars
    ratio = np.array([0.2, 1.5, 3.0, np.nan])
    low = np.array([-0.05, 1.0, 0.01, 0.1])      # B's path lengths: 90.1 +- 100.9 goes below 0
    high = np.array([0.45, 2.0, 5.0, 0.2])
    ok = np.isfinite(ratio)
    drawn, lo_plot, cut = log_error_bars(ratio, low, high, ok, edge=0.1)
    assert drawn.tolist() == [True, True, True, False]
    assert cut.tolist() == [True, False, True, False]
    assert lo_plot[:3].tolist() == [0.1, 1.0, 0.1]


def test_the_pipeline_loads_its_networks_without_the_cli():
    """The package loads a trained checkpoint and the test-bed classifier itself (no `cli` import)."""
    import torch

    repo = Path(__file__).resolve().parents[1]
    G = tables_run.load_trained_generator(repo / "reference_models" / "pretrained" / "mini-f-mixing90", device="cpu")
    assert not G.training and hasattr(G, "mapping") and G.z_dim > 0
    clf = REAL_LOAD_CLASSIFIER("testbed")
    assert isinstance(clf, torch.nn.Module)


def test_the_tables_package_imports_no_cli_and_the_library_not_it():
    import subprocess
    import sys

    probe = ("import sys, reference_models.tables.pipeline, disentangle_metrics; "
             "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('cli', 'disentangle_metrics_cli')); "
             "assert not bad, bad")
    repo = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", probe], cwd=repo, capture_output=True).returncode == 0
    lib = ("import sys, disentangle_metrics, disentangle_metrics.metrics.registry; "
           "assert 'reference_models.tables' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", lib], cwd=repo, capture_output=True).returncode == 0


def test_the_report_header_names_the_checkout_commit_or_the_installed_version(tmp_path):
    import re

    from reference_models.tables.report import git_commit
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", git_commit())            # this checkout, found from the package
    assert git_commit(tmp_path).startswith("none (installed disentangle-metrics ")   # site-packages: no .git
