"""The GPU check's runner: every step in a process of its own, each killed at its time budget, the
JSON and Markdown rewritten after every step (so they exist whatever happens), the Markdown printed.

    python -m benchmarks.gpu_check --out DIR            # on a CUDA machine, under 9 minutes
    python -m benchmarks.gpu_check --out DIR --smoke    # the same steps, tiny, on the CPU
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from .plan import STEPS, budgets_for, process_groups
from .record import env_with_repo, run_bounded, tail, write_json
from .report import extrapolate, render_markdown
from .wheels import INSTALL_THERE, WHEELS

REPO = Path(__file__).resolve().parents[2]
JSON_NAME, MD_NAME, LOG_NAME = "gpu_check.json", "gpu_check.md", "gpu_check.log"
RESERVE_S = 5.0       # kept back from the total for writing the report
MIN_STEP_S = 10.0     # no step is started with less than this left of the total

EPILOG = f"""\
Steps: {', '.join(STEPS)}. Output in DIR: {JSON_NAME}, {MD_NAME} and {LOG_NAME} (every step's log).

Preparing the GPU machine (it has no package registry; it has Python 3.12, torch 2.11, torchvision
0.26, numpy, scipy, scikit-learn, pandas, click, tqdm, pillow, pytest, matplotlib):
  1. here, in the repository root:  make gpu-wheels
     (= python3 -m benchmarks.gpu_check.wheels: pip download --no-deps --only-binary=:all:
      --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 ... -d .whl {' '.join(WHEELS)})
  2. copy the repository there as a working tree, with .whl/ (git-ignored: name it when copying);
  3. there, in the repository root:
       {INSTALL_THERE}
       python3 -m benchmarks.gpu_check --out OUT --commit <sha of the copied commit>
     (or: make gpu-check GPU_OUT=OUT). No pip install -e is needed: PYTHONPATH=. is enough.
Pretrained weights are not needed: every network has random weights of the real architecture.
"""


def _versions() -> dict[str, Optional[str]]:
    out: dict[str, Optional[str]] = {"python": platform.python_version()}
    from importlib.metadata import PackageNotFoundError, version
    dists = {"sklearn": "scikit-learn", "PIL": "pillow"}
    for mod in ("torch", "torchvision", "lpips", "numpy", "scipy", "sklearn", "pandas", "click", "tqdm", "PIL", "pytest"):
        try:
            m = importlib.import_module(mod)
            try:
                out[mod] = version(dists.get(mod, mod))
            except PackageNotFoundError:           # importable but without metadata (e.g. on PYTHONPATH)
                out[mod] = str(getattr(m, "__version__", "importable, version unknown"))
        except Exception as exc:          # reported, not hidden: the steps that need it will fail
            out[mod] = None
            out[f"{mod}_error"] = f"{type(exc).__name__}: {exc}"
    return out


def _hardware() -> dict[str, Any]:
    import torch
    hw: dict[str, Any] = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        hw.update(device=torch.cuda.get_device_name(0), gpu_count=torch.cuda.device_count(),
                  gpu_memory_gib=round(p.total_memory / 2 ** 30, 1), capability=f"{p.major}.{p.minor}")
        try:
            smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                                  "--format=csv,noheader"], capture_output=True, text=True, timeout=15)
            hw["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            hw["nvidia_smi"] = f"unavailable: {exc}"
    else:
        hw["device"] = f"cpu ({platform.processor() or platform.machine()})"
    return hw


def _commit(given: Optional[str]) -> str:
    if given:
        return given
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10)
        if sha.returncode == 0:
            return sha.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "unknown (no git here: pass --commit)"


def _status(name: str, rc: Optional[int], budget: float, result: dict[str, Any]) -> str:
    """A step's status from its result file and its process's exit (None: killed at ``budget``)."""
    if not result.get("done"):
        if rc is None:
            return f"timeout: killed at the {budget:.0f} s budget" + ("" if result else " before it started")
        return f"failed: its process ended (exit code {rc}) before the step finished"
    if result.get("error"):
        return "failed: error"
    if not result.get("ok"):
        return "failed: a check did not hold"
    counts = result.get("counts", {})
    if name == "gpu_tests" and counts and set(counts) == {"skipped: no CUDA"}:
        return "skipped: no CUDA"
    return "ok"


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    """The runner's command line."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for the JSON, Markdown and log")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU (the default suite runs this)")
    ap.add_argument("--device", default=None, help="default: cuda, or cpu with --smoke")
    ap.add_argument("--steps", default=",".join(STEPS), help="comma-separated subset, in this order (default: all)")
    ap.add_argument("--total-budget", type=float, default=None, help="seconds for the whole check (default: the mode's)")
    ap.add_argument("--step-budget", action="append", default=[], metavar="STEP=SECONDS",
                    help="override one step's budget (repeatable)")
    ap.add_argument("--commit", default=None, help="commit recorded in the report (default: git rev-parse HEAD)")
    return ap.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    """Run the check; returns 0 when every step passed (or skipped for want of CUDA), 1 otherwise."""
    t0 = time.perf_counter()            # the budget counts the runner's own start-up too
    a = parse_args(argv)
    mode = "smoke" if a.smoke else "paper"
    device = a.device or ("cpu" if a.smoke else "cuda")
    steps = [s.strip() for s in a.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        print(f"unknown step(s) {unknown}; choose from {', '.join(STEPS)}", file=sys.stderr)
        return 2
    budgets, total = budgets_for(mode)
    total = a.total_budget if a.total_budget is not None else total
    for item in a.step_budget:
        name, _, secs = item.partition("=")
        if name not in budgets or not secs:
            print(f"--step-budget {item!r}: use STEP=SECONDS with STEP one of {', '.join(STEPS)}", file=sys.stderr)
            return 2
        budgets[name] = float(secs)
    import torch
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device on this machine: run with --smoke for the CPU pipeline check", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = dict(
        kind="gpu-check", mode=mode, device=device, random_weights=True,
        note="every network has random weights of the real architecture: speeds are real, metric values meaningless",
        started_utc=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        budget_s=total, commit=_commit(a.commit), hardware=_hardware(), software=_versions(),
        steps_run=steps, steps={}, extrapolation=[])
    report["software"]["cuda"], report["software"]["cudnn"] = torch.version.cuda, str(torch.backends.cudnn.version())
    env = env_with_repo(REPO)
    log_all = a.out / LOG_NAME
    log_all.write_text("")
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as work:
        for group in process_groups(mode, steps):
            _run_group(group, budgets, total - RESERVE_S, t0, mode, device, Path(work), env, report, a.out)
    md = _write(a.out, report, t0)
    print(md)
    good = all(report["steps"].get(n, {}).get("status") in ("ok", "skipped: no CUDA") for n in steps)
    return 0 if good else 1


def _run_group(group: list[str], budgets: dict[str, float], total: float, t0: float, mode: str, device: str,
               work: Path, env: dict[str, str], report: dict[str, Any], out: Path) -> None:
    """Run the steps of ``group`` in one process, killed at the sum of their budgets (capped by what is left)."""
    left = total - (time.perf_counter() - t0)
    budget = min(sum(budgets[n] for n in group), left)
    if left < MIN_STEP_S:
        for name in group:
            report["steps"][name] = dict(status="not run: the total budget is spent", budget_s=budgets[name])
        _write(out, report, t0)
        return
    scale = budget / sum(budgets[n] for n in group)           # < 1 only when the total ran short
    module = "benchmarks.gpu_check." + ("gpu_tests" if group == ["gpu_tests"] else "steps")
    cmd = [sys.executable, "-m", module, *group, "--mode", mode, "--device", device, "--out-dir", str(work)]
    cmd += [f"--budget={n}={budgets[n] * scale:.1f}" for n in group]
    log = work / f"{group[0]}.log"
    rc, secs = run_bounded(cmd, budget, cwd=REPO, env=env, log=log)
    for name in group:
        path = work / f"{name}.json"
        result = json.loads(path.read_text()) if path.is_file() else {}
        status = _status(name, rc, budget, result)
        report["steps"][name] = dict(status=status, wall_s=result.get("wall_s"), budget_s=round(budgets[name] * scale, 1),
                                     process=dict(steps=group, exit_code=rc, wall_s=round(secs, 2)), result=result,
                                     log_tail="" if status in ("ok", "skipped: no CUDA") else tail(log, 2500))
        print(f"[gpu-check] {name}: {status} ({result.get('wall_s') or 0:.1f} s)", file=sys.stderr, flush=True)
    with open(out / LOG_NAME, "a", encoding="utf-8") as fh:
        fh.write(f"===== {', '.join(group)} (exit {rc}, {secs:.1f} s)\n{log.read_text(errors='replace') if log.is_file() else ''}\n")
    _write(out, report, t0)


def _write(out: Path, report: dict[str, Any], t0: float) -> str:
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    report["extrapolation"] = extrapolate(report["steps"])
    write_json(out / JSON_NAME, report)
    md = render_markdown(report)
    (out / MD_NAME).write_text(md)
    return md
