"""Metrics during training, as stylegan2-ada-pytorch's ``--metrics``: G_ema scored at every snapshot.

Each evaluation runs ``dm.score`` on G_ema with every metric asked at once (the image metrics share
one pass; see :mod:`disentangle_metrics.metrics.scoring`) and leaves, per result name
(``fid10k@testbed``...):

- ``metric-<name>.jsonl``: one line per evaluation, ``{"kimg", "metric", "value", "interval", ...}``
  with ``interval`` = ``{"low", "high", "stderr", "method"}`` of the headline value (null when the
  metric gives none). Each write replaces the file atomically (never a half line); on resume the
  lines after the checkpoint's position are dropped, as ``log.csv``'s rows are;
- ``metric-<name>.png``: the learning curve (value against kimg, the 95% interval as a band),
  drawn when matplotlib imports (the ``bench`` extra); without it the run says so once.

The full results also go to ``metrics.jsonl`` (:func:`~.report.run_metrics`).
"""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Optional

from disentangle_metrics._core.results import MetricResult, atomic_write_bytes


def log_path(run_dir: Path, name: str, suffix: str = ".jsonl") -> Path:
    """``run_dir/metric-<name><suffix>`` with the name made file-safe (``@`` and ``+`` kept)."""
    return Path(run_dir) / f"metric-{re.sub(r'[^A-Za-z0-9_.@+-]+', '_', name)}{suffix}"


def result_line(res: MetricResult, kimg: float) -> dict[str, Any]:
    """The jsonl line of one result: kimg, name, value and its interval."""
    iv = res.intervals.get(res.metric) or next(iter(res.intervals.values()), None)
    interval = None if iv is None else {k: iv[k] for k in ("low", "high", "stderr", "method")}
    return {"kimg": round(float(kimg), 3), "metric": res.metric, "value": res.value, "interval": interval,
            "num_samples": res.num_samples, "seed": res.seed}


def read_log(path: Path) -> list[dict[str, Any]]:
    """The lines of a ``metric-*.jsonl`` file ([] when absent)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_line(path: Path, line: dict[str, Any]) -> None:
    """Add ``line`` to ``path`` by an atomic replace of the whole file (a reader never sees half a line)."""
    lines = read_log(path) + [line]
    atomic_write_bytes(path, "".join(json.dumps(x, sort_keys=True) + "\n" for x in lines).encode())


def truncate_logs(run_dir: Path, kimg: float) -> None:
    """Drop the lines after ``kimg`` from every ``metric-*.jsonl`` of ``run_dir`` (resume)."""
    for path in Path(run_dir).glob("metric-*.jsonl"):
        lines = read_log(path)
        kept = [x for x in lines if float(x["kimg"]) <= kimg + 1e-9]
        if len(kept) != len(lines):
            atomic_write_bytes(path, "".join(json.dumps(x, sort_keys=True) + "\n" for x in kept).encode())


def draw_curve(path: Path, lines: list[dict[str, Any]]) -> bool:
    """Write the learning curve of ``lines`` to ``path`` (PNG, atomically); False when matplotlib is absent."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    fig = Figure(figsize=(5, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    k = [x["kimg"] for x in lines]
    v = [math.nan if x["value"] is None else x["value"] for x in lines]
    ax.plot(k, v, "o-", ms=3, label=lines[-1]["metric"])
    if any(x["interval"] for x in lines):
        lo = [x["interval"]["low"] if x["interval"] else math.nan for x in lines]
        hi = [x["interval"]["high"] if x["interval"] else math.nan for x in lines]
        ax.fill_between(k, lo, hi, alpha=0.25, label="95% interval")
    ax.set_xlabel("kimg")
    ax.set_ylabel(lines[-1]["metric"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return True


class MetricLog:
    """Per-metric logs and curves of one run folder (module docstring)."""

    def __init__(self, run_dir: Path, echo: Optional[Callable[[str], None]] = None,
                 resume_kimg: Optional[float] = None) -> None:
        self.run_dir, self.echo = Path(run_dir), echo
        self._said_no_matplotlib = False
        if resume_kimg is not None:
            truncate_logs(self.run_dir, resume_kimg)

    def add(self, results: list[MetricResult], kimg: float) -> None:
        """Append each result's line and redraw its curve."""
        for res in results:
            path = log_path(self.run_dir, res.metric)
            append_line(path, result_line(res, kimg))
            if not draw_curve(log_path(self.run_dir, res.metric, ".png"), read_log(path)) \
                    and not self._said_no_matplotlib:
                self._said_no_matplotlib = True
                if self.echo is not None:
                    self.echo("matplotlib is not installed: the metric logs are written, the learning-curve pngs "
                              "are not (pip install matplotlib, or the project's bench extra)")
