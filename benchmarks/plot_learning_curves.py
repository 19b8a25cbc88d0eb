"""Plot FID@testbed against kimg from a recipe-probe ``curves.csv`` (benchmarks/recipe_probe.py).

    python -m benchmarks.plot_learning_curves benchmarks/results/learning_curves/curves.csv \
        benchmarks/results/learning_curves/curves.png

One line per probe (G_ema solid, the raw G dashed where recorded), the real-vs-real floor (row
``floor``) and 10x the floor as horizontal lines, log y axis. Further arguments name the probes to
draw (default: all), e.g. one round of probes with its reference::

    python -m benchmarks.plot_learning_curves curves.csv round3.png lr0025+emaramp r1g30 noise01
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import pandas as pd


def plot(csv_path: Path, png_path: Path, probes: Sequence[str] = (), title: Optional[str] = None) -> None:
    """Write the plot of ``csv_path`` (only ``probes`` when given) to ``png_path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.read_csv(csv_path)
    floor = df.loc[df["probe"] == "floor", "fid"]
    runs = df[df["probe"] != "floor"]
    if probes:
        missing = sorted(set(probes) - set(runs["probe"]))
        if missing:
            raise ValueError(f"{csv_path}: no rows for probes {missing}")
        runs = runs[runs["probe"].isin(probes)]
    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    for i, (name, g) in enumerate(runs.groupby("probe", sort=False)):
        color = f"C{i}"
        g = g.sort_values("kimg")
        ax.plot(g["kimg"], g["fid"], "o-", color=color, label=f"{name} (G_ema)")
        if "fid_raw_G" in g and g["fid_raw_G"].notna().any():
            ax.plot(g["kimg"], g["fid_raw_G"], "x--", color=color, alpha=0.7, label=f"{name} (raw G)")
    if len(floor):
        f = float(floor.iloc[0])
        ax.axhline(f, color="k", lw=1, label=f"floor real vs real ({f:.3g})")
        ax.axhline(10 * f, color="k", lw=1, ls=":", label=f"10x floor ({10 * f:.3g})")
    ax.set_yscale("log")
    ax.set_xlabel("kimg (thousands of real images shown to D)")
    ax.set_ylabel("FID@testbed (2500 generated vs 10,000 test-bed images)")
    ax.set_title(title or "mini-scale recipe probes: f-mixing90, 32x32, batch 32, seed 0")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="Plot FID@testbed against kimg from a recipe-probe curves.csv.")
    ap.add_argument("csv", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("probes", nargs="*", help="probes to draw (default: all)")
    ap.add_argument("--title", default=None)
    a = ap.parse_args()
    plot(a.csv, a.png, a.probes, title=a.title)
