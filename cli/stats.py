"""`dmetrics stats`: reference feature statistics of an image dataset, as a pytorch-fid-readable .npz."""

from __future__ import annotations

import click

EXAMPLES = """\b
Examples:
  dmetrics stats ffhq/ --out ffhq-stats.npz --mirror --num 50000
  dmetrics stats images.zip --out stats32.npz --resolution 32
  dmetrics stats testbed-export/ --out tb.npz --extractor testbed --resolution 32
Then: dmetrics score GENERATOR --metrics fid50k --reference ffhq-stats.npz
"""


@click.command("stats", epilog=EXAMPLES)
@click.argument("dataset", type=click.Path(exists=True))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Output .npz (mu, sigma, num, and the options used); the name must end in .npz.")
@click.option("--num", type=click.IntRange(min=1), default=None, help="Use this many images (default: all).")
@click.option("--random-subset", is_flag=True, help="Take a seeded random --num images instead of the first ones.")
@click.option("--mirror", is_flag=True, help="Flip each image horizontally with probability 1/2 (seeded), as the paper's fid50k.")
@click.option("--resolution", type=int, default=None, help="Resize to RxR first (box filter for power-of-two downscales, else Lanczos).")
@click.option("--extractor", default="inception-v3-tf", show_default=True)
@click.option("--weights", default=None, type=click.Path(exists=True, dir_okay=False), help="Extractor weights file.")
@click.option("--allow-hash-mismatch", is_flag=True, help="Accept an Inception file whose sha256 differs from the registry.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --mirror and --random-subset.")
@click.option("--skip-bad", is_flag=True, help="Skip unreadable images (their count is printed) instead of failing.")
@click.option("--array-key", default=None, help="Array name inside a .npz dataset.")
@click.option("--layout", type=click.Choice(["auto", "NHWC", "NCHW"]), default="auto", show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--no-cache", is_flag=True, help="Recompute even when cached statistics exist.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
def stats(dataset: str, out_path: str, num: int | None, random_subset: bool, mirror: bool, resolution: int | None,
          extractor: str, weights: str | None, allow_hash_mismatch: bool, seed: int, skip_bad: bool,
          array_key: str | None, layout: str, batch_size: int | None, device: str, no_cache: bool,
          progress: bool) -> None:
    """Compute feature statistics of DATASET (folder, .zip, .npy/.npz) and write them to --out.

    The file records the extractor, its weights' sha256, the image resolution and the mirroring;
    `dmetrics score` refuses it for a run that differs in any of them.
    """
    from disentangle_metrics.features.cache import dataset_stats
    from .options import check_device
    from disentangle_metrics._core.weights import WeightsError
    if not out_path.lower().endswith(".npz"):
        raise click.BadParameter(f"{out_path!r} must end in .npz (a name without it would later be read as a "
                                 f"dataset); e.g. --out {out_path}.npz", param_hint="--out")
    check_device(device)
    from .output import check_out_file
    check_out_file(out_path)     # before the pass over the dataset
    _warn_interrupted_export(dataset)
    try:
        st = dataset_stats(dataset, extractor, num=num, mirror=mirror, resolution=resolution,
                           subset="random" if random_subset else "first", seed=seed, skip_bad=skip_bad,
                           weights=weights, device=device, batch_size=batch_size, array_key=array_key, layout=layout,
                           cache=not no_cache, progress=progress, allow_hash_mismatch=allow_hash_mismatch)
    except (ValueError, KeyError, OSError, WeightsError) as exc:  # bad dataset, unknown extractor, missing weights: one line
        raise click.ClickException(f"{type(exc).__name__}: {exc}")
    info = {k: v for k, v in st.info.items() if k not in ("cached", "cache_file", "skipped_files")}
    try:
        st.save(out_path, **info)
    except OSError as exc:   # the pass is done: say where its result still is
        kept = st.info.get("cache_file")
        raise click.ClickException(
            f"cannot write {out_path} ({type(exc).__name__}: {exc.strerror or exc}); "
            + (f"the statistics are kept in the cache, {kept}: rerun with a writable --out to copy them without "
               "recomputing" if kept else "rerun with a writable --out (--no-cache was given: nothing was kept)"))
    skipped = int(st.info.get("skipped", 0) or 0)
    click.echo(f"{st.count} images -> {out_path} ({st.dim}-d, {'from cache' if st.info.get('cached') else 'computed'}"
               f"{f', {skipped} unreadable files skipped' if skipped else ''})")
    for line in st.info.get("skipped_files", []):
        click.echo(f"  skipped {line}", err=True)


def _warn_interrupted_export(dataset: str) -> None:
    from disentangle_metrics.data.images import INTERRUPTED_EXPORT, interrupted_testbed_export
    if interrupted_testbed_export(dataset):
        click.echo("warning: " + INTERRUPTED_EXPORT.format(path=dataset), err=True)
