"""What `dmetrics train` tells its user: the presets in --help, the estimated time after the first tick (and a
warning when it is days), the score command for what it wrote, and Ctrl-C writing a checkpoint."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from cli.score import score
from reference_models.configs import GENERATOR_PRESETS
from reference_models.train import LATEST

from .train_helpers import tiny_reals

ROOT = Path(__file__).resolve().parents[1]


def _args(data, out, *extra):
    return ["train", "f-mixing90", "--data", str(data), "--resolution", "16", "--out", str(out), "--batch", "4",
            "--fixed", "--fmap-max", "16", "--latent-size", "16", "--minibatch-repeats", "2", "--tick-kimg", "0.008",
            "--grid", "2", "--device", "cpu", "--threads", "1", "--no-progress", *extra]


def test_help_lists_the_presets():
    r = CliRunner().invoke(main, ["train", "--help"])
    assert r.exit_code == 0
    assert all(name in r.output for name in GENERATOR_PRESETS)
    assert "--kimg 100" in r.output   # the mini-scale recipe as an alternative to weeks of the official one


def _score_line(output: str) -> list[str]:
    line = next(ln for ln in output.splitlines() if "dmetrics score " in ln)
    return shlex.split(line[line.index("dmetrics score "):])


def test_prints_estimate_and_the_score_command_of_the_latest_snapshot(tmp_path):
    data = tiny_reals(tmp_path / "reals.npy")
    out = tmp_path / "run"
    r = CliRunner().invoke(main, _args(data, out, "--kimg", "0.024", "--ckpt-every", "0.008"))
    assert r.exit_code == 0, r.output
    assert "estimated time to 0.024 kimg:" in r.output and "img/s on cpu" in r.output
    assert "warning" not in r.output
    argv = _score_line(r.output)
    assert argv[2] == str(out / "snapshot-000000024.pt") and Path(argv[2]).is_file()
    assert argv[argv.index("--reference") + 1] == str(data)
    score.make_context("score", argv[2:])    # the options exist and parse


def test_testbed_run_score_command_uses_the_testbed_and_no_snapshots_means_latest(tmp_path):
    out = tmp_path / "run"
    args = [a if a != str(tmp_path / "reals.npy") else "testbed" for a in _args(tmp_path / "reals.npy", out)]
    r = CliRunner().invoke(main, args + ["--testbed-num", "16", "--kimg", "0.008", "--no-snapshots"])
    assert r.exit_code == 0, r.output
    argv = _score_line(r.output)
    assert argv[2] == str(out / LATEST)
    assert " ".join(argv[3:]).startswith("--metrics fid10k --extractor testbed --reference testbed --num-real 16")
    score.make_context("score", argv[2:])


def test_warns_when_the_run_would_take_days(tmp_path, monkeypatch):
    import reference_models.train.loop as loop
    monkeypatch.setattr(loop, "LONG_RUN_S", 0.0)   # any remaining time counts as days-long
    data = tiny_reals(tmp_path / "reals.npy")
    r = CliRunner().invoke(main, _args(data, tmp_path / "run", "--kimg", "0.016"))
    assert r.exit_code == 0, r.output
    assert "warning: this run would take" in r.output and "--fmap-max 32" in r.output


def _rows(path: Path) -> int:
    return max(len(path.read_text().splitlines()) - 1, 0) if path.is_file() else 0


def test_ctrl_c_in_process_checkpoints_after_the_group(tmp_path, monkeypatch):
    """SIGINT during a step (sent by the step itself): the group finishes, then a checkpoint and exit 130."""
    from reference_models.train.loop import Trainer
    step = Trainer.train_step

    def interrupting_step(self, sch):
        if self.progress["step"] == 2:   # the first step of the second group
            os.kill(os.getpid(), signal.SIGINT)
        return step(self, sch)

    monkeypatch.setattr(Trainer, "train_step", interrupting_step)
    data = tiny_reals(tmp_path / "reals.npy")
    out = tmp_path / "run"
    r = CliRunner().invoke(main, _args(data, out, "--kimg", "0.04", "--ckpt-every", "1000", "--no-snapshots"))
    assert r.exit_code == 130, r.output
    assert torch.load(out / LATEST, weights_only=True)["progress"]["step"] == 4   # the whole second group
    assert f"interrupted at 0.016 kimg: checkpoint written to {out / LATEST}" in r.output
    assert f"continue with: dmetrics train f-mixing90 --out {out} --resume" in r.output
    assert f"dmetrics score {out / LATEST}" in r.output


@pytest.mark.slow
def test_ctrl_c_writes_a_checkpoint_and_says_how_to_resume(tmp_path):
    """A real Ctrl-C to a `dmetrics train` process; the checkpoint it writes resumes."""
    data = tiny_reals(tmp_path / "reals.npy")
    out = tmp_path / "run"
    # no periodic checkpoint before the end: latest.pt can only come from the interrupt
    args = _args(data, out, "--kimg", "40", "--ckpt-every", "1000", "--no-snapshots")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        # the first log row: training is under way (the header is written before the loop starts)
        while time.time() < deadline and not _rows(out / "log.csv"):
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stdout + stderr
    ck = torch.load(out / LATEST, weights_only=True)
    nimg = ck["progress"]["nimg"]
    assert nimg > 0 and nimg % 8 == 0            # whole groups of 2 minibatches of 4
    assert f"interrupted at {nimg / 1000:.3f} kimg: checkpoint written to {out / LATEST}" in stdout
    assert f"dmetrics train f-mixing90 --out {out} --resume" in stdout
    assert "Ctrl-C again" in stderr
    r = CliRunner().invoke(main, ["train", "f-mixing90", "--out", str(out), "--resume", "--kimg",
                                  str((nimg + 8) / 1000), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert torch.load(out / LATEST, weights_only=True)["progress"]["nimg"] == nimg + 8
