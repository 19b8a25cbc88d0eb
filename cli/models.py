"""`dmetrics convert-official`: NVIDIA's StyleGAN (v1) TensorFlow pickles -> reference checkpoints."""

from __future__ import annotations

import click


@click.command("convert-official")
@click.argument("pkl", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="Output folder. A (G, D, Gs) pickle gives OUT/Gs, OUT/G and OUT/D; a single "
                   "network (e.g. a celebahq-classifier) gives a checkpoint folder OUT.")
def convert_official_cmd(pkl: str, out: str) -> None:
    """Convert an official StyleGAN pickle PKL without TensorFlow and without running its code."""
    from reference_models.convert import ConversionError, convert_official
    try:
        written = convert_official(pkl, out)
    except (ConversionError, OSError) as exc:
        raise click.ClickException(str(exc))
    for role, folder in written.items():
        click.echo(f"{role:10s} -> {folder}")
