"""`dmetrics score`: run registered metrics on a generator and append the results file."""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from pathlib import Path
from typing import Any, Optional

import click

import disentangle_metrics
from disentangle_metrics import distributed as dist_env
from disentangle_metrics.registry import ScoreOptions, get_metric, list_metrics
from disentangle_metrics.results import append_result

from .loading import load_generator, load_object
from .options import check_device
from .provenance import generator_provenance, request_config, resume_key


EXAMPLES = """\b
Examples:
  dmetrics score ckpt/ --metrics fid50k --reference ffhq-stats.npz
  dmetrics score ckpt/ --metrics fid10k@testbed --reference testbed --extractor testbed
  dmetrics score ckpt/ --metrics fid50k --extractor testbed --reference testbed --num-samples 2000 --num-real 5000
  dmetrics score ckpt/ --metrics ppl_wend,ls --classifier testbed --distance testbed-lpips --num-samples 1000
  dmetrics score ckpt/ --metrics fid50k,ppl_wend --reference stats.npz --resume   # after an interruption

List the metrics with `dmetrics metrics`, the weight files with `dmetrics weights list`.
"""

# the paper's sample count per registered metric family, for the "fewer than the paper" note
_PAPER_COUNTS = (("fid", 50_000), ("ppl_", 100_000), ("ls", 200_000))


def _parse_weights(items: tuple[str, ...]) -> dict[str, str]:
    from disentangle_metrics import weights as W
    from disentangle_metrics.features import list_extractors
    known = set(W.REGISTRY) | set(list_extractors())
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise click.BadParameter(f"--weights expects NAME=PATH, got {item!r}")
        if name not in known:
            raise click.BadParameter(f"--weights {name}=...: unknown name {name!r}; use a registered weights "
                                     f"file or an extractor: {', '.join(sorted(known))}")
        out[name] = path
    return out


