"""`dmetrics tables`: reproduce the paper's Tables 3 and 4 (train every preset, score, report).

Options are parsed here; the work is :func:`reference_models.tables.reproduce` (the folder layout
in :mod:`reference_models.tables.run`, the scales in :mod:`reference_models.tables.scale`).
"""

from __future__ import annotations

from typing import Optional

import click

from .loading import load_object

@click.command("tables")
@click.option("--scale", "scale_name", type=click.Choice(["smoke", "mini", "paper"]), default="mini", show_default=True,
              help="smoke: pipeline check (minutes on CPU); mini: test bed 32x32 (GPU < 30 min, CPU hours); "
                   "paper: FFHQ 1024 (weeks of GPU time).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder (rerun to resume).")
@click.option("--data", default=None, help="Training images and FID reference (required for --scale paper: FFHQ 1024).")
@click.option("--classifier", default=None, help="Separability classifier (required for --scale paper: the 40 "
              "converted CelebA-HQ classifiers as one [N, 40]-logit network; default for the test bed: testbed).")
@click.option("--kimg", type=float, default=None, help="Override the scale's training length per preset.")
@click.option("--preset", "presets", multiple=True, help="Only these presets (repeatable; default all of Tables 3/4).")
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", type=int, default=None, help="torch CPU threads (1 is often fastest on a shared CPU).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--seeds", type=int, default=None,
              help="Train and score every preset with N seeds (--seed .. --seed+N-1, in OUT/seed<k>/): cells show "
                   "mean +- spread, claims their confidence.")
@click.option("--report-only", is_flag=True, help="Only rewrite the tables from what is measured so far.")
@click.option("--progress", is_flag=True, help="Progress bars for training and metrics.")
@click.option("--export", default=None, type=click.Path(file_okay=False),
              help="Also copy the tables, claims, metrics and training logs (no checkpoints) here, e.g. "
                   "benchmarks/results/mini.")
def tables_cmd(scale_name: str, out: str, data: Optional[str], classifier: Optional[str], kimg: Optional[float],
               presets: tuple[str, ...], device: str, threads: Optional[int], seed: int, seeds: Optional[int],
               report_only: bool, progress: bool, export: Optional[str]) -> None:
    """Reproduce the paper's Tables 3 and 4 at a scale; resumable per preset and per metric."""
    from reference_models.tables import reproduce   # numpy/pandas/report code only when the command runs

    from .output import check_out_dir
    check_out_dir(out)
    if export:
        check_out_dir(export, "--export")
    try:
        reproduce(scale_name, out, data=data, classifier=classifier, kimg=kimg, presets=list(presets) or None,
                  device=device, threads=threads, seed=seed, progress=progress, report_only=report_only,
                  export=export, log=click.echo, seeds=seeds, load_classifier=load_object)
    except ValueError as exc:
        raise click.ClickException(str(exc))
