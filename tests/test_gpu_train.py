"""`make gpu-train`'s script, run as its --smoke on the CPU: probe, sizing, waves of processes, packs."""

from __future__ import annotations

import json
import tarfile

import reference_models
from benchmarks.gpu_train.run import MODES, Job, pack, size_plan


def test_size_plan_drops_whole_seeds_before_going_under_min_kimg():
    mode = MODES["gpu"]
    # 1000 img/s per training, 9 at once, 5 s start-up: 27 jobs in 3 waves fit 450 s at >= 20 kimg
    n, kimg = size_plan(mode, 450.0, 1000.0, 5.0, 27, 9, 4.0)
    assert n == 27 and kimg == int((1000 * (450 - 15) / 1000 + 4) / 3)
    # a tenth of the speed: 27 jobs would get (43.5 + 4) / 3 < 20 kimg, so two seeds in 2 waves of (44 + 4) / 2
    assert size_plan(mode, 450.0, 100.0, 5.0, 27, 9, 4.0) == (18, 24.0)
    assert size_plan(mode, 10.0, 100.0, 5.0, 27, 9, 4.0) == (0, 0.0)


def test_smoke_trains_the_demo_and_the_presets_in_waves_and_packs_them(tmp_path):
    from benchmarks.gpu_train.run import main

    out = tmp_path / "out"
    # a budget ample for a loaded 2-core machine; the smoke's kimg are capped, so it ends when the jobs do
    rc = main(["--smoke", "--out", str(out), "--budget-s", "600"])
    report = json.loads((out / "gpu_train.json").read_text())
    assert rc == 0, report
    mode = MODES["smoke"]
    assert report["precision"] == "float32" and report["probe"]["trainings_at_once"] == mode.procs
    assert set(report["probe"]["img_per_s"]) == {"demo", "seed0-f-mixing90", "seed0-b-traditional"}
    plan = report["plan"]
    assert plan["mini_jobs"] == 3 and plan["waves"] == 2 and plan["mini_kimg"] == mode.max_kimg
    assert all(j["finished"] and j["kimg"] == j["target_kimg"] for j in report["jobs"])
    assert report["packs"] == ["gpu_train_pack-0.tar"] and report["left_out_of_packs"] == []
    unpacked = tmp_path / "unpacked"
    with tarfile.open(out / "gpu_train_pack-0.tar") as tf:
        names = set(tf.getnames())
        tf.extractall(unpacked, filter="data")
    for rel in ("demo", "seed0/f-mixing90", "seed0/b-traditional", "seed0/e-noise"):
        assert {f"{rel}/train/latest.pt", f"{rel}/train/log.csv", f"{rel}/train/config.json",
                f"{rel}/trained.json"} <= names
        G = reference_models.load_checkpoint(unpacked / rel / "train" / "latest.pt")
        assert G.img_resolution == 16
        assert json.loads((unpacked / rel / "train" / "config.json").read_text())["precision"] == "float32"
    assert json.loads((unpacked / "seed0/e-noise/trained.json").read_text())["kimg"] == mode.max_kimg

    # packs split at --max-bytes, in job order, and what does not fit is listed, never silently dropped
    work = out / "work"
    jobs = [Job("demo", "demo", "f-mixing90", 0, work / "demo")] + [
        Job(f"seed0-{p}", "mini", p, 0, work / "tables" / "seed0" / p) for p in mode.presets]
    one = (out / "gpu_train_pack-0.tar").stat().st_size // 3   # room for about one run per pack
    split = tmp_path / "split"
    split.mkdir()
    names, left_out = pack(jobs, split, one, 2)
    assert names == ["gpu_train_pack-0.tar", "gpu_train_pack-1.tar"]
    assert all((split / n).stat().st_size <= one for n in names)
    assert left_out and all(n.startswith("seed0/") for n in left_out)
