"""Train every preset of Tables 3/4 and score it with every metric the tables and claims need.

Layout of the output folder (all writes atomic; a rerun continues where the last one stopped):

- ``scale.json``: the :class:`~reference_models.tables.scale.Scale` of the run; a rerun with another scale is refused.
- ``<preset>/train/``: the trainer's run folder (``latest.pt``, ``log.csv``, ...); an unfinished
  training resumes from ``latest.pt`` (the trainer's ``--resume``).
- ``<preset>/trained.json``: written when training reached ``scale.kimg``.
- ``<preset>/metrics.jsonl``: one :class:`MetricResult` per metric job (``fid``, ``ppl_zfull``,
  ``ppl_zend``, ``ppl_wfull``, ``ppl_wend``, ``ls``; W jobs only with a mapping network), tagged
  ``extras['tables_job']``; a job already in the file is not run again. Each job runs its
  registered metric (``fid`` is ``fid50k``) with :class:`ScoreOptions` holding the scale's counts,
  mirroring, extractor, distance, classifier and keep count (:func:`job_options`).
- ``<preset>/done.json``: every job of the preset finished; the preset is skipped entirely.
- ``<preset>/.lock``: held (``flock``) by the process working on the preset, so processes sharing
  one output folder may be given overlapping presets: a preset another process holds is skipped.
  The lock goes with its process, so a killed run leaves nothing to clean up.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from disentangle_metrics._core.results import MetricResult, append_result, atomic_write_bytes, read_results

from .scale import TESTBED, Scale

TRAINED_FILE = "trained.json"
DONE_FILE = "done.json"
METRICS_FILE = "metrics.jsonl"
SCALE_FILE = "scale.json"
PPL_JOBS = ("ppl_zfull", "ppl_zend", "ppl_wfull", "ppl_wend")   # kept for importers; JOBS below is the list


@dataclass(frozen=True)
class RunOptions:
    """How (not what) to run: device, CPU threads, seed, progress output, how the classifier is loaded.

    ``load_classifier``: turns the scale's classifier spec into a network; None is
    :func:`load_classifier` (``testbed`` or a ``reference_models`` checkpoint). The CLI passes its
    GENERATOR-argument loader so ``--classifier`` accepts what ``dmetrics score --classifier`` does.
    """

    device: str = "auto"
    threads: Optional[int] = None
    seed: int = 0
    progress: bool = False
    load_classifier: Optional[Callable[[str], Any]] = None


def load_classifier(spec: str) -> Any:
    """The separability classifier named by ``spec``: ``testbed`` (when no such file exists) is the
    shipped test-bed classifier; otherwise a ``reference_models`` checkpoint file or folder, read with
    ``torch.load(weights_only=True)`` (no code runs)."""
    from reference_models import load_checkpoint

    if spec == "testbed" and not Path(spec).exists():
        from disentangle_metrics.features.testbed_net import load_testbed_classifier
        return load_testbed_classifier()
    if not Path(spec).exists():
        raise FileNotFoundError(f"classifier {spec!r}: no such file or folder; pass 'testbed' or a reference_models "
                                "checkpoint (e.g. the converted CelebA-HQ classifiers' folder)")
    return load_checkpoint(Path(spec))


def load_trained_generator(checkpoint: Path, device: str) -> Any:
    """G_ema of a checkpoint this pipeline trained, as a protocol generator in eval mode on ``device``."""
    import torch

    from disentangle_metrics.generators.protocol import as_generator
    from reference_models import load_checkpoint

    G = as_generator(load_checkpoint(checkpoint))
    if isinstance(G, torch.nn.Module):
        G = G.to(device).eval().requires_grad_(False)
    return G


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def check_scale_file(out: Path, scale: Scale) -> None:
    """Write ``out/scale.json``, or refuse when it holds a different scale (mixed numbers).

    Every field but the free-text ``note`` must match.
    """
    path = out / SCALE_FILE
    want = scale.to_dict()
    if path.is_file():
        have = json.loads(path.read_text())
        diff = sorted(k for k in set(want) | set(have) if k != "note" and want.get(k) != have.get(k))
        if diff:
            raise ValueError(f"{out} holds a run of another scale (fields {', '.join(diff)} differ in {path}); "
                             "use a new --out folder or the same scale options as before")
        return
    out.mkdir(parents=True, exist_ok=True)
    _write_json(path, want)


def train_config(scale: Scale, preset: str, run_dir: Path, opts: RunOptions) -> Any:
    """The :class:`reference_models.train.TrainConfig` of ``preset`` at ``scale``."""
    from reference_models.train import TrainConfig

    g: dict[str, Any] = {}
    d: dict[str, Any] = {}
    for name in ("fmap_base", "fmap_max"):
        v = getattr(scale, name)
        if v is not None:
            g[name] = d[name] = v
    if scale.latent_size is not None:
        g["latent_size"] = scale.latent_size
    tick = max(0.5, min(4.0, scale.kimg / 10))
    return TrainConfig(
        preset=preset, resolution=scale.resolution, data=scale.dataset, out=str(run_dir), total_kimg=scale.kimg,
        seed=opts.seed, testbed_num=scale.testbed_num if scale.dataset == TESTBED else 10_000,
        mirror=scale.mirror, batch=scale.batch, progressive=scale.progressive,
        g_overrides=g, d_overrides=d, tick_kimg=tick, ckpt_every_kimg=max(tick, min(10.0, scale.kimg / 4)),
        keep_snapshots=False, device=opts.device, threads=opts.threads, **scale.recipe)


def train_preset(scale: Scale, preset: str, preset_dir: Path, opts: RunOptions) -> Path:
    """Train (or resume training) ``preset``; returns the checkpoint holding G_ema."""
    from reference_models.train import train

    run_dir = preset_dir / "train"
    latest = run_dir / "latest.pt"
    marker = preset_dir / TRAINED_FILE
    if marker.is_file() and latest.is_file():
        return latest
    cfg = train_config(scale, preset, run_dir, opts)
    t0 = time.perf_counter()
    trainer = train(cfg, resume=latest.is_file(), progress=opts.progress)
    _write_json(marker, {"preset": preset, "kimg": trainer.progress["nimg"] / 1000,
                         "steps": trainer.progress["step"], "wall_s_last_session": time.perf_counter() - t0})
    return latest


# job (its name in metrics.jsonl, kept for resume) -> (registered metric, needs a mapping network)
JOBS: dict[str, tuple[str, bool]] = {"fid": ("fid50k", False), "ppl_zfull": ("ppl_zfull", False),
                                     "ppl_zend": ("ppl_zend", False), "ppl_wfull": ("ppl_wfull", True),
                                     "ppl_wend": ("ppl_wend", True), "ls": ("ls", False)}


def metric_jobs(has_mapping: bool) -> list[str]:
    """The metric jobs of one preset: W variants only when the generator has a mapping network."""
    return [job for job, (_, needs_w) in JOBS.items() if has_mapping or not needs_w]


def job_options(job: str, scale: Scale, classifier: Any, opts: RunOptions) -> tuple[str, Any]:
    """(registered metric name, ScoreOptions) of one job at ``scale``: its counts and networks."""
    from disentangle_metrics._core.device import resolve_device
    from disentangle_metrics._core.options import ScoreOptions

    if job not in JOBS:
        raise ValueError(f"unknown metric job {job!r}; expected one of {', '.join(JOBS)}")
    name = JOBS[job][0]
    base = dict(device=str(resolve_device(opts.device)), seed=opts.seed, progress=opts.progress)
    if job == "fid":
        return name, ScoreOptions(num_samples=scale.fid_num_gen, num_real=scale.fid_num_real,
                                  reference=scale.fid_reference, extractor=scale.extractor,
                                  mirror=scale.mirror and scale.fid_reference != TESTBED,
                                  batch_size=scale.batch_metrics, **base)
    if job == "ls":
        return name, ScoreOptions(num_samples=scale.ls_samples, num_keep=scale.ls_keep, classifier=classifier,
                                  batch_size=scale.batch_metrics, **base)
    # PPL: the paper's minibatch of 16 pairs (pairs of one minibatch share a noise draw), as the tables always ran it
    return name, ScoreOptions(num_samples=scale.ppl_samples, distance=scale.distance, **base)


def run_metric(job: str, G: Any, scale: Scale, classifier: Any, opts: RunOptions) -> MetricResult:
    """Compute one metric job on ``G`` through the metric registry, with the scale's counts and networks."""
    from disentangle_metrics.metrics.registry import get_metric

    name, score_opts = job_options(job, scale, classifier, opts)
    return get_metric(name)(G, score_opts)


