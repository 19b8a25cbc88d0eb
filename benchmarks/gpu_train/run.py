"""The runner of ``benchmarks.gpu_train`` (package docstring): probe, size, schedule, pack."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[2]
MINI_PRESETS = ("b-traditional", "d-style", "e-noise", "mixing50", "f-mixing90",
                "traditional-map8", "style-map0", "style-map1", "style-map2")
MiB = 1 << 20


@dataclass
class Mode:
    """Sizes of one mode (``gpu`` or ``smoke``)."""

    device: str
    budget_s: float          # the whole command, start-up included
    procs: int               # trainings at once (the demo holds one slot)
    probe_kimg: float
    min_kimg: float          # below this a mini run is not worth its slot: fewer seeds instead
    max_kimg: float
    demo_max_kimg: float
    kimg_step: float         # kimg are rounded down to a multiple of this
    presets: tuple[str, ...]
    seeds: tuple[int, ...]
    threads: Optional[int]
    stop_margin_s: float     # Ctrl-C to workers this long before the deadline
    bf16_probe: bool


MODES = {
    "gpu": Mode(device="cuda", budget_s=540.0, procs=10, probe_kimg=4.0, min_kimg=20.0, max_kimg=2000.0,
                demo_max_kimg=20000.0, kimg_step=1.0, presets=MINI_PRESETS, seeds=(0, 1, 2), threads=1,
                stop_margin_s=45.0, bf16_probe=True),
    "smoke": Mode(device="cpu", budget_s=300.0, procs=3, probe_kimg=0.128, min_kimg=0.128, max_kimg=0.256,
                  demo_max_kimg=0.256, kimg_step=0.128, presets=("f-mixing90", "b-traditional", "e-noise"),
                  seeds=(0,), threads=1, stop_margin_s=8.0, bf16_probe=False),
}


@dataclass
class Job:
    name: str
    kind: str                # 'demo' or 'mini'
    preset: str
    seed: int
    folder: Path             # the preset folder (tables layout); training in folder/train
    precision: str = "float32"
    kimg: float = 0.0
    proc: Optional[subprocess.Popen] = None
    log: Any = None
    history: list[dict[str, Any]] = field(default_factory=list)

    probe_kimg: float = 0.0  # > 0: the probe wave's job (trains this far, then waits for its plan file)

    def spec(self, mode: Mode, smoke: bool) -> dict[str, Any]:
        return dict(name=self.name, kind=self.kind, preset=self.preset, seed=self.seed, kimg=self.kimg,
                    out=str(self.folder / "train"), device=mode.device, precision=self.precision, smoke=smoke,
                    threads=mode.threads, probe_kimg=self.probe_kimg, plan_file=str(self.plan_file))

    @property
    def plan_file(self) -> Path:
        return self.folder / "plan.json"

    def probe_result(self) -> Optional[dict[str, Any]]:
        path = self.folder / "train" / "probe.json"
        return json.loads(path.read_text()) if path.is_file() else None


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu_train", description=__doc__)
    ap.add_argument("--out", type=Path, default=Path(os.environ["OUT"]) if os.environ.get("OUT") else Path("out/gpu-train"),
                    help="where the packs and gpu_train.json go (default $OUT, else out/gpu-train)")
    ap.add_argument("--work", type=Path, default=None, help="run folders (default: /tmp/gpu-train-work, or OUT/work in --smoke)")
    ap.add_argument("--smoke", action="store_true", help="the CPU pipeline check at the smoke scale (well under a minute)")
    ap.add_argument("--budget-s", type=float, default=None, help="wall time of the whole command")
    ap.add_argument("--procs", type=int, default=None, help="trainings at once, the demo's included")
    ap.add_argument("--max-bytes", type=int, default=16 * MiB, help="largest pack file")
    ap.add_argument("--max-packs", type=int, default=6, help="most pack files (the machine returns 8 files)")
    ap.add_argument("--no-demo", action="store_true", help="train the mini presets only")
    return ap.parse_args(argv)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _start(job: Job, mode: Mode, smoke: bool, work: Path) -> None:
    spec_path = work / "specs" / f"{job.name}-{len(job.history)}.json"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(json.dumps(job.spec(mode, smoke)))
    job.folder.mkdir(parents=True, exist_ok=True)
    job.log = open(work / "logs" / f"{job.name}.log", "a")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
           "PYTHONUNBUFFERED": "1"}
    job.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.gpu_train.worker", str(spec_path)], cwd=ROOT,
                                env=env, stdout=job.log, stderr=subprocess.STDOUT)
    job.history.append(dict(kimg=job.kimg, started_s=time.perf_counter()))


def _finish(job: Job) -> int:
    rc = job.proc.wait()
    job.log.close()
    job.history[-1].update(rc=rc, ended_s=time.perf_counter())
    job.proc = None
    return rc


def _rate(job: Job) -> float:
    """img/s of the job's last logged tick (after the start-up and the first tick's warm-up)."""
    import csv
    with open(job.folder / "train" / "log.csv") as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["img_per_s"])


def _nimg(job: Job) -> int:
    import torch
    path = job.folder / "train" / "latest.pt"
    return int(torch.load(path, map_location="cpu", weights_only=True)["progress"]["nimg"]) if path.is_file() else 0


def _floor(x: float, step: float) -> float:
    return math.floor(x / step + 1e-9) * step


def size_plan(mode: Mode, left_s: float, rate_mini: float, overhead_s: float, n_jobs: int, slots: int,
              probed_kimg: float) -> tuple[int, float]:
    """(mini jobs to run, kimg each): the most seeds whose waves fit ``left_s`` at ``min_kimg`` or more.

    ``slots`` trainings run at once at ``rate_mini`` img/s each; every fresh start costs ``overhead_s``;
    the first wave has ``probed_kimg`` done already. Jobs come in whole seeds (all presets of a seed).
    """
    per_seed = len(mode.presets)
    for n in range(n_jobs, 0, -per_seed):
        waves = math.ceil(n / slots)
        # first wave: resume (one start) and train kimg - probed; later waves: start + kimg each
        kimg = (rate_mini * (left_s - waves * overhead_s) / 1000 + probed_kimg) / waves
        kimg = min(_floor(kimg, mode.kimg_step), mode.max_kimg)
        if kimg >= mode.min_kimg:
            return n, kimg
    return 0, 0.0


def _render_testbed(jobs: list[Job], mode: Mode, smoke: bool, shared: Path) -> None:
    """Render each distinct test bed once and link it into every run folder (the trainer's cache name)."""
    from reference_models.train.data import testbed_array

    from .worker import job_config
    for job in jobs:
        cfg = job_config({**job.spec(mode, smoke), "kimg": mode.probe_kimg})   # the run length does not matter here
        name = f"reals-testbed-{cfg.resolution}px-seed{cfg.testbed_seed}-n{cfg.testbed_num}.npy"
        src = shared / name
        if not src.is_file():
            testbed_array(cfg, shared)
        dst = Path(cfg.out) / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            os.link(src, dst)


def pack(jobs: list[Job], out: Path, max_bytes: int, max_packs: int) -> tuple[list[str], list[str]]:
    """Write G_ema (network record), log.csv, config.json and trained.json of each job into tar files of at
    most ``max_bytes``, in job order. Returns (pack names, files left out for want of room)."""
    import io

    import torch

    from reference_models.checkpoint import network_record  # noqa: F401  (documents the format)

    def members(job: Job) -> list[tuple[str, bytes]]:
        train = job.folder / "train"
        rel = f"{job.folder.parent.name}/{job.folder.name}" if job.kind == "mini" else "demo"
        items = []
        latest = train / "latest.pt"
        if latest.is_file():
            state = torch.load(latest, map_location="cpu", weights_only=True)
            buf = io.BytesIO()
            torch.save(state["G_ema"], buf)   # a network record: reference_models.load_checkpoint reads it
            items.append((f"{rel}/train/latest.pt", buf.getvalue()))
        for name in ("log.csv", "config.json"):
            if (train / name).is_file():
                items.append((f"{rel}/train/{name}", (train / name).read_bytes()))
        if (job.folder / "trained.json").is_file():
            items.append((f"{rel}/trained.json", (job.folder / "trained.json").read_bytes()))
        return items

    def tar_size(sizes: list[int]) -> int:
        body = sum(512 + -(-s // 512) * 512 for s in sizes) + 1024
        return -(-body // tarfile.RECORDSIZE) * tarfile.RECORDSIZE

    groups: list[list[tuple[str, bytes]]] = [[]]
    left_out: list[str] = []
    for job in jobs:
        items = members(job)
        if not items:
            continue
        if tar_size([len(b) for _, b in groups[-1] + items]) > max_bytes:
            if tar_size([len(b) for _, b in items]) > max_bytes or len(groups) >= max_packs:
                left_out += [n for n, _ in items]
                continue
            groups.append([])
        groups[-1] += items
    names = []
    for i, group in enumerate(g for g in groups if g):
        name = f"gpu_train_pack-{i}.tar"
        with tarfile.open(out / name, "w", format=tarfile.USTAR_FORMAT) as tf:
            for member, data in group:
                info = tarfile.TarInfo(member)
                info.size, info.mtime = len(data), int(time.time())
                tf.addfile(info, io.BytesIO(data))
        if (out / name).stat().st_size > max_bytes:
            raise RuntimeError(f"{out / name}: {(out / name).stat().st_size} bytes, over --max-bytes {max_bytes}")
        names.append(name)
    return names, left_out


def main(argv: Optional[list[str]] = None) -> int:
    """Probe, size, train and pack (package docstring); returns 0 when every started job ended cleanly."""
    t0 = time.perf_counter()
    a = parse_args(argv)
    mode = MODES["smoke" if a.smoke else "gpu"]
    if a.budget_s is not None:
        mode.budget_s = a.budget_s
    if a.procs is not None:
        mode.procs = a.procs
    deadline = t0 + mode.budget_s
    import torch
    if mode.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device on this machine: run with --smoke for the CPU pipeline check", file=sys.stderr)
        return 2
    out = a.out
    work = a.work or (out / "work" if a.smoke else Path("/tmp/gpu-train-work"))
    for d in (out, work / "logs", work / "shared"):
        d.mkdir(parents=True, exist_ok=True)
    say = lambda msg: print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", flush=True)  # noqa: E731
    report: dict[str, Any] = dict(kind="gpu-train", mode="smoke" if a.smoke else "gpu", device=mode.device,
                                  started_utc=_now(), budget_s=mode.budget_s, procs=mode.procs, precision="float32",
                                  gpu=torch.cuda.get_device_name(0) if mode.device == "cuda" else None,
                                  torch=torch.__version__)

    tables = work / "tables"
    minis = [Job(f"seed{s}-{p}", "mini", p, s, tables / f"seed{s}" / p) for s in mode.seeds for p in mode.presets]
    demo = None if a.no_demo else Job("demo", "demo", "f-mixing90", 0, work / "demo")
    slots = mode.procs - (demo is not None)
    if slots < 1:
        print("--procs must leave at least one slot besides the demo", file=sys.stderr)
        return 2
    probe = ([demo] if demo else []) + minis[:slots]
    bf16 = Job("bf16-probe", "mini", minis[0].preset, minis[0].seed, work / "bf16-probe", precision="bf16") \
        if mode.bf16_probe else None
    _render_testbed(probe + minis + ([bf16] if bf16 else []), mode, a.smoke, work / "shared")
    say(f"rendered the test bed; probe wave: {len(probe)} trainings at once, {mode.probe_kimg:g} kimg each"
        + (", plus one in bf16" if bf16 else ""))

    # 1. the probe wave: the throughput of each kind while sharing the device as the real waves will; these
    #    processes then go on with the sized kimg (no second start-up)
    wave = probe + ([bf16] if bf16 else [])
    for job in wave:
        job.kimg = job.probe_kimg = mode.probe_kimg
        _start(job, mode, a.smoke, work)
    t_probe = time.perf_counter()
    while not all(j.probe_result() for j in wave):
        dead = [j for j in wave if j.proc.poll() is not None and not j.probe_result()]
        if dead or time.perf_counter() > deadline - mode.stop_margin_s:
            for job in wave:
                if job.proc.poll() is None:
                    job.proc.kill()
                _finish(job)
            what = ", ".join(j.name for j in dead) or "the probe wave (out of time)"
            say(f"the probe failed: {what} (logs in {work / 'logs'})")
            report.update(error=f"probe failed: {what}")
            _write_report(out, report)
            return 1
        time.sleep(0.1)
    probe_wall = time.perf_counter() - t_probe
    rates = {j.name: j.probe_result()["img_per_s"] for j in wave}
    rate_mini = min(rates[j.name] for j in probe if j.kind == "mini")
    rate_demo = rates[demo.name] if demo else None
    overhead = max(0.0, probe_wall - mode.probe_kimg * 1000 / rate_mini)
    report["probe"] = dict(kimg=mode.probe_kimg, wall_s=probe_wall, img_per_s=rates, img_per_s_mini=rate_mini,
                           img_per_s_demo=rate_demo, start_overhead_s=overhead, trainings_at_once=len(wave))
    if bf16:
        fp32 = rates[minis[0].name]
        report["probe"]["bf16"] = dict(preset=bf16.preset, img_per_s_bf16=rates[bf16.name], img_per_s_float32=fp32,
                                       speedup=rates[bf16.name] / fp32)
    say(f"probe: {rate_mini:.0f} img/s per mini training" + (f", {rate_demo:.0f} for the demo" if demo else "")
        + f", {overhead:.1f} s start-up per process")

    # 2. size: every mini job gets the same kimg (comparable cells), whole seeds only
    left = deadline - time.perf_counter() - mode.stop_margin_s
    n, kimg = size_plan(mode, left, rate_mini, overhead, len(minis), slots, mode.probe_kimg)
    queue = minis[:n]
    for job in queue:
        job.kimg = kimg
    if demo:
        demo.kimg = min(mode.demo_max_kimg, _floor(mode.probe_kimg + rate_demo * left / 1000, mode.kimg_step))
    report["plan"] = dict(mini_jobs=n, mini_kimg=kimg, demo_kimg=demo.kimg if demo else None, seconds_left=left,
                          waves=math.ceil(n / slots) if n else 0)
    say(f"plan: {n} mini trainings of {kimg:g} kimg in {report['plan']['waves']} waves"
        + (f"; the demo to {demo.kimg:g} kimg" if demo else ""))
    for job in wave:   # the probe processes go on to their planned kimg (0: stop)
        planned = job.kimg if (job is demo or job in queue) else 0.0
        job.plan_file.write_text(json.dumps({"kimg": planned}))

    # 3. run the waves; Ctrl-C whatever still runs at the deadline (the trainer checkpoints)
    running: list[Job] = list(wave)
    pending = [j for j in queue if j not in wave]
    stopped = False
    while running or (pending and not stopped):
        while pending and not stopped and sum(j.kind == "mini" and j is not bf16 for j in running) < slots:
            job = pending.pop(0)
            _start(job, mode, a.smoke, work)
            running.append(job)
        for job in [j for j in running if j.proc.poll() is not None]:
            rc = _finish(job)
            running.remove(job)
            say(f"{job.name}: {'done' if rc == 0 else f'exit {rc}'} at {_nimg(job) / 1000:g} kimg")
        if not stopped and time.perf_counter() > deadline - mode.stop_margin_s:
            stopped = True
            for job in running:
                job.proc.send_signal(signal.SIGINT)
            say(f"deadline: Ctrl-C to {len(running)} running trainings; {len(pending)} never started")
        if stopped and time.perf_counter() > deadline - mode.stop_margin_s / 3:
            for job in running:
                job.proc.kill()
        time.sleep(0.2)

    # 4. pack, and the report
    jobs = ([demo] if demo else []) + queue
    report["jobs"] = [dict(name=j.name, preset=j.preset, seed=j.seed, target_kimg=j.kimg, kimg=_nimg(j) / 1000,
                           finished=(j.folder / "trained.json").is_file(),
                           sessions=[dict(kimg=h["kimg"], rc=h.get("rc"),
                                          wall_s=h.get("ended_s", 0) - h["started_s"]) for h in j.history])
                      for j in jobs]
    names, left_out = pack(jobs, out, a.max_bytes, a.max_packs)
    report.update(packs=names, left_out_of_packs=left_out, wall_s=time.perf_counter() - t0, ended_utc=_now())
    report["UNPACK"] = ("mkdir -p runs/gpu && for f in gpu_train_pack-*.tar; do tar -xf $f -C runs/gpu; done && "
                        f"dmetrics tables --scale mini --kimg {kimg:g} --seeds {len(mode.seeds)} --out runs/gpu "
                        "--threads 1 --device cpu   # scores the packed runs (trained.json marks them trained); "
                        "the demo generator is runs/gpu/demo/train/latest.pt")
    _write_report(out, report)
    say(f"packed {len(jobs)} runs into {', '.join(names) or 'nothing'}"
        + (f"; {len(left_out)} files did not fit" if left_out else ""))
    bad = [j for j in report["jobs"] if not j["finished"]]
    return 0 if not bad and not left_out else 1


def _write_report(out: Path, report: dict[str, Any]) -> None:
    (out / "gpu_train.json").write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
