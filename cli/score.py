"""`dmetrics score`: run registered metrics on a generator and append the results file."""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path
from typing import Any, Optional

import click

import disentangle_metrics
from disentangle_metrics._core import distributed as dist_env
from disentangle_metrics._core.options import ScoreOptions
from disentangle_metrics.metrics.registry import list_metrics, metric_info, resolve_name
from disentangle_metrics.generators.sources import is_image_path
from disentangle_metrics.metrics.scoring import score_iter
from disentangle_metrics._core.results import format_value

from .loading import load_generator, load_object, resolve_generator_spec
from .options import check_device
from .output import (
    ResultWriter, check_out_file, fewer_than_paper_note, interrupted_text, notes_from_results, result_notes,
    time_text,
)
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

def _parse_weights(items: tuple[str, ...]) -> dict[str, str]:
    from disentangle_metrics._core import weights as W
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


def _parse_metric_names(text: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(name as asked, registered name, ScoreOptions overrides the name implies) per comma-separated name.

    Names are resolved by :func:`~disentangle_metrics.metrics.registry.resolve_name`: registered names and
    the names results carry (``fid10k``, ``kid10k_full``, ``fid50k@testbed``, ``ppl_wend@testbed-lpips``,
    ``ls_z``/``ls_w``).
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise click.BadParameter(f"no metric name in {text!r}; e.g. --metrics fid50k,ppl_wend (see `dmetrics metrics`)",
                                 param_hint="--metrics")
    out = []
    for asked in names:
        try:
            base, over = resolve_name(asked)
        except KeyError as exc:
            raise click.BadParameter(str(exc.args[0]), param_hint="--metrics") from None
        out.append((asked, base, over))
    return out


def _protocol_check(G: Any, generator: str, no_check: bool) -> str:
    """Validate G once (two samples on the CPU); refuse on a violation unless --no-check."""
    if no_check:
        click.echo("protocol check skipped (--no-check); recorded in every result", err=True)
        return "skipped (--no-check)"
    from disentangle_metrics.generators.protocol import validate_generator
    rep = validate_generator(G)
    if not rep.ok:
        raise click.ClickException(f"{generator} breaks the generator protocol, so its scores would be "
                                   f"meaningless:\n{rep}\nFix the generator, or pass --no-check to score it anyway "
                                   "(recorded in the results).")
    for w in rep.warnings:
        click.echo(f"warning: {w}", err=True)
    return "passed" + (f" with warnings: {'; '.join(rep.warnings)}" if rep.warnings else "")


def _done_keys(out_path: str) -> set[str]:
    from disentangle_metrics._core.results import read_results
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
              help="Override the paper's generated sample count (quick runs; the name then carries the count).")
@click.option("--num-real", type=click.IntRange(min=1), default=None,
              help="FID/KID/PR: real images for the reference statistics of a dataset or testbed "
                   "(default: the metric's, e.g. 50,000 for fid50k).")
@click.option("--mirror/--no-mirror", default=None, help="FID/KID/PR legacy names: random x-flips of the reals.")
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
@click.option("--resamples", type=click.IntRange(min=0), default=None,
              help="Bootstrap resamples of the PPL and separability 95% intervals (default 1000 for PPL, 20 SVM "
                   "refits for ls; 0: no interval, else at least 2).")
@click.option("--trust-pickle", is_flag=True, help="Allow loading pickles (runs code from the file).")
@click.option("--code-path", "code_path", multiple=True, type=click.Path(file_okay=False),
              help="Folder prepended to sys.path for a trusted pickle's code (a clone of stylegan2-ada-pytorch, "
                   "stylegan3 or rosinality's stylegan2-pytorch); repeatable.")
@click.option("--truncation-psi", type=float, default=1.0, show_default=True,
              help="Truncation in W for FID-type metrics and PPL; values other than 1 appear in the metric name.")
@click.option("--truncation-cutoff", type=int, default=None, help="Truncate only the layers below this index.")
@click.option("--class-label", type=int, default=None, help="Conditional generators: one fixed class for every sample (the metric name gains @class<k>).")
@click.option("--labels", "labels_path", default=None,
              help="Conditional generators: a labelled dataset (folder/zip with dataset.json, or .npy) whose label "
                   "distribution is drawn from (default: uniform over classes).")
@click.option("--allow-hash-mismatch", is_flag=True,
              help="Use weight files whose sha256 differs from the registry (recorded in the results).")
@click.option("--resume", is_flag=True,
              help="Skip metrics already in --out for the same generator (sha256), configuration and library version.")
