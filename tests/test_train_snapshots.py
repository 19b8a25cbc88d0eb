"""Training snapshots are named by image count: sub-kimg checkpoint intervals never collide."""

from __future__ import annotations

import shutil

import pytest
import torch
from click.testing import CliRunner

from reference_models.train import LATEST, Trainer, train
from reference_models.train.run_folder import list_snapshots, snapshot_name

from .train_helpers import tiny_config, tiny_reals


@pytest.fixture(scope="module")
def reals(tmp_path_factory):
    return tiny_reals(tmp_path_factory.mktemp("data") / "reals.npy")


def test_sub_kimg_checkpoints_keep_one_snapshot_each(reals, tmp_path):
    # 8 images per step group, a checkpoint every 8 images: three checkpoints inside kimg 0
    train(tiny_config(reals, tmp_path / "run", total_kimg=0.024, ckpt_every_kimg=0.008), progress=False)
    snaps = list_snapshots(tmp_path / "run")
    assert [n for n, _ in snaps] == [8, 16, 24]
    assert [p.name for _, p in snaps] == ["snapshot-000000008.pt", "snapshot-000000016.pt", "snapshot-000000024.pt"]
    for n, p in snaps:   # each file holds the state of its own image count
        assert torch.load(p, weights_only=True)["progress"]["nimg"] == n


def test_names_sort_by_image_count_and_old_names_are_read(tmp_path):
    assert snapshot_name(10_016) == "snapshot-000010016.pt" and snapshot_name(0) == "snapshot-000000000.pt"
    for name in ("snapshot-000010.pt", "snapshot-000010016.pt", "snapshot-000009999.pt", "snapshot-000020.pt",
                 "snapshot-x.pt", "latest.pt"):
        (tmp_path / name).write_bytes(b"")
    got = [(n, p.name) for n, p in list_snapshots(tmp_path)]
    # an old whole-kimg name stands for the start of its kimg; the new names for their exact counts
    assert got == [(9_999, "snapshot-000009999.pt"), (10_000, "snapshot-000010.pt"),
                   (10_016, "snapshot-000010016.pt"), (20_000, "snapshot-000020.pt")]
    assert [p for _, p in got] == sorted(p for _, p in got)    # and a plain sort of the names agrees


def test_a_snapshot_of_the_old_name_resumes_as_latest(reals, tmp_path):
    cfg = tiny_config(reals, tmp_path / "run", total_kimg=0.016, ckpt_every_kimg=0.008)
    train(cfg, progress=False)
    first = list_snapshots(tmp_path / "run")[0][1]
    old = tmp_path / "run" / "snapshot-000000.pt"             # what the trainer wrote before image-count names
    shutil.move(first, old)
    shutil.copy(old, tmp_path / "run" / LATEST)
    tr = Trainer(cfg, resume=True, progress=False)
    assert tr.progress["nimg"] == 8
    assert list_snapshots(tmp_path / "run")[0] == (0, old)


def test_ckpt_every_below_one_kimg_needs_no_warning(tmp_path, monkeypatch):
    import reference_models.train as rt
    from cli.main import main

    class Stop(Exception):
        pass

    def no_training(*a, **k):
        raise Stop()
    monkeypatch.setattr(rt, "Trainer", no_training)
    r = CliRunner().invoke(main, ["train", "f-mixing90", "--out", str(tmp_path / "run"), "--ckpt-every", "0.4",
                                  "--kimg", "1"])
    assert isinstance(r.exception, Stop) and "warning" not in r.output
