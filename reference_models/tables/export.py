"""Copy the light outputs of a tables run (tables, claims, metrics, logs) into a folder to commit.

Checkpoints and rendered training images stay behind; the last sample grid of each preset's
training (``fakes*.png``) is kept so the numbers can be looked at beside the images.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .run import DONE_FILE, METRICS_FILE, SCALE_FILE, TRAINED_FILE

REPORT_FILES = ("table3.csv", "table3.md", "table3.tex", "table3.png", "table4.csv", "table4.md", "table4.tex",
                "table4.png", "claims.csv", "claims.md", SCALE_FILE)


def export_results(out: Path, dest: Path, presets: list[str]) -> list[Path]:
    """Copy the report and each preset's metrics, markers and training log from ``out`` to ``dest``."""
    missing = [f for f in REPORT_FILES if not (out / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{out} lacks {', '.join(missing)}: write the report first "
                                "(dmetrics tables ... --report-only)")
    copied: list[Path] = []

    def cp(src: Path, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        copied.append(dst)

    for f in REPORT_FILES:
        cp(out / f, dest / f)
    if (out / "floor.json").is_file():
        cp(out / "floor.json", dest / "floor.json")
    # a run over seeds keeps one single-seed run per seed<k>/ folder
    for base in [Path()] + sorted(d.relative_to(out) for d in out.glob("seed*") if d.is_dir()):
        for p in presets:
            src = out / base / p
            for f in (METRICS_FILE, DONE_FILE, TRAINED_FILE):
                if (src / f).is_file():
                    cp(src / f, dest / base / p / f)
            for f in ("log.csv", "config.json"):
                if (src / "train" / f).is_file():
                    cp(src / "train" / f, dest / base / p / "train" / f)
            grids = sorted((src / "train").glob("fakes*.png"))
            if grids:
                cp(grids[-1], dest / base / p / "train" / grids[-1].name)
    return copied
