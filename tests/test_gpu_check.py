"""The prepared GPU check (benchmarks/gpu_check, issue 17): its --smoke run end to end on the CPU,
the watchdog that bounds every step, the report's arithmetic and the wheel preparation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.gpu_check import plan, report, wheels
from benchmarks.gpu_check.gpu_tests import gpu_test_files, parse_junit, parse_verbose
from benchmarks.gpu_check.record import run_bounded

REPO = Path(__file__).resolve().parents[1]


def _check(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    # Caches in a fresh folder and no downloads, as tests/conftest.py arranges for in-process tests
    # (the module-scoped fixture below runs before that function-scoped one).
    cache = Path(tempfile.mkdtemp(prefix="gpu-check-cache-"))
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), TORCH_HOME=str(cache / "torch"), DMETRICS_OFFLINE="1")
    env.pop("DMETRICS_WEIGHTS_DIR", None)
    try:
        return subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=timeout, env=env)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One --smoke run of every step (tiny sizes, CPU), shared by the tests below."""
    out = tmp_path_factory.mktemp("gpu-check-smoke")
    t0 = time.perf_counter()
    proc = _check("--smoke", "--out", str(out))
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "gpu_check.json").read_text()), (out / "gpu_check.md").read_text(), proc, wall


def test_smoke_runs_every_step(smoke):
    rep, md, proc, wall = smoke
    assert rep["mode"] == "smoke" and rep["random_weights"] is True
    assert list(rep["steps"]) == list(plan.STEPS)
    want_tests = "skipped: no CUDA" if not torch.cuda.is_available() else "ok"
    for name, step in rep["steps"].items():
        assert step["status"] == (want_tests if name == "gpu_tests" else "ok"), (name, step)
        assert step["result"]["done"] and step["result"]["ok"], name
    r = {k: v["result"] for k, v in rep["steps"].items()}
    assert r["fid"]["images_per_s"] > 0 and r["fid"]["features_images_per_s"] > 0
    assert r["ppl"]["tf32_off"] is True and r["ppl"]["distance_saw"]["image_dtype"] == "torch.float32"
    assert r["ppl"]["distance_saw"]["image_shape"][2:] == [16, 16]     # the v1 crop of a 32x32 image
    sg3 = r["ppl"]["sg3"]                                                # issue 27: PPL on a StyleGAN3-T shape
    assert sg3["adapter"] == "stylegan3" and sg3["samples_per_s"] > 0 and sg3["samples"] >= 2
    assert 1 <= sg3["images_per_call"] <= 2 * sg3["batch_pairs"] and sg3["images_per_call_rule"].startswith("cpu table")
    assert f"StyleGAN3-T shape {plan.SMOKE.ppl_sg3_resolution}x{plan.SMOKE.ppl_sg3_resolution}" in md
    assert sg3["theirs_samples_per_s"] > 0 and sg3["theirs_batch_pairs"] == 2 and sg3["ours_over_theirs"] > 0
    assert "the authors' sampler" in md and np.isfinite(sg3["theirs_value_random_weights"])
    assert r["ls"]["svm_samples"] == plan.SMOKE.svm_samples and r["ls"]["svm_keep"] == plan.SMOKE.svm_samples // 2
    assert r["ls"]["sampling_samples_per_s"] > 0 and r["ls"]["svm_s"] > 0
    assert r["train1024"]["images_per_s"] > 0 and r["train32"]["images_per_s"] > 0
    assert r["train32"]["settings"]["batch"] == plan.SMOKE.train_mini["batch"]
    tr = r["torchrun"]
    assert tr["backend"] == tr["backend_expected"] == ("nccl" if torch.cuda.is_available() else "gloo")
    assert tr["single_backend"] == "none" and tr["single_value"] == tr["torchrun_value"]
    assert md.strip() in proc.stdout                                     # the Markdown is printed
    print(f"smoke wall {wall:.1f} s")


def test_smoke_reports_gpu_tests_as_skipped_without_cuda(smoke):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the tests run for real")
    g = smoke[0]["steps"]["gpu_tests"]["result"]
    assert "tests/test_linear_svm.py" in g["files_listed"] and "tests/test_train_gpu.py" in g["files_listed"]
    assert g["tests"] and all(t["outcome"] == "skipped: no CUDA" for t in g["tests"])
    assert "| skipped: no CUDA |" in smoke[1]


def test_report_states_random_weights_and_the_arithmetic(smoke):
    rep, md = smoke[0], smoke[1]
    assert "random weights" in md and "Smoke mode" in md
    rows = {r["job"].split()[0]: r for r in rep["extrapolation"]}
    fid = rep["steps"]["fid"]["result"]
    want = (50_000 / fid["images_per_s"] + 50_000 / fid["features_images_per_s"]) / 60
    assert rows["fid50k"]["minutes"] == pytest.approx(want)
    assert rows["fid50k"]["v100_minutes"] == 16 and rows["ppl"]["v100_minutes"] == 55 and rows["ls"]["v100_minutes"] == 600
    assert rows["ls"]["minutes"] is None          # the smoke SVM is not the paper's 200k: not extrapolated
    assert f"`{rows['fid50k']['arithmetic']}`" in md and "| 16 |" in md


