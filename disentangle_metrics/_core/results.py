"""Metric results: one dataclass, one JSON line each, appended with one locked O_APPEND write."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np


def _library_version() -> str:
    from .version import __version__
    return __version__


def _torch_version() -> str:
    import torch
    return torch.__version__


class RecordedWarning(RuntimeWarning):
    """A finding the result also records in its ``extras`` (a rank-deficient covariance, a resized
    reference, sets of two sizes): the CLI prints it from the result, so it silences this category."""


@dataclass
class MetricResult:
    """The outcome of one metric run.

    ``values`` holds every number the metric reports (e.g. ``{'ppl_wend': 195.9}`` or
    ``{'ls_z': 165.0, 'ls_w': 3.74}``); ``value`` is the headline number. ``samples`` holds optional
    per-sample arrays (PPL distances, per-attribute entropies); they are not put into the JSON line
    but written beside it by :func:`append_result` when ``samples_dir`` is given.
    """

    metric: str
    value: Optional[float]
    values: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    seed: Optional[int] = None
    num_samples: Optional[int] = None
    wall_time_s: Optional[float] = None
    device: Optional[str] = None
    weights: dict[str, str] = field(default_factory=dict)       # weights name -> sha256
    extras: dict[str, Any] = field(default_factory=dict)        # small JSON-able details (per-attribute tables)
    samples: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    library_version: str = field(default_factory=_library_version)
    torch_version: str = field(default_factory=_torch_version)
    python_version: str = field(default_factory=platform.python_version)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    samples_file: Optional[str] = None
    # Uncertainty of ``value`` (disentangle_metrics.functional.intervals): standard error, 95% interval and the
    # estimator; ``intervals`` holds the same per entry of ``values`` (name -> Interval.as_dict()).
    stderr: Optional[float] = None
    ci95: Optional[list[float]] = None
    ci_method: Optional[str] = None
    intervals: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __str__(self) -> str:
        """One line: the name, the headline value with its 95% interval, the sample count and what ran it."""
        head = format_value(self, None, fmt=".6g") if self.value is not None else "n/a"
        parts = [f"{self.metric} = {head}"]
        others = [f"{k}={v:.6g}" for k, v in self.values.items()
                  if k != self.metric and isinstance(v, (int, float)) and v != self.value]
        if others:
            parts.append("(" + ", ".join(others[:4]) + (", ..." if len(others) > 4 else "") + ")")
        if self.num_samples is not None:
            parts.append(f"n={self.num_samples:,}")
        if self.device:
            parts.append(f"on {self.device}")
        if self.wall_time_s is not None:
            parts.append(f"in {self.wall_time_s:.1f} s")
        return " ".join(parts)

    def add_interval(self, name: str, interval: Any) -> "MetricResult":
        """Record ``interval`` (an :class:`~disentangle_metrics.functional.intervals.Interval`) for ``values[name]``;
        when ``name`` is the headline metric it also fills ``stderr`` / ``ci95`` / ``ci_method``."""
        self.intervals[name] = interval.as_dict()
        if name == self.metric:
            self.stderr, self.ci95, self.ci_method = interval.stderr, [interval.low, interval.high], interval.method
        return self

    def to_dict(self) -> dict[str, Any]:
        """Everything but the per-sample arrays, JSON-able."""
        d = asdict(self)
        d.pop("samples")
        d["sample_arrays"] = {k: list(np.shape(v)) for k, v in self.samples.items()}
        return _jsonable(d)

    def to_json(self) -> str:
        """One line of JSON (no newline)."""
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MetricResult":
        d = dict(d)
        d.pop("sample_arrays", None)
        return cls(**d)


def format_value(result: MetricResult, name: Optional[str] = None, fmt: str = ".4g") -> str:
    """``value +- half-width [low, high]`` of ``values[name]`` (default: the headline value), or the
    bare value when the result has no interval for it; '-' for a missing or non-finite value."""
    name = name or result.metric
    v = result.values.get(name, result.value if name == result.metric else None)
    if v is None or not math.isfinite(float(v)):
        return "-"
    iv = result.intervals.get(name)
    if iv is None and name == result.metric and result.ci95 is not None:
        iv = {"low": result.ci95[0], "high": result.ci95[1]}
    if not iv or not all(math.isfinite(float(iv[k])) for k in ("low", "high")):
        return format(float(v), fmt)
    lo, hi = float(iv["low"]), float(iv["high"])
    return f"{float(v):{fmt}} +- {(hi - lo) / 2:.2g} [{lo:{fmt}}, {hi:{fmt}}]"


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)  # "nan"/"inf" as strings keep the line valid strict JSON
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: os.PathLike | str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; give the file the mode an ordinary open() would have
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def append_result(path: os.PathLike | str, result: MetricResult, samples_dir: Optional[os.PathLike | str] = None) -> None:
    """Append ``result`` as one JSON line to ``path``; safe with any number of concurrent writers.

    The line goes out in one ``write(2)`` on a descriptor opened with ``O_APPEND`` while holding an
    exclusive ``fcntl.flock`` on the file: on one machine's local filesystem concurrent appends
    never interleave or overwrite each other, and earlier lines are never rewritten. ``kill -9`` can
    still cut the line being written short (Linux checks for a fatal signal between the pages of one
    large ``write``), and the lock dies with the writer, so such a fragment is only ever the file's
    unterminated tail: the next append, holding the lock, moves it to ``<path>.torn`` and truncates
    it away, so every newline-terminated line in the file is a whole result. A valid last line
    without its newline (a file edited by hand) is kept and terminated instead. On NFS, ``flock``
    is emulated with POSIX locks (Linux >= 2.6.12, needs a working lock manager) and ``O_APPEND``
    is not atomic across clients: write each machine's results to its own file there. Per-sample arrays go to
    ``samples_dir/<metric>-<created>.npz`` (written atomically) when ``samples_dir`` is given.
    """
    path = Path(path)
    if samples_dir is not None and result.samples:
        stamp = result.created.replace(":", "").replace("+", "Z")
        safe = re.sub(r"[^A-Za-z0-9_.@+-]", "_", result.metric)   # metric names may carry "module:name"
        npz = Path(samples_dir) / f"{safe}-{stamp}-{os.getpid()}.npz"   # pid: parallel runs never collide
        import io
        buf = io.BytesIO()
        np.savez(buf, **result.samples)
        atomic_write_bytes(npz, buf.getvalue())
        result.samples_file = str(npz)
    line = result.to_json().encode() + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)   # read: the last byte
    try:
        _lock(fd)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = _repair_tail(fd, path, size) + line
        written = os.write(fd, line)
        if written != len(line):   # a short write (disk full): say so rather than leave a silent fragment
            raise OSError(f"{path}: only {written} of {len(line)} bytes of the result line were written (disk full?)")
        os.fsync(fd)
    finally:
        os.close(fd)   # closing releases the lock


def _tail_start(fd: int, size: int) -> int:
    """Offset just past the last newline of the file (0 when it has none)."""
    end = size
    while end > 0:
        start = max(0, end - 65536)
        i = os.pread(fd, end - start, start).rfind(b"\n")
        if i >= 0:
            return start + i + 1
        end = start
    return 0


def _repair_tail(fd: int, path: Path, size: int) -> bytes:
    """Deal with an unterminated last line before appending; returns the bytes to put before the new line.

    Called with the lock held, so no writer is in the middle of that tail: it is either a whole line
    whose newline was lost (kept, b"\n" returned) or a write cut short by ``kill -9`` (moved to
    ``<path>.torn`` so nothing is silently lost, then truncated away).
    """
    import warnings
    start = _tail_start(fd, size)
    tail = os.pread(fd, size - start, start)
    try:
        if isinstance(json.loads(tail), dict):
            return b"\n"
    except ValueError:
        pass
    torn = Path(str(path) + ".torn")
    tfd = os.open(torn, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(tfd, tail + b"\n")
        os.fsync(tfd)
    finally:
        os.close(tfd)
    os.ftruncate(fd, start)
    warnings.warn(f"{path}: its last line was a write cut short ({len(tail)} bytes, a writer killed "
                  f"mid-write?); moved it to {torn}", RuntimeWarning, stacklevel=3)
    return b""


def _lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:   # Windows: no flock; O_APPEND alone still keeps single writes whole
        return
    fcntl.flock(fd, fcntl.LOCK_EX)


def read_results(path: os.PathLike | str, *, strict: bool = False) -> list[MetricResult]:
    """All results in a results file, in order.

    A newline-terminated line that is not valid JSON (a corrupted or hand-edited file) is skipped
    with a warning naming the file and line number; ``strict=True`` raises instead. An unterminated,
    unparseable last line is a write still in progress, or one cut short by ``kill -9`` (which the
    next :func:`append_result` moves to ``<path>.torn``): it is not a result yet, so it is skipped
    with a warning in both modes.
    """
    import warnings
    out = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as exc:
                if not line.endswith("\n"):
                    warnings.warn(f"{path}, line {lineno}: skipped an incomplete last line (a write in "
                                  "progress, or cut short by kill -9; the next append moves it to "
                                  f"{Path(path).name}.torn)", RuntimeWarning, stacklevel=2)
                    continue
                if strict:
                    raise ValueError(f"{path}, line {lineno}: not a JSON result line ({exc})") from None
                warnings.warn(f"{path}, line {lineno}: skipped a broken result line (a write cut short?)",
                              RuntimeWarning, stacklevel=2)
                continue
            out.append(MetricResult.from_dict(d))
    return out


def results_dataframe(results: "os.PathLike | str | Iterable[MetricResult]") -> Any:
    """A pandas DataFrame with one row per value of each result (a results file or MetricResults).

    Columns: ``metric`` (the run's name), ``name`` (the value's name), ``value``, ``stderr``,
    ``ci95_low``, ``ci95_high``, ``num_samples``, ``seed``, ``device``, ``created``, ``library_version``.
    """
    import pandas as pd
    items = read_results(results) if isinstance(results, (str, os.PathLike)) else list(results)
    rows = []
    for r in items:
        values = r.values or {r.metric: r.value}
        for name, value in values.items():
            iv = r.intervals.get(name) or (dict(stderr=r.stderr, low=(r.ci95 or [None, None])[0],
                                                high=(r.ci95 or [None, None])[1]) if name == r.metric else {})
            rows.append(dict(metric=r.metric, name=name, value=value, stderr=iv.get("stderr"),
                             ci95_low=iv.get("low"), ci95_high=iv.get("high"), num_samples=r.num_samples,
                             seed=r.seed, device=r.device, created=r.created, library_version=r.library_version))
    return pd.DataFrame(rows, columns=["metric", "name", "value", "stderr", "ci95_low", "ci95_high", "num_samples",
                                       "seed", "device", "created", "library_version"])

