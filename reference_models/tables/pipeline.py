"""Reproduce the paper's Tables 3 and 4: train every preset, score it, write the report.

For every preset the rows need (:func:`reference_models.tables.paper.presets_needed`) it trains the
generator (or resumes / skips a finished training), computes FID, PPL full/end in Z (and W when the
generator has a mapping network) and separability in Z and W, then writes ``table3.*``,
``table4.*``, ``claims.*`` into ``out`` (see :mod:`reference_models.tables.run` for the folder
layout and :mod:`reference_models.tables.scale` for the scales). Rerunning the same call continues
an interrupted run. ``dmetrics tables`` parses its options and calls :func:`reproduce`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Optional

from .export import export_results
from .paper import presets_needed
from .report import claims_text, git_commit, hardware, write_report
from .run import RunOptions, check_scale_file, finished_presets, run_presets
from .scale import resolve_scale
from .seeds import aggregate, claims_with_confidence, collect_runs, means, real_floor, seed_dir


def reproduce(scale_name: str, out: str, data: Optional[str] = None, classifier: Optional[str] = None,
              kimg: Optional[float] = None, presets: Optional[list[str]] = None, device: str = "auto",
              threads: Optional[int] = None, seed: int = 0, progress: bool = False, report_only: bool = False,
              export: Optional[str] = None, log: Callable[[str], None] = print, seeds: Optional[int] = None,
              load_classifier: Optional[Callable[[str], Any]] = None) -> dict:
    """Run (or continue) the reproduction and write the report; returns the report's frames.

    ``seeds``: train and score every preset with seeds ``seed .. seed + seeds - 1``, each in
    ``out/seed<k>/``; cells become mean +- spread and claims are decided with their confidence
    (:mod:`reference_models.tables.seeds`). None: one seed, in ``out`` itself (the single-seed layout).
    ``load_classifier``: see :class:`~reference_models.tables.run.RunOptions`.
    """
    scale = resolve_scale(scale_name, data=data, classifier=classifier, kimg=kimg)
    out_dir = Path(out)
    wanted = presets or presets_needed()
    unknown = sorted(set(wanted) - set(presets_needed()))
    if unknown:
        raise ValueError(f"presets {unknown} are not used by Tables 3/4; choose from {', '.join(presets_needed())}")
    for line in scale.header_lines():
        log(line)
    if seeds is not None and seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    t0 = time.perf_counter()
    dirs = [(seed, out_dir)] if seeds is None else [(s, seed_dir(out_dir, s)) for s in range(seed, seed + seeds)]
    if seeds is not None:
        check_scale_file(out_dir, scale)
    for s, d in dirs:
        if report_only:
            check_scale_file(d, scale)
        else:
            if seeds is not None:
                log(f"--- seed {s} ({d})")
            run_presets(scale, d, wanted, RunOptions(device=device, threads=threads, seed=s, progress=progress,
                                                              load_classifier=load_classifier), log)
    runs = collect_runs(dirs, presets_needed())
    cells = aggregate(runs)
    measured = means(cells)
    finished = {(s, p): v for s, d in dirs for p, v in finished_presets(d, presets_needed()).items()}
    missing = [f"{p} (seed {s})" for s, _ in dirs for p in presets_needed() if (s, p) not in finished]
    extra = [f"seeds: {', '.join(str(s) for s, _ in dirs)}; cells: mean +- half-width of the 95% t interval over "
             "seeds (run +- mean half-width of the within-run 95% intervals)"]
    floor = real_floor(scale, out_dir)
    if floor is not None:
        extra.append(f"FID floor (real vs real: {scale.fid_num_gen} test-bed images of seed 1 vs the reference's "
                     f"{scale.fid_num_real}): {floor:.4g}")
    extra += [f"runs not finished yet: {', '.join(missing)}"] if missing else []
    if finished:
        t_train = sum(d.get("wall_s_train", 0.0) for d in finished.values())
        t_all = sum(d.get("wall_s_total", 0.0) for d in finished.values())
        extra.append(f"wall time of the sessions that finished the {len(finished)} preset runs: {t_all / 60:.1f} min "
                     f"({t_train / 60:.1f} min training; time spent before a resume is not counted)")
    frames = write_report(out_dir, scale, measured, git_commit(), hardware(), extra, cells=cells,
                          claims=claims_with_confidence(runs))
    log(f"\nwrote table3/table4 (csv, md, tex, png) and claims (csv, md) to {out_dir} "
        f"({time.perf_counter() - t0:.0f} s this session)")
    if scale.name == "smoke":
        log("scale 'smoke' checks the pipeline only: its numbers say nothing about the paper's claims")
    log("the paper's claims in this run:")
    log(claims_text(frames["claims"]))
    if export:
        n = len(export_results(out_dir, Path(export), presets_needed()))
        log(f"copied {n} files (tables, claims, metrics, logs; no checkpoints) to {export}")
    return frames
