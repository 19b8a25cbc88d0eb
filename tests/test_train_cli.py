"""`dmetrics train`: a tiny run, resume with a longer --kimg, clear errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

import reference_models
from cli.main import main

from .train_helpers import tiny_reals  # the CLI runs set --threads 1


def _args(data, out, *extra):
    return ["train", "f-mixing90", "--data", str(data), "--resolution", "16", "--out", str(out), "--batch", "4",
            "--fixed", "--fmap-max", "16", "--latent-size", "16", "--minibatch-repeats", "2", "--tick-kimg", "0.008",
            "--ckpt-every", "0.008", "--grid", "2", "--device", "cpu", "--threads", "1", "--no-progress", *extra]


def test_cli_trains_and_resumes(tmp_path):
    data = tiny_reals(tmp_path / "reals.npy")
    out = tmp_path / "run"
    r = CliRunner().invoke(main, _args(data, out, "--kimg", "0.008"))
    assert r.exit_code == 0, r.output
    assert "0.008 kimg, 2 steps" in r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["g_overrides"] == {"fmap_max": 16, "latent_size": 16} and cfg["d_overrides"] == {"fmap_max": 16}
    assert cfg["progressive"] is False and cfg["threads"] == 1
    # Resume with only the run length changed; the other options come from the run's config.json.
    r = CliRunner().invoke(main, ["train", "f-mixing90", "--out", str(out), "--resume", "--kimg", "0.016",
                                  "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "0.016 kimg, 4 steps" in r.output
    assert list(pd.read_csv(out / "log.csv").step) == [2, 4]
    G = reference_models.load_checkpoint(out / "latest.pt")
    assert G.img_resolution == 16 and G.z_dim == 16


def test_cli_errors_are_one_line_messages(tmp_path):
    data = tiny_reals(tmp_path / "reals.npy")
    out = tmp_path / "run"
    assert CliRunner().invoke(main, _args(data, out, "--kimg", "0.008")).exit_code == 0
    r = CliRunner().invoke(main, ["train", "e-noise", "--out", str(out), "--resume", "--no-progress"])
    assert r.exit_code == 1 and "different run" in r.output and "preset" in r.output
    r = CliRunner().invoke(main, _args(data, out, "--kimg", "0.008"))
    assert r.exit_code == 1 and "--resume" in r.output
    r = CliRunner().invoke(main, _args(tmp_path / "nothing-here", tmp_path / "r2", "--kimg", "0.008"))
    assert r.exit_code == 1 and "does not exist" in r.output
    r = CliRunner().invoke(main, _args(data, tmp_path / "r3", "--kimg", "0.008") + ["--resolution", "24"])
    assert r.exit_code == 1 and "power of two" in r.output
    r = CliRunner().invoke(main, ["train", "no-such-preset", "--out", str(tmp_path / "r4")])
    assert r.exit_code == 2 and "unknown preset" in r.output


def test_cli_recipe_options_reach_the_config(tmp_path):
    """--lr / --ema-rampup / --r1-gamma set the mini recipe's fields (MINI_RECIPE) from the command line."""
    from reference_models.train.config import MINI_RECIPE

    data = tiny_reals(tmp_path / "reals.npy")
    out = tmp_path / "run"
    r = CliRunner().invoke(main, _args(data, out, "--kimg", "0.008", "--lr", str(MINI_RECIPE["lr_base"]),
                                       "--ema-rampup", str(MINI_RECIPE["g_smoothing_rampup"]), "--r1-gamma", "3"))
    assert r.exit_code == 0, r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["lr_base"] == MINI_RECIPE["lr_base"] and cfg["g_smoothing_rampup"] == MINI_RECIPE["g_smoothing_rampup"]
    assert cfg["r1_gamma"] == 3.0
    # Without them, the paper's values.
    r = CliRunner().invoke(main, _args(data, tmp_path / "r2", "--kimg", "0.008"))
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "r2" / "config.json").read_text())
    assert cfg["lr_base"] == 0.001 and cfg["g_smoothing_rampup"] is None and cfg["r1_gamma"] == 10.0
    r = CliRunner().invoke(main, _args(data, tmp_path / "r3", "--kimg", "0.008", "--ema-rampup", "0"))
    assert r.exit_code == 1 and "g_smoothing_rampup must be > 0" in r.output