def _parse_metric_names(text: str, tags: tuple[Optional[str], ...] = ()) -> list[tuple[str, str, Optional[int]]]:
    """(name as asked, registered name, sample count the name implies) for each comma-separated name.

    Besides registered names, the names results carry are accepted: ``fid10k``/``fid2500`` (the
    count-named FID) and ``ls_z``/``ls_w`` (both come from ``ls``). A ``name@tag`` as results carry
    it is accepted when ``tag`` is one of ``tags`` (the --extractor, --distance, --classifier given).
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise click.BadParameter(f"no metric name in {text!r}; e.g. --metrics fid50k,ppl_wend (see `dmetrics metrics`)",
                                 param_hint="--metrics")
    known = set(list_metrics())
    out = []
    for asked in names:
        base, _, tag = asked.partition("@")
        m = re.fullmatch(r"fid(\d+)(k?)", base)
        if tag and tag not in tags:
            raise click.BadParameter(f"{asked!r}: the @{tag} part is chosen by --extractor, --distance or "
                                     f"--classifier; ask for {base!r} and pass the option (e.g. --extractor {tag})",
                                     param_hint="--metrics")
        if asked in known or (tag and base in known):
            out.append((asked, base, None))
        elif m and "fid50k" in known and int(m.group(1)) > 0:
            out.append((asked, "fid50k", int(m.group(1)) * (1000 if m.group(2) else 1)))
        elif base in ("ls_z", "ls_w") and "ls" in known:
            out.append((asked, "ls", None))
        else:
            raise click.BadParameter(f"unknown metric {asked!r}; known: {', '.join(sorted(known))} "
                                     "(also fidNk, e.g. fid10k, and ls_z/ls_w)", param_hint="--metrics")
    return out


def _paper_count(name: str) -> Optional[int]:
    return next((n for prefix, n in _PAPER_COUNTS if name.startswith(prefix)), None)


def _protocol_check(G: Any, generator: str, no_check: bool) -> str:
    """Validate G once (two samples on the CPU); refuse on a violation unless --no-check."""
    if no_check:
        click.echo("protocol check skipped (--no-check); recorded in every result", err=True)
        return "skipped (--no-check)"
    from disentangle_metrics.protocol import validate_generator
    rep = validate_generator(G)
    if not rep.ok:
        raise click.ClickException(f"{generator} breaks the generator protocol, so its scores would be "
                                   f"meaningless:\n{rep}\nFix the generator, or pass --no-check to score it anyway "
                                   "(recorded in the results).")
    for w in rep.warnings:
        click.echo(f"warning: {w}", err=True)
    return "passed" + (f" with warnings: {'; '.join(rep.warnings)}" if rep.warnings else "")


def _done_keys(out_path: str) -> set[str]:
    from disentangle_metrics.results import read_results
    if not Path(out_path).is_file():
        return set()
    return {r.extras.get("resume_key") for r in read_results(out_path)} - {None}


@click.command("score", epilog=EXAMPLES)
@click.argument("generator")
@click.option("--metrics", "metric_names", required=True,
              help="Comma-separated metric names, e.g. fid50k,ppl_wend,ls (list: `dmetrics metrics`; fid10k and "
                   "ls_z/ls_w are accepted too).")
@click.option("--reference", default=None,
              help="FID reference: a stats .npz (`dmetrics stats`), a dataset (folder, zip, .npy), or testbed "
                   "(the procedural test bed rendered at the generator's resolution).")
@click.option("--classifier", default=None, help="Separability classifier: checkpoint, package.module:factory, or testbed (the shipped test-bed classifier).")
@click.option("--num-samples", type=click.IntRange(min=1), default=None,
              help="Override the paper's generated sample count (quick runs; FID is then named by the count).")
@click.option("--num-real", type=click.IntRange(min=1), default=None,
              help="FID: real images for the reference statistics of a dataset or testbed (default: the paper's 50,000).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
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
@click.option("--code-path", "code_path", multiple=True, type=click.Path(file_okay=False),
              help="Folder prepended to sys.path for a trusted pickle's code (a clone of stylegan2-ada-pytorch, "
                   "stylegan3 or rosinality's stylegan2-pytorch); repeatable.")
@click.option("--truncation-psi", type=float, default=1.0, show_default=True,
              help="Truncation in W for FID-type metrics and PPL; values other than 1 appear in the metric name.")
@click.option("--truncation-cutoff", type=int, default=None, help="Truncate only the layers below this index.")
@click.option("--class-label", type=int, default=None, help="Conditional generators: one fixed class for every sample.")
@click.option("--labels", "labels_path", default=None,
              help="Conditional generators: a labelled dataset (folder/zip with dataset.json, or .npy) whose label "
                   "distribution is drawn from (default: uniform over classes).")
@click.option("--allow-hash-mismatch", is_flag=True,
              help="Use weight files whose sha256 differs from the registry (recorded in the results).")
@click.option("--resume", is_flag=True,
              help="Skip metrics already in --out for the same generator (sha256), configuration and library version.")
@click.option("--no-check", is_flag=True,
              help="Score even when the generator fails the protocol check (recorded in the results).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on stderr.")
@click.option("--nproc", type=int, default=1, show_default=True,
              help="Processes on this machine (relaunches under torchrun; one per GPU).")
def score(generator: str, metric_names: str, reference: str | None, classifier: str | None,
          num_samples: int | None, num_real: int | None, batch_size: int | None, seed: int, device: str,
          extractor: str, distance: str | None, weights_items: tuple[str, ...], out_path: str,
          samples_dir: str | None, ls_backend: str, trust_pickle: bool, code_path: tuple[str, ...],
          truncation_psi: float, truncation_cutoff: int | None, class_label: int | None, labels_path: str | None,
          allow_hash_mismatch: bool, resume: bool, no_check: bool, progress: bool, nproc: int) -> None:
    """Compute METRICS for GENERATOR and append them to the results file.

    GENERATOR is a checkpoint folder or .pt, a package.module:factory, or (with --trust-pickle) a
    pickle. The generator is checked against the protocol first (shapes, range, determinism).
    Under torchrun (detected from its environment variables) every process computes its share of
    the samples and rank 0 writes the results; `--nproc N` starts such a run on this machine.
    """
    if nproc > 1 and not dist_env.launched_by_torchrun():
        _relaunch_under_torchrun(nproc)
    if not metric_names.replace(",", "").strip():
        raise click.BadParameter(f"no metric name in {metric_names!r}; e.g. --metrics fid50k,ppl_wend "
                                 "(see `dmetrics metrics`)", param_hint="--metrics")
    check_device(device)
    weights = _parse_weights(weights_items)
    dist_info = dist_env.init_from_env()
    try:
        G = load_generator(generator, trust_pickle=trust_pickle, device="cpu", code_path=code_path)
        clf = load_object(classifier, trust_pickle=trust_pickle) if classifier else None
    except Exception as exc:  # surfaced as a one-line message naming the file
        raise click.ClickException(f"{type(exc).__name__}: {exc}")
    # parsed after loading: a package.module:factory generator may register metrics when imported
    parsed = _parse_metric_names(metric_names, (extractor, distance, classifier))
    fns = [(asked, name, n_implied, get_metric(name)) for asked, name, n_implied in parsed]
    check = _protocol_check(G, generator, no_check)
    prov = generator_provenance(generator, G)
    try:
        base = ScoreOptions(device=device, seed=seed, batch_size=batch_size, num_samples=num_samples,
                            num_real=num_real, reference=reference, classifier=clf, extractor=extractor,
                            distance=distance, weights=weights, allow_hash_mismatch=allow_hash_mismatch,
                            keep_samples=samples_dir is not None, ls_backend=ls_backend, progress=progress,
                            truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                            class_label=class_label, labels=labels_path)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    done = _done_keys(out_path) if resume else set()
    failed, written, skipped = False, 0, 0
    for asked, name, n_implied, fn in fns:
        if n_implied is not None and num_samples is not None and n_implied != num_samples:
            raise click.BadParameter(f"{asked!r} means {n_implied} samples but --num-samples is {num_samples}",
                                     param_hint="--metrics")
        opts = dataclasses.replace(base, num_samples=n_implied) if n_implied is not None else base
        request = request_config(name, opts, classifier)
        key = resume_key(request, prov["sha256"], disentangle_metrics.__version__)
        if key in done:
            skipped += 1
            click.echo(f"{asked:16s} skipped: already in {out_path} (same generator, configuration and version; "
                       "drop --resume to recompute)")
            continue
        n_used = opts.num_samples
        paper = _paper_count(name)
        if n_used is not None and paper is not None and n_used < paper:
            click.echo(f"note: {asked} with {n_used} samples instead of the paper's {paper}: a quick estimate, "
                       "not comparable with published numbers", err=True)
        try:
            res = fn(G, opts)
        except Exception as exc:  # one metric failing must not lose the others' results
            failed = True
            click.echo(f"{asked:16s} FAILED: {type(exc).__name__}: {exc}", err=True)
            continue
        res.extras.setdefault("generator", generator)
        res.extras.update(generator_sha256=prov["sha256"], generator_files=prov["files"],
                          generator_adapter=prov["adapter"], protocol_check=check, request=request, resume_key=key)
        res.extras.setdefault("world_size", dist_info.world_size)
        if not dist_info.is_main:
            continue
        append_result(out_path, res, samples_dir=samples_dir)
        written += 1
        for k, v in (res.values or {name: res.value}).items():
            shown = f"{v:.4f}" if isinstance(v, float) and math.isfinite(v) else str(v)
            click.echo(f"{k:16s} {shown:>14s}   ({res.num_samples} samples, {res.wall_time_s or 0:.1f} s)")
    if dist_info.is_main:
        if written:
            click.echo(f"{written} result(s) appended to {Path(out_path).resolve()}")
        else:
            reasons = ([f"{skipped} already in {out_path}"] if skipped else []) + (["failures above"] if failed else [])
            click.echo(f"no results written ({', '.join(reasons) or 'nothing to run'})")
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