@click.option("--no-check", is_flag=True,
              help="Score even when the generator fails the protocol check (recorded in the results).")
@click.option("--resolution", "image_resolution", type=click.IntRange(min=1), default=None,
              help="GENERATOR given as images: resize each to RxR first (box filter for power-of-two downscales, "
                   "else Lanczos; non-square images are stretched).")
@click.option("--array-key", default=None, help="GENERATOR given as a .npz holding several arrays: the one to score.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on stderr.")
@click.option("--nproc", type=int, default=1, show_default=True,
              help="Processes on this machine (relaunches under torchrun; one per GPU).")
def score(generator: str, metric_names: str, reference: str | None, classifier: str | None,
          num_samples: int | None, num_real: int | None, mirror: bool | None, batch_size: int | None, seed: int,
          device: str, extractor: str, distance: str | None, weights_items: tuple[str, ...], out_path: str,
          samples_dir: str | None, ls_backend: str, resamples: int | None, trust_pickle: bool, code_path: tuple[str, ...],
          truncation_psi: float, truncation_cutoff: int | None, class_label: int | None, labels_path: str | None,
          allow_hash_mismatch: bool, resume: bool, no_check: bool, image_resolution: int | None, array_key: str | None,
          progress: bool, nproc: int) -> None:
    """Compute METRICS for GENERATOR and append them to the results file.

    GENERATOR is a checkpoint folder or .pt, a package.module:factory, or (with --trust-pickle) a
    pickle; it is checked against the protocol first (shapes, range, determinism). It may also be a
    folder, zip or .npz of generated images for the image-only metrics (fid*, kid*, pr*, is*);
    asked together, those share one pass over the images.

    Under torchrun (detected from its environment variables) every process computes its share of
    the samples and rank 0 writes the results; `--nproc N` starts such a run on this machine.
    """
    if nproc > 1 and not dist_env.launched_by_torchrun():
        _relaunch_under_torchrun(nproc)
    if not metric_names.replace(",", "").strip():
        raise click.BadParameter(f"no metric name in {metric_names!r}; e.g. --metrics fid50k,ppl_wend "
                                 "(see `dmetrics metrics`)", param_hint="--metrics")
    check_device(device)
    check_out_file(out_path)     # before hours of compute, not after
    weights = _parse_weights(weights_items)
    dist_info = dist_env.init_from_env()
    images_only = is_image_path(generator)
    if not images_only and (image_resolution is not None or array_key is not None):
        raise click.BadParameter(f"--resolution and --array-key apply to generated images (a folder, zip or .npz/.npy); "
                                 f"{generator} is a generator, whose images have its own size")
    try:   # a folder / zip / .npz of images is the generated side of the image-only metrics
        loaded_from = generator if images_only else _resolve(generator)
        G = generator if images_only else load_generator(loaded_from, trust_pickle=trust_pickle, device="cpu",
                                                         code_path=code_path)
        clf = load_object(classifier, trust_pickle=trust_pickle) if classifier else None
    except Exception as exc:  # surfaced as a one-line message naming the file
        raise click.ClickException(f"{type(exc).__name__}: {exc}")
    # parsed after loading: a package.module:factory generator may register metrics when imported
    parsed = _parse_metric_names(metric_names)
    check = "not applicable (generated images)" if images_only else _protocol_check(G, generator, no_check)
    prov = generator_provenance(loaded_from, G)
    try:
        base = ScoreOptions(device=device, seed=seed, batch_size=batch_size, num_samples=num_samples,
                            num_real=num_real, mirror=mirror, reference=reference, classifier=clf,
                            extractor=extractor, distance=distance, weights=weights,
                            allow_hash_mismatch=allow_hash_mismatch, keep_samples=samples_dir is not None,
                            ls_backend=ls_backend, resamples=resamples, progress=progress, truncation_psi=truncation_psi,
                            truncation_cutoff=truncation_cutoff, class_label=class_label, labels=labels_path,
                            image_resolution=image_resolution, array_key=array_key)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    done = _done_keys(out_path) if resume else set()
    skipped = 0
    todo: dict[str, tuple[dict, str]] = {}   # name asked -> (request, resume key)
    for asked, name, over in parsed:
        for k, v in over.items():   # a name that implies an option (fid10k, fid50k@testbed) must agree with it
            given = getattr(base, k)
            if given is not None and given != v and not (k == "extractor" and given == ScoreOptions.extractor):
                raise click.BadParameter(f"{asked!r} means {k}={v!r} but --{k.replace('_', '-')} is {given!r}",
                                         param_hint="--metrics")
        opts = dataclasses.replace(base, **over)
        request = request_config(name, opts, classifier)
        key = resume_key(request, prov["sha256"], disentangle_metrics.__version__)
        if key in done:
            skipped += 1
            click.echo(f"{asked:16s} skipped: already in {out_path} (same generator, configuration and version; "
                       "drop --resume to recompute)")
            continue
        note = fewer_than_paper_note(name, opts.num_samples, shown=asked)
        if note:
            click.echo(note, err=True)
        todo[asked] = (request, key)
    failed = False
    writer = ResultWriter(out_path)
    finished: list[str] = []
    try:
        failed = _run_and_write(G, todo, base, generator, prov, check, dist_info, writer, samples_dir, finished)
    except KeyboardInterrupt:
        if dist_info.is_main:
            writer.report()
            click.echo(interrupted_text(writer.written, out_path, finished, [a for a in todo if a not in finished],
                                        sys.argv), err=True)
        sys.exit(130)
    if dist_info.is_main:
        if writer.written or writer.saved:
            writer.report()
        else:
            reasons = ([f"{skipped} already in {out_path}"] if skipped else []) + (["failures above"] if failed else [])
            click.echo(f"no results written ({', '.join(reasons) or 'nothing to run'})")
    sys.exit(1 if failed or writer.saved else 0)


