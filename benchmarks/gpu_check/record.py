"""A step's result file, rewritten atomically after every measurement, so a step killed by its
time budget still leaves what it had measured."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional


def jsonable(x: Any) -> Any:
    """``x`` with numpy/torch scalars and arrays turned into JSON values (non-finite floats -> None)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):     # numpy and torch arrays and scalars
        return jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename (never half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(jsonable(data), indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


class Recorder:
    """Accumulates a step's results in a dict and rewrites its JSON file on every :meth:`put`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = {}

    def put(self, **values: Any) -> None:
        """Add ``values`` to the result and rewrite the file."""
        self.data.update(values)
        write_json(self.path, self.data)


def timed(fn: Callable[[], Any], device: Any) -> tuple[Any, float]:
    """(fn(), seconds) with the device's queue drained before and after (``device``: a torch.device or None)."""
    import torch
    sync = torch.cuda.synchronize if device is not None and device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - t0


def count_for(rate: float, target_s: float, unit: int, lo: int, hi: int) -> int:
    """How many items (a multiple of ``unit``, within [lo, hi]) take about ``target_s`` at ``rate`` items/s."""
    if not rate > 0:
        return lo
    n = int(rate * target_s) // unit * unit
    return max(lo, min(hi, n))


def run_bounded(cmd: list[str], timeout_s: float, *, cwd: Path, env: dict[str, str], log: Path) -> tuple[Optional[int], float]:
    """Run ``cmd`` with stdout and stderr into ``log``; kill its whole process group after ``timeout_s``.

    Returns (exit code, or None when it was killed for its time; seconds). The process gets a session
    of its own so that everything it started (torchrun's workers, pytest's children) dies with it.
    """
    import signal
    import subprocess
    t0 = time.perf_counter()
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            rc: Optional[int] = proc.wait(timeout=max(timeout_s, 0.1))
        except subprocess.TimeoutExpired:
            rc = None
            for sig, wait_s in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 10.0)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
    return rc, time.perf_counter() - t0


def tail(path: Path, chars: int = 2000) -> str:
    """The last ``chars`` characters of a text file ('' when it does not exist)."""
    try:
        return path.read_bytes()[-chars:].decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def env_with_repo(repo: Path) -> dict[str, str]:
    """os.environ with the repository root first on PYTHONPATH (the GPU machine has no installed project).

    First, because the wheels' folder there holds torch-fidelity, whose wheel ships a top-level
    ``tests`` package that would otherwise shadow the repository's.
    """
    env = dict(os.environ)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != repo.resolve()]
    env["PYTHONPATH"] = os.pathsep.join([str(repo), *parts])
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("DMETRICS_OFFLINE", "1")
    return env


PYTHON = sys.executable
