"""A training run folder's names: its snapshots (named by images seen), and durations as the trainer
prints them."""

from __future__ import annotations

import os
import re
from pathlib import Path

_SNAPSHOT = re.compile(r"^snapshot-(\d+)\.pt$")


def snapshot_name(nimg: int) -> str:
    """``snapshot-{nimg:09d}.pt``: named by images seen, so checkpoints less than 1 kimg apart never collide.

    The first six digits are the whole kimg, so a plain sort of old (``snapshot-{kimg:06d}.pt``)
    and new names together is in training order.
    """
    return f"snapshot-{int(nimg):09d}.pt"


def list_snapshots(run_dir: str | os.PathLike) -> list[tuple[int, Path]]:
    """(images seen, path) of every snapshot in ``run_dir``, in training order.

    Reads both names: ``snapshot-{nimg:09d}.pt`` (9 or more digits, the image count) and the
    older ``snapshot-{kimg:06d}.pt`` (6 digits, whole kimg: counted as kimg * 1000, the start of
    its kimg). Any of them resumes when copied to ``latest.pt`` (``--resume`` reads that file).
    """
    out = []
    for p in Path(run_dir).glob("snapshot-*.pt"):
        m = _SNAPSHOT.match(p.name)
        if m is None:
            continue
        digits = m.group(1)
        out.append((int(digits) * 1000 if len(digits) <= 6 else int(digits), p))
    return sorted(out, key=lambda t: (t[0], t[1].name))


def format_duration(seconds: float) -> str:
    """``3d 4h``, ``5h 12m``, ``7m 30s`` or ``42s``."""
    s = int(round(max(seconds, 0.0)))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if d:
        return f"{d}d {h}h"
    if h:
        return f"{h}h {m}m"
    return f"{m}m {s % 60}s" if m else f"{s}s"
