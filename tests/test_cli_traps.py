"""Issue 15, item 9: the small CLI traps, each a clear message instead of a surprise."""

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import tests.guard_helpers  # noqa: F401
from cli.main import main
from tests.fid_helpers import ToyGenerator  # noqa: F401  (registers test-pixel-stats)


def _npy(tmp_path, n=4):
    np.save(tmp_path / "real.npy", np.random.default_rng(0).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8))
    return str(tmp_path / "real.npy")


def test_stats_out_must_end_in_npz(tmp_path):
    r = CliRunner().invoke(main, ["stats", _npy(tmp_path), "--out", str(tmp_path / "foo"), "--extractor",
                                  "test-pixel-stats", "--device", "cpu"])
    assert r.exit_code == 2 and ".npz" in r.output and not (tmp_path / "foo").exists()


def test_stats_bad_device_is_one_line(tmp_path):
    r = CliRunner().invoke(main, ["stats", _npy(tmp_path), "--out", str(tmp_path / "s.npz"), "--device", "gpu"])
    assert r.exit_code == 2 and "'gpu'" in r.output and "Traceback" not in r.output and r.exception is not None


def test_non_zip_npz_gets_no_pickle_hint(tmp_path):
    (tmp_path / "imgs.npz").write_bytes(b"\x93NUMPY not really")
    r = CliRunner().invoke(main, ["stats", str(tmp_path / "imgs.npz"), "--out", str(tmp_path / "s.npz"),
                                  "--extractor", "test-pixel-stats", "--device", "cpu"])
    assert r.exit_code == 1 and "not a .npz archive" in r.output and "allow_pickle" not in r.output
    r = CliRunner().invoke(main, ["score", "tests.guard_helpers:good", "--metrics", "fid50k", "--reference",
                                  str(tmp_path / "imgs.npz"), "--extractor", "test-pixel-stats", "--device", "cpu",
                                  "--num-samples", "200", "--no-progress", "--out", str(tmp_path / "r.jsonl")])
    assert "allow_pickle" not in r.output and "not a .npz" in r.output, r.output


def test_corrupt_reference_folder_points_to_stats_skip_bad(tmp_path):
    folder = tmp_path / "ref"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"not a png")
    r = CliRunner().invoke(main, ["score", "tests.guard_helpers:good", "--metrics", "fid50k", "--reference",
                                  str(folder), "--extractor", "test-pixel-stats", "--device", "cpu",
                                  "--num-samples", "200", "--no-progress", "--out", str(tmp_path / "r.jsonl")])
    assert "dmetrics stats" in r.output and "--skip-bad" in r.output, r.output


def test_interrupted_testbed_export_is_warned_about(tmp_path):
    out = tmp_path / "tb"
    r = CliRunner().invoke(main, ["testbed", "export", str(out), "--num", "4", "--resolution", "16", "--no-progress"])
    assert r.exit_code == 0, r.output
    os.remove(out / "list_attr_celeba.txt")          # what an interrupted export leaves
    r = CliRunner().invoke(main, ["stats", str(out), "--out", str(tmp_path / "s.npz"), "--extractor",
                                  "test-pixel-stats", "--device", "cpu", "--no-progress"])
    assert "interrupted" in r.output, r.output


@pytest.mark.parametrize("cmd", [["score"], ["stats"], ["train"], ["testbed", "export"]])
def test_progress_flags_are_the_same_everywhere(cmd):
    r = CliRunner().invoke(main, cmd + ["--help"])
    assert "--progress / --no-progress" in r.output, cmd


def test_interrupted_testbed_export_as_fid_reference_warns(tmp_path):
    from disentangle_metrics import fid
    out = tmp_path / "tb"
    assert CliRunner().invoke(main, ["testbed", "export", str(out), "--num", "4", "--resolution", "16",
                                     "--no-progress"]).exit_code == 0
    os.remove(out / "list_attr_celeba.txt")
    with pytest.warns(RuntimeWarning, match="interrupted"):
        fid(ToyGenerator(resolution=16), str(out), num_samples=4, num_real=4, extractor="test-pixel-stats", device="cpu")


def test_checkpoints_written_before_the_official_truncation_fields_still_load(tmp_path):
    """Checkpoints written before truncation_psi/truncation_cutoff existed (the first shipped demo generators)
    must load with their defaults, while a missing architectural field is still named."""
    import json
    import shutil

    from reference_models import load_checkpoint
    from reference_models.checkpoint import CheckpointError

    src = Path(__file__).resolve().parents[1] / "reference_models" / "pretrained" / "mini-f-mixing90"
    old = tmp_path / "old"
    shutil.copytree(src, old)
    cfg = json.loads((old / "config.json").read_text())
    for name in ("truncation_psi", "truncation_cutoff"):
        cfg["config"].pop(name, None)
    (old / "config.json").write_text(json.dumps(cfg))
    G = load_checkpoint(old)
    assert G.cfg.truncation_psi == 0.7 and G.cfg.truncation_cutoff == 8
    bad = tmp_path / "bad"
    shutil.copytree(src, bad)
    cfg = json.loads((bad / "config.json").read_text())
    del cfg["config"]["latent_size"]
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="latent_size"):
        load_checkpoint(bad)
