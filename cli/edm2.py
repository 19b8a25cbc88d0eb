"""`dmetrics convert-edm2-ref`: EDM2's reference statistics pickle -> the project's stats files."""

from __future__ import annotations

import click

EXAMPLES = """\b
Examples:
  dmetrics convert-edm2-ref img512.pkl --out-dir refs/ --resolution 512
Then: dmetrics score GENERATOR --metrics fid50k --reference refs/img512.inception-v3-tf.npz
"""


@click.command("convert-edm2-ref", epilog=EXAMPLES)
@click.argument("ref_pkl", type=click.Path(exists=True, dir_okay=False))
@click.option("--out-dir", required=True, type=click.Path(file_okay=False), help="Folder for the .npz files.")
@click.option("--resolution", type=click.IntRange(min=1), default=None,
              help="Resolution of the dataset's images (not stored in the pickle); recorded so a run at another "
                   "resolution is refused.")
def convert_edm2_ref_cmd(ref_pkl: str, out_dir: str, resolution: int | None) -> None:
    """Convert an EDM2 reference REF_PKL ({'fid', 'fd_dinov2'}: mu, sigma) into one stats .npz per metric.

    The pickle is read with a restricted unpickler (numpy arrays only; nothing in it runs). 'fid' is
    recorded for the inception-v3-tf extractor, 'fd_dinov2' for dinov2-vitl14 (EDM2's preprocessing).
    """
    from disentangle_metrics.features.edm2_refs import EDM2_METRICS, convert_edm2_reference, read_edm2_reference
    try:
        _, num, unknown = read_edm2_reference(ref_pkl)
        written = convert_edm2_reference(ref_pkl, out_dir, resolution=resolution)
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}")
    for key, path in written.items():
        ext, dim = EDM2_METRICS[key]
        click.echo(f"{key} -> {path} ({dim}-d, extractor {ext}, {num if num is not None else 'unknown number of'} images)")
    if unknown:
        click.echo(f"not converted (no matching extractor): {', '.join(unknown)}", err=True)
