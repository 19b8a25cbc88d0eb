"""`dmetrics train --metrics`: G_ema scored at every snapshot into metric-<name>.jsonl and its curve."""

from __future__ import annotations

import builtins
import json

from click.testing import CliRunner

from cli.main import main
from disentangle_metrics._core.results import MetricResult
from reference_models.train.metric_log import MetricLog, log_path, read_log

NAMES = ["fid100@testbed", "kid100_full@testbed"]


def _args(out, *extra):
    return ["train", "f-mixing90", "--data", "testbed", "--testbed-num", "150", "--resolution", "16", "--out", str(out),
            "--batch", "4", "--fixed", "--fmap-max", "16", "--latent-size", "16", "--minibatch-repeats", "2",
            "--tick-kimg", "0.008", "--ckpt-every", "0.008", "--grid", "2", "--device", "cpu", "--threads", "1",
            "--no-progress", "--metrics", ",".join(NAMES), *extra]


def test_train_scores_every_snapshot_into_metric_logs_and_curves(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(main, _args(out, "--kimg", "0.016"))
    assert r.exit_code == 0, r.output
    for name in NAMES:
        lines = read_log(log_path(out, name))
        assert [x["kimg"] for x in lines] == [0.008, 0.016], name      # one line per checkpoint
        assert all(x["metric"] == name and x["num_samples"] == 100 for x in lines)
        assert log_path(out, name, ".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fid = read_log(log_path(out, "fid100@testbed"))
    assert all(x["interval"]["low"] <= x["value"] <= x["interval"]["high"] for x in fid)
    assert "jackknife" in fid[0]["interval"]["method"]
    full = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(full) == 4 and {x["config"]["reference"] for x in full} == \
        {"testbed at 16x16 (first 150 images, default config)"}
    # resume: the logs continue; lines past the checkpoint would have been dropped
    r = CliRunner().invoke(main, ["train", "f-mixing90", "--out", str(out), "--resume", "--kimg", "0.024",
                                  "--no-progress"])
    assert r.exit_code == 0, r.output
    assert [x["kimg"] for x in read_log(log_path(out, "fid100@testbed"))] == [0.008, 0.016, 0.024]


def test_resume_drops_lines_after_the_checkpoint_and_no_matplotlib_is_said_once(tmp_path, monkeypatch):
    said = []
    log = MetricLog(tmp_path, echo=said.append)
    real_import = builtins.__import__

    def no_matplotlib(name, *a, **k):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    for kimg, v in ((1.0, 5.0), (2.0, 4.0), (3.0, 3.5)):
        log.add([MetricResult(metric="fid10k@testbed", value=v, values={"fid10k@testbed": v})], kimg)
    assert len(said) == 1 and "matplotlib" in said[0]
    assert not log_path(tmp_path, "fid10k@testbed", ".png").exists()
    MetricLog(tmp_path, resume_kimg=2.0)
    lines = read_log(log_path(tmp_path, "fid10k@testbed"))
    assert [(x["kimg"], x["value"], x["interval"]) for x in lines] == [(1.0, 5.0, None), (2.0, 4.0, None)]
