"""A real SIGKILL of a `dmetrics train` process: the last checkpoint stays loadable and the resumed run
ends bit-for-bit where an uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from reference_models.train import LATEST, train

from .train_helpers import state_tensors, tiny_config, tiny_reals

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    data = tiny_reals(tmp_path / "reals.npy")
    kimg = 0.096
    args = ["train", "f-mixing90", "--data", str(data), "--resolution", "16", "--batch", "4", "--fixed",
            "--fmap-max", "16", "--latent-size", "16", "--minibatch-repeats", "2", "--tick-kimg", "0.008",
            "--ckpt-every", "0.008", "--grid", "2", "--device", "cpu", "--threads", "1", "--no-progress",
            "--no-snapshots", "--kimg", str(kimg)]
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", *args, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (out / LATEST).exists():
            time.sleep(0.05)
        time.sleep(0.3)   # let it get into the next checkpoint write or step
        assert proc.poll() is None, "the run finished before it could be killed; raise --kimg"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    ck = torch.load(out / LATEST, weights_only=True)
    killed_at = ck["progress"]["step"]
    assert 0 < killed_at < kimg * 1000 / 4
    cfg = tiny_config(data, out, total_kimg=kimg, tick_kimg=0.008, ckpt_every_kimg=0.008, keep_snapshots=False,
                      threads=1)
    resumed = train(cfg, resume=True, progress=False)      # threads=1 like the killed process
    full = train(cfg.replace(out=str(tmp_path / "full")), progress=False)
    a, b = state_tensors(full), state_tensors(resumed)
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