def test_extrapolation_arithmetic():
    steps = {"fid": {"result": {"images_per_s": 100.0, "features_images_per_s": 1000.0}},
             "ppl": {"result": {"samples_per_s": 50.0}},
             "ls": {"result": {"sampling_samples_per_s": 100.0, "svm_s": 60.0, "svm_samples": 200_000}}}
    rows = report.extrapolate(steps)
    assert [r["minutes"] for r in rows] == pytest.approx([(500 + 50) / 60, 2000 / 60, (2000 + 60) / 60])
    assert rows[0]["speedup_vs_v100"] == pytest.approx(16 / (550 / 60))
    assert rows[0]["arithmetic"] == "(50000 / 100 + 50000 / 1000) / 60"
    assert all(r["minutes"] is None for r in report.extrapolate({}))


def test_a_step_over_its_budget_is_killed_and_the_report_still_written(tmp_path):
    proc = _check("--smoke", "--out", str(tmp_path), "--steps", "ls", "--step-budget", "ls=1", timeout=120)
    assert proc.returncode == 1
    rep = json.loads((tmp_path / "gpu_check.json").read_text())
    assert rep["steps"]["ls"]["status"].startswith("timeout: killed at the 1 s budget")
    assert rep["steps"]["ls"]["process"]["wall_s"] < 20
    assert "## Problems" in (tmp_path / "gpu_check.md").read_text()


def test_watchdog_kills_the_whole_process_tree(tmp_path):
    marker = tmp_path / "grandchild-alive"
    code = textwrap.dedent(f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time, pathlib; time.sleep(3); pathlib.Path({str(marker)!r}).touch()"])
        time.sleep(60)
    """)
    t0 = time.perf_counter()
    rc, secs = run_bounded([sys.executable, "-c", code], 1.0, cwd=tmp_path, env={}, log=tmp_path / "log")
    assert rc is None and secs < 15 and time.perf_counter() - t0 < 15
    time.sleep(3.5)
    assert not marker.exists()                    # the grandchild died with its parent's group
    rc, _ = run_bounded([sys.executable, "-c", "raise SystemExit(3)"], 30, cwd=tmp_path, env={}, log=tmp_path / "log")
    assert rc == 3


def test_without_cuda_the_full_check_refuses_with_a_clear_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = _check("--out", str(tmp_path), timeout=120)
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr and "--smoke" in proc.stderr


def test_gpu_test_discovery_and_outcome_parsing(tmp_path):
    names = {p.name for p in gpu_test_files(REPO / "tests")}
    assert {"test_linear_svm.py", "test_models_gpu.py", "test_ppl.py", "test_train_gpu.py"} <= names
    assert "test_gpu_check.py" not in names and "test_fid_metric.py" not in names
    xml = tmp_path / "j.xml"
    xml.write_text('<testsuites><testsuite><testcase classname="tests.test_a" name="t1" time="0.5"/>'
                   '<testcase classname="tests.test_a.TestK" name="t2"><failure message="boom"/></testcase>'
                   '<testcase classname="tests.test_b" name="t3"><skipped message="needs CUDA (no GPU)"/></testcase>'
                   '</testsuite></testsuites>')
    got = [(t["id"], t["outcome"]) for t in parse_junit(xml)]
    assert got == [("tests/test_a.py::t1", "passed"), ("tests/test_a.py::TestK::t2", "failed"),
                   ("tests/test_b.py::t3", "skipped: no CUDA")]
    log = "tests/test_x.py::test_a PASSED [ 50%]\ntests/test_x.py::test_b FAILED [100%]\nnoise\n"
    assert [(t["id"], t["outcome"]) for t in parse_verbose(log)] == [("tests/test_x.py::test_a", "passed"),
                                                                     ("tests/test_x.py::test_b", "failed")]


def test_wheel_preparation_command_and_make_targets():
    cmd = wheels.download_command(".whl", "python3")
    assert cmd[:4] == ["python3", "-m", "pip", "download"] and "--no-deps" in cmd and "--only-binary=:all:" in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.12" and "manylinux_2_28_x86_64" in cmd
    assert cmd[-len(wheels.WHEELS):] == list(wheels.WHEELS) and "lpips==0.1.4" in wheels.WHEELS
    makefile = (REPO / "Makefile").read_text()
    assert "gpu-wheels:" in makefile and "benchmarks.gpu_check.wheels" in makefile
    assert "gpu-check:" in makefile and "-m benchmarks.gpu_check --out" in makefile
    # The wheel step runs with any python3 that has pip: the package and wheels.py import no torch.
    probe = "import sys, benchmarks.gpu_check.wheels; assert 'torch' not in sys.modules, 'torch imported'"
    assert subprocess.run([sys.executable, "-c", probe], cwd=REPO).returncode == 0
    help_text = _check("--help", timeout=120).stdout
    assert "make gpu-wheels" in help_text and wheels.INSTALL_THERE in help_text


def test_budgets_fit_nine_minutes():
    budgets, total = plan.budgets_for("paper")
    assert set(budgets) == set(plan.STEPS) and sum(budgets.values()) <= total <= 9 * 60
    assert plan.process_groups("paper", list(plan.STEPS)) == [[s] for s in plan.STEPS]
    assert plan.process_groups("smoke", ["gpu_tests", "fid", "ppl"]) == [["gpu_tests"], ["fid", "ppl"]]
