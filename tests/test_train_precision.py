"""Training precision: float32 (the official training's) unless bf16 is asked for, recorded in config.json."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli.main import main
from reference_models.tables.run import RunOptions, train_config
from reference_models.tables.scale import SCALES
from reference_models.train import TrainConfig, Trainer

from .train_helpers import tiny_config, tiny_reals


@pytest.mark.parametrize("scale", ["mini", "paper"])
def test_certification_runs_train_float32_even_on_cuda(scale, tmp_path):
    """The tables' training configs (mini and --scale paper) ask for no precision, so they get float32 on CUDA too."""
    cfg = train_config(SCALES[scale], "f-mixing90", tmp_path / "run", RunOptions(device="cuda"))
    assert cfg.precision == "float32"


def test_precision_recorded_in_config_json(tmp_path):
    data = tiny_reals(tmp_path / "reals.npy")
    tr = Trainer(tiny_config(data, tmp_path / "run"), progress=False)
    assert tr.amp is False
    assert json.loads((tmp_path / "run" / "config.json").read_text())["precision"] == "float32"


def test_cli_default_is_float32_and_bf16_is_opt_in(tmp_path):
    data = tiny_reals(tmp_path / "reals.npy")
    common = ["train", "f-mixing90", "--data", str(data), "--resolution", "16", "--batch", "4", "--fixed",
              "--fmap-max", "16", "--latent-size", "16", "--minibatch-repeats", "1", "--kimg", "0.004",
              "--grid", "2", "--device", "cpu", "--threads", "1", "--no-progress"]
    r = CliRunner().invoke(main, common + ["--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "a" / "config.json").read_text())["precision"] == "float32"
    r = CliRunner().invoke(main, common + ["--out", str(tmp_path / "b"), "--precision", "bf16"])
    assert r.exit_code == 1 and "bf16" in r.output and "CUDA" in r.output


def test_configs_written_with_amp_load():
    """config.json files of older runs have `amp` (true, false or null = bf16 on CUDA): they load, as float32
    unless bf16 was asked for explicitly."""
    d = TrainConfig().to_dict()
    d.pop("precision")
    for amp, want in ((None, "float32"), (False, "float32"), (True, "bf16")):
        assert TrainConfig.from_dict({**d, "amp": amp}).precision == want
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")