def finished_jobs(metrics_file: Path) -> dict[str, MetricResult]:
    """Job name -> result for every tagged result already in ``metrics_file``."""
    if not metrics_file.is_file():
        return {}
    return {r.extras["tables_job"]: r for r in read_results(metrics_file) if "tables_job" in r.extras}


def values_of(results: dict[str, MetricResult]) -> dict[str, float]:
    """Canonical metric keys (fid, ppl_zfull, ..., ls_z, ls_w) from a preset's job results."""
    out: dict[str, float] = {}
    for job, r in results.items():
        if job == "ls":   # 'ls_z', or 'ls_z@testbed' with a classifier other than the paper's
            out.update({k.split("@")[0]: float(v) for k, v in r.values.items() if k.split("@")[0] in ("ls_z", "ls_w")})
        elif r.value is not None:
            out[job] = float(r.value)
    return out


def score_preset(scale: Scale, preset: str, checkpoint: Path, preset_dir: Path, opts: RunOptions,
                 classifier: Any, log: Callable[[str], None] = print) -> dict[str, float]:
    """Run every unfinished metric job of one preset, appending results; returns its values."""
    from disentangle_metrics._core.device import resolve_device
    from disentangle_metrics.generators.protocol import has_mapping

    G = load_trained_generator(checkpoint, device=str(resolve_device(opts.device)))
    metrics_file = preset_dir / METRICS_FILE
    done = finished_jobs(metrics_file)
    for job in metric_jobs(has_mapping(G)):
        if job in done:
            continue
        t0 = time.perf_counter()
        res = run_metric(job, G, scale, classifier, opts)
        res.samples = {}
        res.extras.update(tables_job=job, preset=preset, scale=scale.name, checkpoint=str(checkpoint))
        append_result(metrics_file, res)
        done[job] = res
        log(f"  {preset} {job}: {res.value if job != 'ls' else res.values} ({time.perf_counter() - t0:.0f} s)")
    return values_of(done)


