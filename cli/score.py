"""`dmetrics score`: run registered metrics on a generator and append the results file."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click

from disentangle_metrics import distributed as dist_env
from disentangle_metrics.registry import ScoreOptions, get_metric, list_metrics
from disentangle_metrics.results import append_result, format_value

from .loading import load_generator, load_object


def _parse_weights(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise click.BadParameter(f"--weights expects NAME=PATH, got {item!r}")
        out[name] = path
    return out


@click.command("score")
@click.argument("generator")
@click.option("--metrics", "metric_names", required=True,
              help="Comma-separated metric names (see `dmetrics score --list`... e.g. fid50k,ppl_wend,ls).")
@click.option("--reference", default=None, help="FID reference: a stats .npz or a dataset (folder, zip, .npy).")
@click.option("--classifier", default=None, help="Separability classifier: checkpoint, package.module:factory, or testbed (the shipped test-bed classifier).")
@click.option("--num-samples", type=int, default=None, help="Override the paper's sample count (quick runs).")
@click.option("--batch-size", type=int, default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--extractor", default="inception-v3-tf", show_default=True, help="FID feature extractor.")
@click.option("--distance", default=None, help="PPL distance (default LPIPS-VGG).")
@click.option("--weights", "weights_items", multiple=True, help="NAME=PATH for a registered weights file.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default="results.jsonl", show_default=True,
              help="Results file (one JSON line per metric, appended atomically).")
@click.option("--samples-dir", type=click.Path(file_okay=False), default=None,
              help="Write per-sample arrays (.npz) here (for ls: the latents and logits, large).")
@click.option("--ls-backend", type=click.Choice(["torch", "sklearn"]), default="torch", show_default=True,
              help="Separability SVM solver: the batched torch solver or scikit-learn's LinearSVC (slow, for checks).")
@click.option("--trust-pickle", is_flag=True, help="Allow loading pickles (runs code from the file).")
@click.option("--allow-hash-mismatch", is_flag=True,
              help="Use weight files whose sha256 differs from the registry (recorded in the results).")
@click.option("--no-progress", is_flag=True)
@click.option("--nproc", type=int, default=1, show_default=True,
              help="Processes on this machine (relaunches under torchrun; one per GPU).")
def score(generator: str, metric_names: str, reference: str | None, classifier: str | None,
          num_samples: int | None, batch_size: int | None, seed: int, device: str, extractor: str,
          distance: str | None, weights_items: tuple[str, ...], out_path: str, samples_dir: str | None,
          ls_backend: str, trust_pickle: bool, allow_hash_mismatch: bool, no_progress: bool, nproc: int) -> None:
    """Compute METRICS for GENERATOR and append them to the results file.

    Under torchrun (detected from its environment variables) every process computes its share of
    the samples and rank 0 writes the results; `--nproc N` starts such a run on this machine.
    """
    if nproc > 1 and not dist_env.launched_by_torchrun():
        _relaunch_under_torchrun(nproc)
    dist_info = dist_env.init_from_env()
    names = [n.strip() for n in metric_names.split(",") if n.strip()]
    try:
        fns = [(n, get_metric(n)) for n in names]
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0]))
    try:
        G = load_generator(generator, trust_pickle=trust_pickle, device="cpu")
        clf = load_object(classifier, trust_pickle=trust_pickle) if classifier else None
    except Exception as exc:  # surfaced as a one-line message naming the file
        raise click.ClickException(f"{type(exc).__name__}: {exc}")
    opts = ScoreOptions(device=device, seed=seed, batch_size=batch_size, num_samples=num_samples,
                        reference=reference, classifier=clf, extractor=extractor, distance=distance,
                        weights=_parse_weights(weights_items), allow_hash_mismatch=allow_hash_mismatch,
                        keep_samples=samples_dir is not None, ls_backend=ls_backend, progress=not no_progress)
    failed = False
    for name, fn in fns:
        try:
            res = fn(G, opts)
        except Exception as exc:  # one metric failing must not lose the others' results
            failed = True
            click.echo(f"{name:16s} FAILED: {type(exc).__name__}: {exc}", err=True)
            continue
        res.extras.setdefault("generator", generator)
        res.extras.setdefault("world_size", dist_info.world_size)
        if not dist_info.is_main:
            continue
        append_result(out_path, res, samples_dir=samples_dir)
        for k, v in (res.values or {name: res.value}).items():
            shown = format_value(res, k, fmt=".4f") if isinstance(v, float) and math.isfinite(v) else str(v)
            click.echo(f"{k:16s} {shown:>14s}   ({res.num_samples} samples, {res.wall_time_s or 0:.1f} s)")
    if dist_info.is_main:
        click.echo(f"results appended to {Path(out_path).resolve()}")
    sys.exit(1 if failed else 0)


def _relaunch_under_torchrun(nproc: int) -> None:
    """Replace this process by `torchrun --standalone --nproc_per_node=N` running the same command."""
    import os
    argv = list(sys.argv[1:])
    for i, a in enumerate(argv):          # drop --nproc N / --nproc=N so the children run normally
        if a == "--nproc":
            del argv[i:i + 2]
            break
        if a.startswith("--nproc="):
            del argv[i]
            break
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "cli.main", *argv]
    click.echo(f"launching: {' '.join(cmd[2:])}", err=True)
    os.execv(sys.executable, cmd)


@click.command("metrics")
def metrics_cmd() -> None:
    """List the registered metrics."""
    for n in list_metrics():
        click.echo(n)
