"""Training curves of a ``dmetrics tables --seeds`` output folder, from the runs' own ``train/log.csv``.

    python -m benchmarks.plot_mini_runs benchmarks/results/mini

Writes ``training_curves.csv`` (one row per logged tick: preset, seed, kimg, loss_G, loss_D, r1,
score_real, score_fake, img_per_s) and ``training_curves.png`` (one panel per preset: D and G loss
against kimg, one line style per seed) into the folder. These are the curves the runs' logs hold;
FID against kimg needs the intermediate checkpoints, which the tables do not keep.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

COLUMNS = ["preset", "seed", "kimg", "loss_G", "loss_D", "r1", "score_real", "score_fake", "img_per_s"]


def collect(folder: Path) -> pd.DataFrame:
    """Every ``seed<k>/<preset>/train/log.csv`` under ``folder`` as one table (COLUMNS)."""
    frames = []
    for log in sorted(folder.glob("seed*/*/train/log.csv")):
        m = re.fullmatch(r"seed(\d+)", log.parents[2].name)
        if m is None:
            continue
        df = pd.read_csv(log)
        df.insert(0, "seed", int(m.group(1)))
        df.insert(0, "preset", log.parents[1].name)
        frames.append(df[COLUMNS])
    if not frames:
        raise FileNotFoundError(f"{folder}: no seed<k>/<preset>/train/log.csv; pass a `dmetrics tables --seeds` folder")
    return pd.concat(frames, ignore_index=True)


def plot(df: pd.DataFrame, png: Path) -> None:
    """One panel per preset: loss_D (blue) and loss_G (orange) against kimg, a line style per seed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    presets = list(dict.fromkeys(df["preset"]))
    cols = 3
    rows = -(-len(presets) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), sharex=True, sharey=True, squeeze=False)
    styles = ["-", "--", ":", "-."]
    for ax, preset in zip(axes.flat, presets):
        for i, (seed, run) in enumerate(df[df["preset"] == preset].groupby("seed")):
            ls = styles[i % len(styles)]
            ax.plot(run["kimg"], run["loss_D"], ls, color="tab:blue", label=f"D, seed {seed}")
            ax.plot(run["kimg"], run["loss_G"], ls, color="tab:orange", label=f"G, seed {seed}")
        ax.set_title(preset, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(presets):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("kimg")
    for ax in axes[:, 0]:
        ax.set_ylabel("loss")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else Path("benchmarks/results/mini")
    df = collect(folder)
    df.to_csv(folder / "training_curves.csv", index=False, float_format="%.6g")
    plot(df, folder / "training_curves.png")
    print(f"{folder / 'training_curves.csv'}: {len(df)} ticks of {df.groupby(['preset', 'seed']).ngroups} runs; "
          f"{folder / 'training_curves.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