def _run_and_write(G: Any, todo: dict[str, tuple[dict, str]], base: ScoreOptions, generator: str, prov: dict,
                   check: str, dist_info: Any, writer: ResultWriter, samples_dir: Optional[str],
                   finished: list[str]) -> bool:
    """Compute every metric of ``todo``, record each (``writer``), print its values; True when one failed.

    ``finished`` gets each metric name once its result is written, so an interrupt can say what is saved.
    """
    failed = False
    with notes_from_results():   # a finding the result records is printed from it below, once
        for asked, res in score_iter(G, list(todo), base):   # FID/KID/PR/IS share one pass over the images
            request, key = todo[asked]
            if isinstance(res, Exception):  # one metric failing must not lose the others' results
                failed = True
                click.echo(f"{asked:16s} FAILED: {type(res).__name__}: {res}", err=True)
                continue
            res.extras.setdefault("generator", generator)
            if prov["spec"] != generator:   # a training run folder: the checkpoint file it stood for
                res.extras["generator_resolved"] = prov["spec"]
            res.extras.update(generator_sha256=prov["sha256"], generator_files=prov["files"],
                              generator_adapter=prov["adapter"], protocol_check=check, request=request, resume_key=key)
            res.extras.setdefault("world_size", dist_info.world_size)
            if not dist_info.is_main:
                continue
            writer.add(res, samples_dir=samples_dir)
            finished.append(asked)
            for line in result_notes(res):
                click.echo(line, err=True)
            for k, v in (res.values or {asked: res.value}).items():
                shown = format_value(res, k, fmt=".4f") if isinstance(v, float) and math.isfinite(v) else str(v)
                click.echo(f"{k:16s} {shown:>14s}   ({res.num_samples} samples, {time_text(res)})")
    return failed


def _resolve(generator: str) -> str:
    """The checkpoint GENERATOR stands for (a run folder: its latest checkpoint), saying so when it differs."""
    loaded_from, note = resolve_generator_spec(generator)
    if note:
        click.echo(note, err=True)
    return loaded_from


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
           "-m", f"{__package__}.main", *argv]
    click.echo(f"launching: {' '.join(cmd[2:])}", err=True)
    os.execv(sys.executable, cmd)


@click.command("metrics")
@click.option("--names", "names_only", is_flag=True, help="Only the names, one a line.")
@click.option("--extractors", "show_extractors", is_flag=True, help="List the feature extractors instead.")
def metrics_cmd(names_only: bool, show_extractors: bool) -> None:
    """Describe every registered metric: what it computes, default counts, what it needs.

    Also accepted: another generated count (fid10k, kid10k_full, pr10k3, is10k), an extractor
    suffix on FID/KID (fid50k@testbed) and ls_z / ls_w (both computed by ls).
    """
    if show_extractors:
        from disentangle_metrics.features import EXTRACTORS, list_extractors
        for n in list_extractors():
            doc = (EXTRACTORS[n].__doc__ or "").strip().splitlines()
            click.echo(f"{n:28s} {doc[0] if doc else ''}")
        return
    for n in list_metrics():
        info = metric_info(n)
        if names_only or info is None:
            click.echo(n)
            continue
        click.echo(f"{n}\n    {info.what}\n    generated {info.num_gen}, real {info.num_real}; needs {info.needs}"
                   f"\n    anchor: {info.anchor}")
