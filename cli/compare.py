"""`dmetrics compare A B`: FID (and KID / precision-recall / IS on request) between two image sets."""

from __future__ import annotations

import math
import sys
from typing import Optional

import click

KINDS = ("fid", "kid", "pr", "is")


@click.command("compare")
@click.argument("generated", type=click.Path(exists=True))
@click.argument("reference", type=click.Path(exists=True))
@click.option("--metrics", "kinds", default="fid", show_default=True,
              help="Comma-separated subset of fid,kid,pr,is (one shared pass over each side).")
@click.option("--num", type=click.IntRange(min=1), default=None, help="Use the first NUM images of GENERATED (default: all).")
@click.option("--num-real", type=click.IntRange(min=1), default=None,
              help="Use at most NUM_REAL images of REFERENCE (default: all).")
@click.option("--resolution", "image_resolution", type=click.IntRange(min=1), default=None,
              help="Resize GENERATED images to RxR first (box filter for power-of-two downscales, else Lanczos; "
                   "non-square images are stretched). REFERENCE is read as it is.")
@click.option("--array-key", default=None, help="GENERATED is a .npz holding several arrays: the one to use.")
@click.option("--extractor", default="inception-v3-tf", show_default=True, help="FID/KID feature extractor.")
@click.option("--pr-extractor", type=click.Choice(["vgg16-nvidia", "vgg16-torchvision"]), default="vgg16-nvidia",
              show_default=True, help="Precision/recall features (vgg16-torchvision is a substitute, named so).")
@click.option("--weights", "weights_items", multiple=True, help="NAME=PATH for an extractor's weights file.")
@click.option("--kid-subset-size", type=int, default=1000, show_default=True)
@click.option("--kid-subsets", type=int, default=100, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of KID's subsets.")
@click.option("--batch-size", type=int, default=None)
@click.option("--device", default="auto", show_default=True)
@click.option("--allow-hash-mismatch", is_flag=True)
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None, help="Also append results here.")
@click.option("--no-progress", is_flag=True)
def compare_cmd(generated: str, reference: str, kinds: str, num: int | None, num_real: int | None, extractor: str,
                pr_extractor: str, weights_items: tuple[str, ...], kid_subset_size: int, kid_subsets: int, seed: int,
                batch_size: int | None, device: str, allow_hash_mismatch: bool, out_path: str | None,
                no_progress: bool, image_resolution: int | None, array_key: str | None) -> None:
    """Compare GENERATED with REFERENCE, like `python -m pytorch_fid A B`.

    Each is a folder, zip or .npz of images; for FID both may instead be statistics .npz files
    (`dmetrics stats`) of the same extractor and weights. All images are used unless --num /
    --num-real. Each set is scored as it is, as pytorch-fid, torch-fidelity and clean-fid do: the
    extractor resizes every image to its input (non-square ones stretched). IS is computed on
    GENERATED. A metric that fails (say, a missing weights file) is reported with its reason; the
    others are still computed and written, and the exit status is 1.
    """
    from disentangle_metrics.metrics import image as IM
    from disentangle_metrics._core.options import ScoreOptions
    from disentangle_metrics.generators.sources import ImageSource
    from disentangle_metrics._core.weights import WeightsError

    from .output import check_out_file, notes_from_results
    from .score import _parse_weights
    wanted = [k.strip() for k in kinds.split(",") if k.strip()]
    bad = sorted(set(wanted) - set(KINDS))
    if bad or not wanted:
        raise click.BadParameter(f"--metrics takes a subset of {','.join(KINDS)}, got {kinds!r}")
    if out_path:
        check_out_file(out_path)     # before the passes over both image sets, not after
    failures: list[tuple[str, Exception]] = []
    try:
        if IM.load_stats_reference(generated, device="cpu") is not None:
            if image_resolution is not None or array_key is not None:
                raise ValueError(f"{generated} is a statistics file: --resolution and --array-key apply to images")
            if wanted != ["fid"]:
                raise ValueError(f"{generated} is a statistics file: only FID can be computed from it (KID, PR and IS "
                                 "need images)")
            with notes_from_results():     # its notes are printed from the result, once
                results = [IM.fid_from_stats(generated, reference)]
        else:
            # each set as it is (pytorch-fid, torch-fidelity, clean-fid): no resize before the extractor
            src = ImageSource(generated, device=device, resolution=image_resolution, array_key=array_key,
                              require_square=False)
            if num is not None and num > src.num_available:
                raise ValueError(f"--num {num}: {generated} holds {src.num_available} images; pass --num "
                                 f"{src.num_available} or less")
            n = src.num_available if num is None else num
            rows = _rows(wanted, pr_extractor, kid_subset_size, kid_subsets)
            opts = ScoreOptions(device=device, seed=seed, batch_size=batch_size, num_samples=n, num_real=num_real,
                                reference=reference, extractor=extractor, weights=_parse_weights(weights_items),
                                allow_hash_mismatch=allow_hash_mismatch, progress=not no_progress,
                                reference_at_own_size=True)
            with notes_from_results():
                outcomes = IM.compute_outcomes(src, rows, opts)
            results = [o for o in outcomes if not isinstance(o, Exception)]
            failures = [(k, o) for k, o in zip(wanted, outcomes) if isinstance(o, Exception)]
    except (ValueError, KeyError, OSError, WeightsError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}")
    _show_and_write(results, generated, reference, out_path)
    for kind, exc in failures:      # the others were computed and written; each failure with its own reason
        click.echo(f"{kind}: failed: {type(exc).__name__}: {exc}", err=True)
    if failures:
        sys.exit(1)


def _rows(wanted: list[str], pr_extractor: str, kid_subset_size: int, kid_subsets: int) -> list:
    from disentangle_metrics.metrics import image as IM
    pr_key = "pr50k3_full" + ("" if pr_extractor == "vgg16-nvidia" else f"@{pr_extractor}")
    base = {"fid": IM.TABLE["fid50k_full"],
            "kid": IM.with_params(IM.TABLE["kid50k_full"], max_subset_size=kid_subset_size, num_subsets=kid_subsets),
            "pr": IM.TABLE[pr_key], "is": IM.TABLE["is50k"]}
    # every real image (no cap of the stylegan2-ada rows); names are built from the count used
    from dataclasses import replace
    return [replace(base[k], max_real=IM.ALL) if base[k].max_real != 0 else base[k] for k in wanted]


def _show_and_write(results: list, generated: str, reference: str, out_path: Optional[str]) -> None:
    """Print each value with its 95% interval (as `score` does) and the fewer-than-the-paper note; append
    the results to ``out_path`` when given, keeping any that fail to write (:class:`cli.output.ResultWriter`)."""
    from disentangle_metrics._core.results import format_value

    from .output import ResultWriter, fewer_than_paper_note, result_notes
    writer = ResultWriter(out_path) if out_path else None
    for res in results:
        res.extras.update(generated=generated, compared_with=reference)
        note = fewer_than_paper_note(res.metric, res.num_samples)
        for line in ([note] if note else []) + result_notes(res):
            click.echo(line, err=True)
        for k, v in res.values.items():
            shown = format_value(res, k, fmt=".6g") if isinstance(v, float) and math.isfinite(v) else str(v)
            click.echo(f"{k:24s} {shown:>14s}")
        if writer is not None:
            writer.add(res)
    if writer is not None:
        writer.report()
        if writer.saved:
            sys.exit(1)
