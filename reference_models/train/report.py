"""What a run leaves in its folder besides checkpoints: the CSV log, image grids, metric results.

- ``log.csv``: one row per tick (pandas: ``pd.read_csv(run/'log.csv')``); on resume the rows
  written after the checkpoint's position are dropped, so the log never holds a step twice.
- ``reals.png`` and ``fakes{kimg:06d}.png``: grids of real images and of G_ema's images for fixed
  latents (the same latents all run long, seeded by the run's seed).
- ``metrics.jsonl``: results of the periodic metrics, in the results-file format of
  :func:`disentangle_metrics._core.results.append_result`, with ``config['kimg']`` saying when;
  ``metric-<name>.jsonl`` and ``metric-<name>.png`` per metric (:mod:`.metric_log`).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from PIL import Image

from disentangle_metrics._core.results import append_result, atomic_write_bytes

LOG_COLUMNS = ("kimg", "step", "lod", "resolution", "minibatch", "lr", "loss_G", "loss_D", "r1",
               "score_real", "score_fake", "img_per_s", "sec_per_kimg", "wall_time_s", "skipped_steps")


class CsvLog:
    """Append-only per-tick log with a fixed header; see the module docstring."""

    def __init__(self, path: Path, resume_nimg: Optional[int] = None) -> None:
        """``resume_nimg``: keep the rows up to that point; None: a fresh run, start a new log (a
        run that died before its first checkpoint may have left one)."""
        self.path = path
        if resume_nimg is not None and path.is_file():
            self._truncate(resume_nimg / 1000.0)
        else:
            atomic_write_bytes(path, (",".join(LOG_COLUMNS) + "\n").encode())

    def _truncate(self, kimg: float) -> None:
        with open(self.path, newline="") as f:
            rows = list(csv.DictReader(f))
        kept = [r for r in rows if float(r["kimg"]) <= kimg + 1e-9]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=LOG_COLUMNS, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(kept)
        atomic_write_bytes(self.path, buf.getvalue().encode())

    def append(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=LOG_COLUMNS, lineterminator="\n", extrasaction="ignore").writerow(
                {k: _fmt(row.get(k)) for k in LOG_COLUMNS})


def _fmt(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        v = v.item()
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    return "" if v is None else v


def image_grid(images: torch.Tensor, columns: int) -> Image.Image:
    """A PIL image tiling images [N, C, H, W]: uint8, or float in [-1, 1] (x*127.5+128, clamped, truncated)."""
    if images.dtype == torch.uint8:
        x = images.detach().cpu()
    else:
        x = (images.detach().float().cpu() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    n, c, h, w = x.shape
    rows = math.ceil(n / columns)
    canvas = torch.zeros(c, rows * h, columns * w, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        canvas[:, r * h:(r + 1) * h, col * w:(col + 1) * w] = x[i]
    return Image.fromarray(canvas.permute(1, 2, 0).numpy())


def save_png(img: Image.Image, path: Path, min_size: int = 256) -> None:
    """Write a PNG atomically, nearest-upscaled so small grids stay visible."""
    if img.width < min_size:
        f = math.ceil(min_size / img.width)
        img = img.resize((img.width * f, img.height * f), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def run_metrics(G: torch.nn.Module, names: list[str], run_dir: Path, kimg: float, *, seed: int, device: str,
                num_samples: Optional[int], extractor: str, reference: Optional[str], num_real: Optional[int] = None,
                batch_size: Optional[int] = None, log: Optional[Any] = None) -> dict[str, float]:
    """Score ``G`` with ``dm.score`` (every metric in one request: the image metrics share one pass),
    append the results to ``run_dir/metrics.jsonl`` and, with ``log`` (a :class:`~.metric_log.MetricLog`),
    to the per-metric logs and curves; returns {result name: value}."""
    from disentangle_metrics.metrics.scoring import score

    results = score(G, names, device=device, seed=seed, num_samples=num_samples, extractor=extractor,
                    reference=reference, num_real=num_real, batch_size=batch_size, progress=False)
    for res in results:
        res.config = dict(res.config, kimg=round(kimg, 3), run=str(run_dir))
        append_result(run_dir / "metrics.jsonl", res)
    if log is not None:
        log.add(results, kimg)
    return {r.metric: float("nan") if r.value is None else float(r.value) for r in results}


def fixed_latents(seed: int, n: int, z_dim: int) -> torch.Tensor:
    """The grid's latents: the same for the whole run (and across resumes)."""
    g = torch.Generator().manual_seed(int(np.uint32(seed * 7919 + 17)))
    return torch.randn(n, z_dim, generator=g)
