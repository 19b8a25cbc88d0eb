"""Plot FID@testbed against kimg from a recipe-probe ``curves.csv`` (benchmarks/recipe_probe.py).

    python -m benchmarks.plot_learning_curves benchmarks/results/learning_curves/curves.csv \
        benchmarks/results/learning_curves/curves.png

One line per probe (G_ema solid, the raw G dashed where recorded), the real-vs-real floor (row
``floor``) and 10x the floor as horizontal lines, log y axis. Further arguments name the probes to
draw (default: all), e.g. one round of probes with its reference::

    python -m benchmarks.plot_learning_curves curves.csv round3.png lr0025+emaramp r1g30 noise01
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd


def _family(name: str) -> tuple[str, int]:
    """('r1g30', 1) for 'r1g30-s1': probes that differ only by training seed share a colour."""
    m = re.fullmatch(r"(.+)-s(\d+)", name)
    return (m.group(1), int(m.group(2))) if m else (name, 0)


def plot(csv_path: Path, png_path: Path, probes: Sequence[str] = (), title: Optional[str] = None,
         raw: bool = True, max_kimg: Optional[float] = None) -> None:
    """Write the plot of ``csv_path`` (only ``probes`` when given) to ``png_path``; ``raw=False`` leaves
    out the raw-G lines, ``max_kimg`` the evaluations after it. Seeds of one probe (``name``, ``name-s1``, ...) share a colour, one marker each."""
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
    if max_kimg is not None:
        runs = runs[runs["kimg"] <= max_kimg]
    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    families = list(dict.fromkeys(_family(n)[0] for n in runs["probe"]))
    cmap = plt.get_cmap("tab10" if len(families) <= 10 else "tab20")
    for name, g in runs.groupby("probe", sort=False):
        fam, seed = _family(name)
        color = cmap(families.index(fam) % cmap.N)
        g = g.sort_values("kimg")
        ax.plot(g["kimg"], g["fid"], "-", marker="osD^v"[seed % 5], color=color, label=f"{name} (G_ema)")
        if raw and "fid_raw_G" in g and g["fid_raw_G"].notna().any():
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


def plot_seeds(csv_path: Path, png_path: Path, groups: dict[str, Sequence[str]], kimg: float,
               title: Optional[str] = None) -> None:
    """One column per group of probes (the same recipe at several training seeds): each seed's FID of
    G_ema at ``kimg`` as a point, the mean as a bar, the floor and 10x the floor as lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.read_csv(csv_path)
    at = df[(df["probe"] != "floor") & (df["kimg"] == kimg)].set_index("probe")["fid"]
    missing = sorted({p for ps in groups.values() for p in ps} - set(at.index))
    if missing:
        raise ValueError(f"{csv_path}: no {kimg:g}-kimg rows for probes {missing}")
    fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
    for i, (label, ps) in enumerate(groups.items()):
        v = at.loc[list(ps)].to_numpy(dtype=float)
        ax.scatter([i] * len(v), v, color=f"C{i % 10}", zorder=3)
        ax.hlines(v.mean(), i - 0.3, i + 0.3, color=f"C{i % 10}", lw=2)
        ax.annotate(f"{v.mean():.0f}", (i + 0.32, v.mean()), va="center", fontsize=8)
    floor = df.loc[df["probe"] == "floor", "fid"]
    if len(floor):
        f = float(floor.iloc[0])
        ax.axhline(10 * f, color="k", lw=1, ls=":", label=f"10x floor ({10 * f:.3g})")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xticks(range(len(groups)), [f"{k}\n({len(v)} seed{'s' if len(v) > 1 else ''})" for k, v in groups.items()],
                  fontsize=8)
    ax.set_ylabel(f"FID@testbed of G_ema at {kimg:g} kimg")
    ax.set_title(title or f"recipe probes at {kimg:g} kimg: one point per training seed, bar = mean")
    ax.grid(True, axis="y", alpha=0.3)
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description="Plot FID@testbed against kimg from a recipe-probe curves.csv.")
    ap.add_argument("csv", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("probes", nargs="*", help="probes to draw (default: all); with --seeds-at, groups "
                    "LABEL=PROBE,PROBE,... (one column each)")
    ap.add_argument("--seeds-at", type=float, default=None, metavar="KIMG",
                    help="instead of curves: each group's seeds at this kimg (plot_seeds)")
    ap.add_argument("--title", default=None)
    ap.add_argument("--no-raw", action="store_true", help="leave out the raw-G (un-averaged) lines")
    ap.add_argument("--max-kimg", type=float, default=None, help="leave out evaluations after this many kimg")
    a = ap.parse_intermixed_args()
    if a.seeds_at is not None:
        bad = [g for g in a.probes if "=" not in g]
        if bad or not a.probes:
            ap.error(f"--seeds-at takes groups LABEL=PROBE,PROBE,...; got {bad or 'none'}")
        plot_seeds(a.csv, a.png, {g.split("=", 1)[0]: g.split("=", 1)[1].split(",") for g in a.probes}, a.seeds_at,
                   title=a.title)
    else:
        plot(a.csv, a.png, a.probes, title=a.title, raw=not a.no_raw, max_kimg=a.max_kimg)
