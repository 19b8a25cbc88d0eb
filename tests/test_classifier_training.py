"""Training the attribute classifier: data sources, outputs, export, and `dmetrics train-classifier`."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from disentangle_metrics.data.testbed import ATTRIBUTES, TestbedConfig
from disentangle_metrics.features.testbed_net import load_testbed_classifier
from reference_models import load_checkpoint
from reference_models.classifier_data import (TESTBED_VALIDATION_OFFSET, TestbedData, box_downsample_uint8,
                                              to_float_images)
from reference_models.classifier_export import export_torchscript
from reference_models.classifier_training import (ClassifierTrainConfig, accuracy_table, lr_at, parse_attributes,
                                                  read_summary, train_classifier, write_outputs)

TINY = dict(fmap_base=32, fmap_max=8)


def test_lr_schedule_endpoints():
    cfg = ClassifierTrainConfig(steps=11, lr=1e-3, final_lr_fraction=0.1)
    assert lr_at(cfg, 0) == pytest.approx(1e-3) and lr_at(cfg, 10) == pytest.approx(1e-4)
    assert lr_at(cfg, 3) > lr_at(cfg, 7)


def test_parse_attributes():
    assert parse_attributes(None, ATTRIBUTES) == list(ATTRIBUTES)
    assert parse_attributes("hat, male", ATTRIBUTES) == ["hat", "male"]
    with pytest.raises(ValueError, match="unknown attribute"):
        parse_attributes("hat,wings", ATTRIBUTES)
    with pytest.raises(ValueError, match="twice"):
        parse_attributes("hat,hat", ATTRIBUTES)


def test_box_downsample_uint8_and_float_range():
    x = torch.tensor([[[[0, 255], [255, 255]]]], dtype=torch.uint8).repeat(1, 3, 1, 1)
    assert box_downsample_uint8(x, 1).flatten().tolist() == [191, 191, 191]     # 191.25 rounds down
    with pytest.raises(ValueError, match="power-of-two"):
        box_downsample_uint8(torch.zeros(1, 3, 48, 48, dtype=torch.uint8), 32)
    f = to_float_images(torch.tensor([0, 255], dtype=torch.uint8))
    assert f.tolist() == [-1.0, 1.0]


def test_testbed_data_is_disjoint_and_deterministic():
    data = TestbedData(TestbedConfig(resolution=16), ["male", "hat"], 16, num_validation=4)
    g = torch.Generator()
    x1, y1 = data.train_batch(3, 5, g)
    x2, y2 = data.train_batch(3, 5, g)
    assert x1.shape == (5, 3, 16, 16) and y1.shape == (5, 2) and torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, data.train_batch(4, 5, g)[0])
    vx, vy = data.validation()
    assert vx.shape == (4, 3, 16, 16) and data.describe()["validation_indices"][0] == TESTBED_VALIDATION_OFFSET
    with pytest.raises(ValueError, match="held-out"):
        data.train_batch(TESTBED_VALIDATION_OFFSET // 5, 5, g)
    two = TestbedData(TestbedConfig(resolution=16), ["male"], 16, render_resolutions=[16, 32], num_validation=3)
    assert two.validation()[0].shape == (6, 3, 16, 16)
    with pytest.raises(ValueError, match="below the classifier resolution"):
        TestbedData(TestbedConfig(resolution=16), ["male"], 32, num_validation=3)


def test_outputs_checkpoint_summary_and_export(tmp_path):
    cfg = ClassifierTrainConfig(resolution=16, steps=2, batch_size=4, eval_every=0, **TINY)
    data = TestbedData(TestbedConfig(resolution=16), ["male", "smiling"], 16, num_validation=6)
    res = train_classifier(cfg, data)
    assert len(res.losses) == 2 and len(res.history) == 1 and set(res.accuracy) == {"male", "smiling"}
    out = write_outputs(res, cfg, tmp_path / "clf", data.describe(), threshold=0.95)
    summary = read_summary(out)
    assert summary["attribute_names"] == ["male", "smiling"] and summary["num_validation"] == 6
    assert "| male |" in (out / "accuracy.md").read_text()
    net = load_checkpoint(out)
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    assert torch.allclose(net(x), res.model(x), atol=0)
    write_outputs(res, cfg, out, data.describe())          # replacing an existing folder works
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    digest = export_torchscript(out, tmp_path / "clf.pt")
    loaded = load_testbed_classifier(tmp_path / "clf.pt", allow_hash_mismatch=True)
    assert loaded.sha256 == digest and loaded.attribute_names == ["male", "smiling"]
    assert torch.allclose(loaded(x), net(x), atol=1e-5)
    assert "| male |" in accuracy_table(res)


@pytest.mark.slow
def test_training_decreases_loss():
    cfg = ClassifierTrainConfig(resolution=16, steps=60, batch_size=32, lr=3e-3, eval_every=0, fmap_base=64, fmap_max=16)
    data = TestbedData(TestbedConfig(resolution=16), ["hat", "dark_background", "eyeglasses"], 16, num_validation=200)
    res = train_classifier(cfg, data)
    first, last = sum(res.losses[:10]) / 10, sum(res.losses[-10:]) / 10
    assert last < 0.8 * first
    assert res.mean_accuracy > 0.7


def _run(args):
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    return r


def test_cli_train_classifier_on_testbed(tmp_path):
    out = tmp_path / "c"
    r = _run(["train-classifier", "testbed", "--attributes", "male,hat", "--resolution", "16", "--render-resolution",
              "16", "--out", str(out), "--steps", "2", "--batch", "4", "--num-validation", "5",
              "--fmap-base", "32", "--fmap-max", "8"])
    assert r.exit_code == 0, r.output
    assert "held-out accuracy (5 images)" in r.output
    summary = json.loads((out / "training.json").read_text())
    assert summary["attribute_names"] == ["male", "hat"] and summary["data"]["kind"] == "testbed"
    assert load_checkpoint(out).num_attributes == 2


def test_cli_train_classifier_on_celeba_layout_folder(tmp_path):
    exp = tmp_path / "export"
    r = _run(["testbed", "export", str(exp), "--num", "12", "--resolution", "32"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "c"
    r = _run(["train-classifier", str(exp), "--attributes", "smiling,eyeglasses", "--resolution", "16",
              "--out", str(out), "--steps", "2", "--batch", "4", "--num-validation", "4",
              "--fmap-base", "32", "--fmap-max", "8"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "training.json").read_text())
    assert summary["data"]["kind"] == "folder" and summary["data"]["num_train"] == 8
    assert summary["attribute_names"] == ["smiling", "eyeglasses"]


def test_cli_train_classifier_errors(tmp_path):
    r = CliRunner().invoke(main, ["train-classifier", "testbed", "--attributes", "wings", "--out", str(tmp_path / "c")])
    assert r.exit_code != 0 and "unknown attribute" in r.output
    r = CliRunner().invoke(main, ["train-classifier", str(tmp_path), "--out", str(tmp_path / "c")])
    assert r.exit_code != 0 and "list_attr_celeba.txt" in r.output


def test_warm_start_continues_and_checks_compatibility(tmp_path):
    cfg = ClassifierTrainConfig(resolution=16, steps=1, batch_size=4, eval_every=0, **TINY)
    data = TestbedData(TestbedConfig(resolution=16), ["male", "smiling"], 16, num_validation=4)
    first = write_outputs(train_classifier(cfg, data), cfg, tmp_path / "a", data.describe())
    warm = ClassifierTrainConfig(**{**cfg.__dict__, "init_from": str(first), "lr": 1e-9})
    res = train_classifier(warm, data)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.allclose(res.model(x), load_checkpoint(first)(x), atol=1e-4)   # tiny lr: barely moved
    other = TestbedData(TestbedConfig(resolution=16), ["smiling", "male"], 16, num_validation=4)
    with pytest.raises(ValueError, match="trained for attributes"):
        train_classifier(warm, other)
    with pytest.raises(ValueError, match="asks for"):
        train_classifier(ClassifierTrainConfig(**{**warm.__dict__, "fmap_max": 16}), data)


def test_save_checkpoint_extra_files_cannot_shadow_the_checkpoint(tmp_path):
    from reference_models import build_classifier, save_checkpoint
    net = build_classifier(1, 8, seed=0, fmap_base=16, fmap_max=4)
    for bad in ("model.pt", "config.json", "../x.json"):
        with pytest.raises(ValueError, match="plain file name"):
            save_checkpoint(net, tmp_path / "c", extra_files={bad: "{}"})
    assert not (tmp_path / "c").exists() and not list(tmp_path.iterdir())
    save_checkpoint(net, tmp_path / "c", extra_files={"notes.txt": "hi"})
    assert (tmp_path / "c" / "notes.txt").read_text() == "hi"
