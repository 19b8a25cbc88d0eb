"""`dmetrics testbed`: export the procedural test bed in CelebA's formats, draw a contact sheet."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import click

from disentangle_metrics.data.testbed_config import TestbedConfig


def _config(config_path: Optional[str], resolution: Optional[int], seed: Optional[int]) -> TestbedConfig:
    try:
        cfg = TestbedConfig.load(config_path) if config_path else TestbedConfig()
        changes = {k: v for k, v in (("resolution", resolution), ("seed", seed)) if v is not None}
        return cfg.replace(**changes) if changes else cfg
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc))


@click.group("testbed")
def testbed() -> None:
    """The procedural, attribute-labelled face test bed."""


@testbed.command("export")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--num", type=int, required=True, help="Number of images (indices 0..num-1).")
@click.option("--resolution", type=int, default=None, help="Power of two from 16 to 256 (default: config's, 64).")
@click.option("--seed", type=int, default=None, help="Test bed seed (default: config's, 0).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="Test bed config JSON (as written by an export); --resolution/--seed override it.")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--overwrite", is_flag=True, help="Write into a non-empty folder, replacing an earlier export.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
def export_cmd(out_dir: str, num: int, resolution: Optional[int], seed: Optional[int], config_path: Optional[str],
               batch_size: int, device: str, overwrite: bool, progress: bool) -> None:
    """Write OUT_DIR/000000.png ... plus list_attr_celeba.txt (written last) and testbed_config.json."""
    from disentangle_metrics._core.progress import progress_bar
    from disentangle_metrics.data.testbed_export import export_testbed
    from disentangle_metrics._core.device import resolve_device
    cfg = _config(config_path, resolution, seed)
    if num < 1 or batch_size < 1:
        raise click.ClickException(f"--num and --batch-size must be >= 1, got {num} and {batch_size}")
    try:
        dev = resolve_device(device)
    except RuntimeError as exc:
        raise click.ClickException(str(exc))
    t0 = time.perf_counter()
    with progress_bar(num, "testbed export", progress, unit="img") as bar:
        try:
            export_testbed(cfg, out_dir, num, batch_size=batch_size, device=dev, overwrite=overwrite,
                           progress=bar.update)
        except (FileExistsError, ValueError) as exc:
            raise click.ClickException(str(exc))
    dt = time.perf_counter() - t0
    click.echo(f"wrote {num} images at {cfg.resolution}x{cfg.resolution} to {Path(out_dir)} "
               f"in {dt:.1f}s ({num / dt:.0f} images/s, PNG encoding included)")


@testbed.command("sheet")
@click.argument("out_png", type=click.Path(dir_okay=False))
@click.option("--num", type=int, default=32, show_default=True)
@click.option("--columns", type=int, default=8, show_default=True)
@click.option("--start", type=int, default=0, show_default=True, help="First image index.")
@click.option("--resolution", type=int, default=None, help="Power of two from 16 to 256 (default: config's, 64).")
@click.option("--seed", type=int, default=None)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
def sheet_cmd(out_png: str, num: int, columns: int, start: int, resolution: Optional[int], seed: Optional[int],
              config_path: Optional[str]) -> None:
    """Write a contact sheet PNG: images with their positive attributes listed under each."""
    from disentangle_metrics.data.testbed_export import contact_sheet, save_png
    cfg = _config(config_path, resolution, seed)
    if num < 1 or columns < 1 or start < 0:
        raise click.ClickException("--num and --columns must be >= 1 and --start >= 0")
    save_png(contact_sheet(cfg, range(start, start + num), columns=columns), out_png)
    click.echo(f"wrote {out_png} ({num} images at {cfg.resolution}x{cfg.resolution})")