LOCK_FILE = ".lock"


@contextlib.contextmanager
def preset_lock(preset_dir: Path) -> Iterator[bool]:
    """Hold ``preset_dir/.lock`` while the block runs; yields False when another process holds it."""
    try:
        import fcntl
    except ImportError:   # Windows: no flock; processes must be given disjoint presets
        yield True
        return
    preset_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(preset_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)   # releases the lock


def run_presets(scale: Scale, out: Path, presets: list[str], opts: RunOptions,
                log: Callable[[str], None] = print) -> dict[str, dict[str, float]]:
    """Train and score every preset (skipping finished ones); returns {preset: {metric: value}}."""
    check_scale_file(out, scale)
    if opts.threads is not None:
        import torch
        torch.set_num_threads(opts.threads)
    # Load the classifier before any training so a wrong --classifier fails now, not after weeks.
    pending = [p for p in presets if not (out / p / DONE_FILE).is_file()]
    loader = opts.load_classifier or load_classifier
    classifier = loader(scale.classifier) if pending else None
    measured: dict[str, dict[str, float]] = {}
    for preset in presets:
        preset_dir = out / preset
        done_marker = preset_dir / DONE_FILE
        if done_marker.is_file():
            measured[preset] = values_of(finished_jobs(preset_dir / METRICS_FILE))
            log(f"{preset}: done before, skipped")
            continue
        with preset_lock(preset_dir) as mine:
            if not mine:
                log(f"{preset}: another process is working on it, skipped")
                continue
            if done_marker.is_file():   # finished by another process while we waited for the lock
                measured[preset] = values_of(finished_jobs(preset_dir / METRICS_FILE))
                log(f"{preset}: done by another process, skipped")
                continue
            t0 = time.perf_counter()
            log(f"{preset}: training to {scale.kimg:g} kimg")
            ckpt = train_preset(scale, preset, preset_dir, opts)
            t_train = time.perf_counter() - t0
            measured[preset] = score_preset(scale, preset, ckpt, preset_dir, opts, classifier, log)
            _write_json(done_marker, {"preset": preset, "values": measured[preset],
                                      "wall_s_train": t_train, "wall_s_total": time.perf_counter() - t0})
            log(f"{preset}: done in {time.perf_counter() - t0:.0f} s")
    return measured


def collect(out: Path, presets: list[str]) -> dict[str, dict[str, float]]:
    """Whatever is measured so far (finished or not), for partial tables."""
    return {p: values_of(finished_jobs(out / p / METRICS_FILE)) for p in presets if (out / p / METRICS_FILE).is_file()}


def finished_presets(out: Path, presets: list[str]) -> dict[str, dict[str, Any]]:
    """{preset: contents of its done.json} for every finished preset (wall times, values)."""
    return {p: json.loads((out / p / DONE_FILE).read_text()) for p in presets if (out / p / DONE_FILE).is_file()}
