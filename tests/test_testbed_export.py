"""Export round trip: PNGs and list_attr_celeba.txt read back equal the rendered test bed; CLI commands."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cli.main import main
from disentangle_metrics.data.labels import read_celeba_attributes
from disentangle_metrics.data.testbed import ATTRIBUTES, TestbedConfig, render, sample_attributes
from disentangle_metrics.data.testbed_export import check_export, export_testbed


def test_export_round_trip(tmp_path):
    cfg = TestbedConfig(resolution=32, seed=3)
    export_testbed(cfg, tmp_path / "out", num=10, batch_size=4)
    lab = read_celeba_attributes(tmp_path / "out" / "list_attr_celeba.txt", check_dir=tmp_path / "out")
    assert lab.names == list(ATTRIBUTES)
    assert lab.filenames == [f"{i:06d}.png" for i in range(10)]
    assert np.array_equal(lab.values, sample_attributes(cfg, np.arange(10)))
    pixels = np.stack([np.asarray(Image.open(tmp_path / "out" / f)) for f in lab.filenames])
    assert pixels.shape == (10, 32, 32, 3) and pixels.dtype == np.uint8
    assert np.array_equal(pixels, render(cfg, np.arange(10)).permute(0, 2, 3, 1).numpy())
    cfg_back, lab_back = check_export(tmp_path / "out")
    assert cfg_back == cfg and lab_back.filenames == lab.filenames


def test_interrupted_export_is_detected(tmp_path):
    out = tmp_path / "out"
    export_testbed(TestbedConfig(resolution=16), out, num=3)
    (out / "list_attr_celeba.txt").unlink()
    with pytest.raises(FileNotFoundError, match="the export was interrupted"):
        check_export(out)
    with pytest.raises(FileExistsError, match="is not empty"):
        export_testbed(TestbedConfig(resolution=16), out, num=3)


def test_overwrite_removes_images_of_a_larger_earlier_export(tmp_path):
    out = tmp_path / "out"
    export_testbed(TestbedConfig(resolution=16), out, num=5)
    (out / "notes.md").write_text("keep me")
    export_testbed(TestbedConfig(resolution=16, seed=1), out, num=2, overwrite=True)
    assert sorted(p.name for p in out.glob("*.png")) == ["000000.png", "000001.png"]
    assert (out / "notes.md").read_text() == "keep me"
    check_export(out)


def test_cli_export_and_sheet(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["testbed", "export", str(tmp_path / "d"), "--num", "4", "--resolution", "16",
                               "--seed", "2"])
    assert res.exit_code == 0, res.output
    cfg, lab = check_export(tmp_path / "d")
    assert cfg.resolution == 16 and cfg.seed == 2 and len(lab.filenames) == 4
    res = runner.invoke(main, ["testbed", "export", str(tmp_path / "d2"), "--num", "2",
                               "--config", str(tmp_path / "d" / "testbed_config.json")])
    assert res.exit_code == 0, res.output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "d2" / "000001.png")),
                          np.asarray(Image.open(tmp_path / "d" / "000001.png")))
    res = runner.invoke(main, ["testbed", "sheet", str(tmp_path / "s.png"), "--num", "4", "--columns", "2",
                               "--resolution", "32"])
    assert res.exit_code == 0, res.output
    sheet = Image.open(tmp_path / "s.png")
    assert sheet.width >= 2 * 96 and sheet.height > 2 * 96


def test_cli_errors_are_one_line(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["testbed", "export", str(tmp_path / "d"), "--num", "2", "--resolution", "48"])
    assert res.exit_code != 0 and "power of two" in res.output and "Traceback" not in res.output
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    res = runner.invoke(main, ["testbed", "sheet", str(tmp_path / "s.png"), "--config", str(bad)])
    assert res.exit_code != 0 and "bad.json: not valid JSON" in res.output


def test_export_round_trip_through_the_folder_loader(tmp_path):
    """The export is a drop-in for the real formats: read back by data/images.py and labels.py."""
    import numpy as np
    import torch

    from disentangle_metrics.data.images import ImageDataset, iterate_batches
    from disentangle_metrics.data.labels import read_attributes
    from disentangle_metrics.data.testbed import render, sample_attributes
    from disentangle_metrics.data.testbed_config import TestbedConfig
    from disentangle_metrics.data.testbed_export import export_testbed

    cfg = TestbedConfig(resolution=16, seed=4)
    export_testbed(cfg, tmp_path / "tb", num=12)
    ds = ImageDataset(tmp_path / "tb")
    loaded = torch.cat(list(iterate_batches(ds, 5, num_threads=0)))
    assert torch.equal(loaded, render(cfg, range(12)))       # sorted file order = index order
    labels = read_attributes(tmp_path / "tb" / "list_attr_celeba.txt", check_dir=tmp_path / "tb")
    assert np.array_equal(np.asarray(labels.values) > 0, sample_attributes(cfg, range(12)))
