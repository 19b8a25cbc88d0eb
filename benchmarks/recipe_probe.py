"""Recipe probes: train mini-scale runs in chunks and record FID@testbed against kimg.

Reads probes from a JSON-lines queue file (one object per line: ``name`` plus TrainConfig
fields; ``g_overrides``/``d_overrides`` are merged into the mini networks'), runs them one after
another in this one process (never in parallel: the machine is shared), and appends one CSV row
per evaluation to ``<root>/curves.csv``: probe, kimg, fid, wall seconds, img/s. New lines added to
the queue while it runs are picked up; finished probes are skipped unless their line gained
evaluation points (before a restart or while the driver runs), which then continue from the
probe's checkpoint.

FID: ``num_gen`` G_ema samples (random noise) vs the first ``num_real`` test-bed images (the
training set), test-bed extractor, computed by the trainer's metric path
(:func:`reference_models.train.report.run_metrics`: ``dm.score``, with ``metric-<name>.jsonl`` and its
curve in the probe's folder). The floor row (probe ``floor``) is ``num_gen`` test-bed images
of another seed vs the same reference: FID's bias depends on N, so curves and floor share counts.

    nohup nice -n 5 python -m benchmarks.recipe_probe --root /work/runs/cert --queue q.jsonl &
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import time
from pathlib import Path

import torch


def mini_config(name: str, root: Path, spec: dict, kimg: float) -> "TrainConfig":
    """The mini scale's TrainConfig (32x32, batch 32, fmap 256/32, latent 128, fixed) with ``spec`` applied."""
    from reference_models.train import TrainConfig

    spec = dict(spec)
    g = {"fmap_base": 256, "fmap_max": 32, "latent_size": 128}
    d = {"fmap_base": 256, "fmap_max": 32}
    g.update(spec.pop("g_overrides", {}))
    d.update(spec.pop("d_overrides", {}))
    base = dict(preset="f-mixing90", resolution=32, data="testbed", out=str(root / name), total_kimg=kimg, seed=0,
                testbed_num=10_000, mirror=False, batch=32, progressive=False, tick_kimg=4.0,
                ckpt_every_kimg=10.0, keep_snapshots=False, device="cpu", threads=1,
                g_overrides=g, d_overrides=d)
    base.update(spec)
    return TrainConfig.from_dict(base, source=f"probe {name}")


def floor(num_gen: int, num_real: int) -> float:
    """FID of ``num_gen`` test-bed images (seed 1) against the first ``num_real`` (seed 0)."""
    from disentangle_metrics.data.testbed_config import TestbedConfig
    from disentangle_metrics.features.cache import testbed_stats
    from disentangle_metrics.functional.frechet import frechet_details

    ref = testbed_stats("testbed", num_real, 32, device="cpu", progress=False)
    other = testbed_stats("testbed", num_gen, 32, config=TestbedConfig(seed=1), device="cpu", progress=False)
    return float(frechet_details(other.mean(), other.cov(), ref.mean(), ref.cov()).distance)


DEFAULT_EVALS = [10, 20, 40, 60]


def _evals(probe: dict) -> list[float]:
    """A queue line's evaluation points (kimg)."""
    return [float(k) for k in probe.get("evals", DEFAULT_EVALS)]


def _pending(curves: Path, probe: dict) -> list[float]:
    """The probe's evaluation points (kimg) that have no row in ``curves`` yet."""
    with curves.open() as fh:
        seen = {float(r["kimg"]) for r in csv.DictReader(fh) if r["probe"] == probe["name"]}
    return [k for k in _evals(probe) if k not in seen]


def main() -> None:
    """Run the queue (see the module docstring)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True, type=Path)
    ap.add_argument("--queue", required=True, type=Path)
    ap.add_argument("--num-gen", type=int, default=2500)
    ap.add_argument("--num-real", type=int, default=10_000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from disentangle_metrics.metrics.image import count_tag
    from reference_models.train import Trainer
    from reference_models.train.metric_log import MetricLog
    from reference_models.train.report import run_metrics

    metric = f"fid{count_tag(args.num_gen)}@testbed"

    curves = args.root / "curves.csv"
    new = not curves.is_file()
    with curves.open("a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["probe", "kimg", "fid", "wall_s", "img_per_s", "spec", "fid_raw_G"])
            w.writerow(["floor", 0, f"{floor(args.num_gen, args.num_real):.3f}", 0, 0, "{}"])
            fh.flush()

    # (name, evaluation points) run in this process: a line that gains points while the driver runs
    # is taken up again, and a point that never lands in curves.csv cannot loop forever
    done: set[tuple[str, tuple[float, ...]]] = set()
    while True:
        todo = [json.loads(l) for l in args.queue.read_text().splitlines() if l.strip() and not l.startswith("#")]
        # A finished probe whose queue line gained later evaluations resumes from its checkpoint.
        todo = [p for p in todo if (p["name"], tuple(_evals(p))) not in done
                and not ((args.root / p["name"] / "DONE").is_file() and _pending(curves, p) == [])]
        if not todo:
            break
        spec = dict(todo[0])
        name = spec.pop("name")
        evals = _evals(spec)
        spec.pop("evals", None)
        pending = _pending(curves, {"name": name, "evals": evals})   # recorded before a restart: not redone
        t0 = time.time()
        for i, k in enumerate(evals):
            if k not in pending:
                continue
            cfg = mini_config(name, args.root, spec, k)
            resume = (args.root / name / "latest.pt").is_file()
            ts = time.time()
            tr = Trainer(cfg, resume=resume, progress=False)
            prog = tr.train()
            dt = time.time() - ts
            nimg_chunk = k - (evals[i - 1] if i else 0)
            # the trainer's metric path (dm.score; metric-<name>.jsonl and its curve in the probe's folder)
            kw = dict(seed=123, device="cpu", num_samples=None, extractor="testbed", reference="testbed",
                      num_real=args.num_real, batch_size=64)
            run_dir = args.root / name
            ema = run_metrics(tr.G_ema, [metric], run_dir, k, log=MetricLog(run_dir), **kw)[metric]
            (run_dir / "raw_G").mkdir(exist_ok=True)   # the trained G: how much the EMA lags or helps
            raw = run_metrics(copy.deepcopy(tr.G).eval(), [metric], run_dir / "raw_G", k, **kw)[metric]
            with curves.open("a", newline="") as fh:
                csv.writer(fh).writerow([name, k, f"{ema:.3f}", f"{time.time() - t0:.0f}",
                                         f"{nimg_chunk * 1000 / dt:.0f}", json.dumps(spec, sort_keys=True),
                                         f"{raw:.3f}"])
            print(f"{name} {k} kimg fid {ema:.2f} (G {raw:.2f}; {prog['skipped_steps']} skipped)", flush=True)
        (args.root / name / "DONE").write_text("ok\n")
        done.add((name, tuple(evals)))


if __name__ == "__main__":
    main()
