"""One training of ``benchmarks.gpu_train`` in its own process: ``python -m benchmarks.gpu_train.worker SPEC.json``.

SPEC: {"kind": "mini" | "demo", "preset", "seed", "kimg", "out", "device", "precision", "smoke", "threads"},
and for the probe wave "probe_kimg" and "plan_file": train ``probe_kimg``, write ``out/probe.json`` (the last
tick's img/s), wait for ``plan_file`` ({"kimg": K}) and go on to K in the same process (0: stop).
``mini``: the tables' mini-scale config of (preset, seed) (``reference_models.tables.run.train_config``), the smoke
scale with ``smoke``. ``demo``: the shipped demo generator's training config. Resumes ``out/latest.pt``
when it exists (the run length is not run-defining), and writes ``out/../trained.json`` when it
reached ``kimg``. Exit status 130 after a Ctrl-C (checkpoint written).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "reference_models" / "pretrained" / "mini-f-mixing90" / "training_config.json"
SMOKE_TESTBED_NUM = 64


def job_config(spec: dict[str, Any]) -> Any:
    """The :class:`TrainConfig` of one job."""
    from reference_models.tables.run import RunOptions, train_config
    from reference_models.tables.scale import SCALES
    from reference_models.train import TrainConfig

    out = Path(spec["out"])
    scale = SCALES["smoke" if spec["smoke"] else "mini"]
    if spec["smoke"]:
        scale = dataclasses.replace(scale, testbed_num=SMOKE_TESTBED_NUM)
    if spec["kind"] == "mini":
        cfg = train_config(dataclasses.replace(scale, kimg=float(spec["kimg"])), spec["preset"], out,
                           RunOptions(device=spec["device"], threads=spec["threads"], seed=int(spec["seed"])))
    else:
        d = json.loads(DEMO_CONFIG.read_text())
        d.update(out=str(out), total_kimg=float(spec["kimg"]), device=spec["device"], threads=spec["threads"],
                 keep_snapshots=False, tick_kimg=max(0.032, min(4.0, float(spec["kimg"]) / 10)),
                 ckpt_every_kimg=max(0.032, min(10.0, float(spec["kimg"]) / 4)))
        d.pop("amp", None)
        if spec["smoke"]:   # the demo recipe at the smoke scale's size
            d.update(resolution=scale.resolution, testbed_num=scale.testbed_num, grid_size=2,
                     g_overrides=dict(fmap_base=scale.fmap_base, fmap_max=scale.fmap_max, latent_size=scale.latent_size),
                     d_overrides=dict(fmap_base=scale.fmap_base, fmap_max=scale.fmap_max))
        cfg = TrainConfig.from_dict(d, source=str(DEMO_CONFIG))
    return cfg.replace(precision=spec["precision"])


def _train(cfg: Any, name: str) -> Optional[dict[str, Any]]:
    """Train ``cfg`` (resuming its latest.pt when present); None after a Ctrl-C."""
    from reference_models.train import LATEST, Trainer, TrainingInterrupted

    trainer = Trainer(cfg, resume=(Path(cfg.out) / LATEST).is_file(), progress=False)
    try:
        return trainer.train()
    except TrainingInterrupted as exc:
        print(f"{name}: interrupted at {exc.nimg / 1000:.3f} kimg", flush=True)
        return None


def _wait_for_plan(path: Path, timeout_s: float = 600.0) -> float:
    """The kimg the runner sized for this job after the probe (0: stop here)."""
    end = time.time() + timeout_s
    while not path.is_file():
        if time.time() > end:
            raise TimeoutError(f"{path}: no plan from the runner within {timeout_s:.0f} s")
        time.sleep(0.1)
    return float(json.loads(path.read_text())["kimg"])


def main(argv: list[str]) -> int:
    """Train one job; with ``probe_kimg`` in the spec, first that far, then to the kimg of ``plan_file``."""
    spec = json.loads(Path(argv[0]).read_text())
    out = Path(spec["out"])
    marker_path = out.parent / "trained.json"
    if marker_path.is_file():   # an earlier, shorter session's: this session decides again
        marker_path.unlink()
    t0 = time.perf_counter()
    if spec.get("probe_kimg"):
        # The probe in the same process (no second start-up): the last tick's speed goes to probe.json.
        cfg = job_config({**spec, "kimg": spec["probe_kimg"]})
        if _train(cfg, spec["name"]) is None:
            return 130
        import csv
        with open(out / "log.csv") as f:
            rate = float(list(csv.DictReader(f))[-1]["img_per_s"])
        (out / "probe.json").write_text(json.dumps({"img_per_s": rate, "wall_s": time.perf_counter() - t0}))
        spec["kimg"] = _wait_for_plan(Path(spec["plan_file"]))
        if spec["kimg"] <= spec["probe_kimg"]:
            return 0
    cfg = job_config(spec)
    done = _train(cfg, spec["name"])
    if done is None:
        return 130
    marker = {"preset": cfg.preset, "kimg": done["nimg"] / 1000, "steps": done["step"],
              "wall_s_last_session": time.perf_counter() - t0, "precision": cfg.precision}
    marker_path.write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
