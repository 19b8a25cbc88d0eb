"""The image metrics' one request path: validate, one shared pass per side, statistics, named results.

:func:`compute_outcomes` runs any set of rows (:mod:`.rows`: FID, KID, PR, IS, FD_DINOv2, CMMD, PRDC)
on one generated side, a generator, a folder / zip / ``.npz`` of its images or images in memory,
with one pass over the generated images and one over the real images per mirror setting; features
are computed once per extractor (:mod:`..features.extract`). Every guard is here, once, for every
entry point (``dmetrics score`` / ``compare`` / ``demo``, ``dm.*``, the accumulator, the tables):
counts, the reference's kind and resolution (the authors' protocol), stats-file identity,
mirroring. Each row's number and interval come from :func:`.row_stats.row_result`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch

from .._core import distributed
from .._core.device import default_batch_size, describe, metric_precision, resolve_device
from .._core.options import ScoreOptions, count_or_default
from .._core.results import MetricResult, RecordedWarning
from ..features import FeatureExtractor, build_extractor
from ..features import cache as feature_cache
from ..features import extract as FP
from ..features.cache import rank_problem, reference_stats
from ..functional import intervals
from ..functional.frechet import frechet_details
from ..functional.stats import FeatureStats, is_stats_file
from ..generators.sources import GeneratorSource
from .row_stats import row_result
# the rows and their names live in .rows; re-exported because every route reads them through here
from .rows import (  # noqa: F401
    ALL, DEFAULT_EXTRACTOR, FID50K, TABLE, ImageMetric, Kind, _ANCHOR, _HEADLINE, _max_real, _mirror, _stats_mirror,
    _swappable, count_name, count_tag, result_name, weights_for, with_params,
)


def _generated_source(generated: Any, opts: ScoreOptions, device: torch.device) -> Any:
    from ..generators.sources import GeneratorSource, ImageSource, is_image_array, open_source
    image_opts = {k: v for k, v in (("resolution", opts.image_resolution), ("array_key", opts.array_key)) if v is not None}
    if is_image_array(generated):
        if opts.array_key is not None:
            raise ValueError("array_key names an array inside a .npz file; the images were given in memory: drop it")
        return open_source(generated, device=device, image_range=opts.image_range, **image_opts)
    if opts.image_range is not None:
        raise ValueError("image_range applies to float images given in memory (a tensor or array), not to "
                         f"{type(generated).__name__}; drop it")
    if isinstance(generated, (str, os.PathLike)):
        return open_source(generated, device=device, **image_opts)
    if image_opts:   # a generator's images are its own size; an opened source was given its options already
        raise ValueError(f"image_resolution / array_key apply to generated images given as a path (folder, zip, "
                         f"array), not to {type(generated).__name__}; drop them")
    if isinstance(generated, GeneratorSource) and (opts.truncation_psi, opts.truncation_cutoff, opts.class_label,
                                                    opts.labels) != (1.0, None, None, None):
        raise ValueError("got a GeneratorSource and source options (truncation, class_label, labels): set them on "
                         "the source instead")
    if isinstance(generated, (GeneratorSource, ImageSource)):
        return generated
    return open_source(generated, device=device, truncation_psi=opts.truncation_psi,
                       truncation_cutoff=opts.truncation_cutoff, class_label=opts.class_label, labels=opts.labels)


def _real_pass(reference: Any, extractors: dict[str, FeatureExtractor], capture: dict[str, FP.Capture], num: Optional[int],
               mirror: bool, resolution: Optional[int], testbed_resolution: int, seed: int, device: torch.device,
               batch_size: int, progress: bool, source: Optional[Any] = None) -> tuple[dict[str, FP.Features], str]:
    """All real features per extractor: from the feature cache where it has them, else one shared pass.

    ``resolution``: the size the reference's images are brought to (None: each as it is); the test
    bed is rendered at ``testbed_resolution``."""
    if isinstance(reference, str) and reference == "testbed":
        if mirror:
            raise ValueError("reference='testbed' has no mirror option; drop mirror")
        n, src = (50_000 if num is None else num), None
        resolution = testbed_resolution
        batches = FP.testbed_batches(n, resolution, batch_size, device)
        what, desc = "real features (testbed)", f"testbed at {resolution}x{resolution} (first {n} images, default config)"
    else:
        src = source if source is not None else open_reference_images(reference)   # its listing keys the cache
        n, batches = FP.dataset_batches(src, num, resolution=resolution, mirror=mirror, seed=seed,
                                        batch_size=batch_size, device=device)
        what, desc = f"real features {Path(reference).name}", f"dataset {reference} ({n} images{', mirrored' if mirror else ''})"
    me = distributed.info()
    paths = feature_cache.cache_paths(reference, extractors, n, resolution, mirror, seed, source=src)

    def from_cache(e: str) -> Optional[FP.Features]:
        t = feature_cache.load_features(paths[e], n, extractors[e].feature_dim, device)
        return None if t is None else FP.Features(all=t, count=n, cache_file=str(paths[e]), cached=True)

    # rank 0 decides, so every process takes part in the same collective pass
    out = {e: f for e in paths if paths[e] is not None and me.is_main and (f := from_cache(e)) is not None}
    for e in distributed.broadcast_object(sorted(out)):
        if e not in out:
            out[e] = from_cache(e)
            if out[e] is None:
                raise RuntimeError(f"{paths[e]}: rank {me.rank} cannot read the cached real features rank 0 read")
    todo = {e: x for e, x in extractors.items() if e not in out}
    if todo:
        got = FP.collect(batches, todo, {e: capture[e] for e in todo}, n, device, progress, what)
        for e, f in got.items():
            if paths[e] is not None and f.all is not None:
                if me.is_main:
                    feature_cache.save_features(paths[e], f.all)
                f.cache_file = str(paths[e])
        out.update(got)
    return out, desc


def open_reference_images(reference: Any) -> Optional[Any]:
    """The reference's :class:`~..data.images.ImageSource` when it is a dataset path (folder, zip, array
    file), else None (the test bed, a stats file, FeatureStats). A request opens it once: its listing
    (and the warnings listing gives, such as skipped hidden entries) is shared by every step."""
    if not isinstance(reference, (str, os.PathLike)) or str(reference) == "testbed" or is_stats_file(reference):
        return None
    from ..data.images import open_source
    return open_source(Path(reference))


def real_sides(rows: Sequence[tuple[ImageMetric, str]], extractors: dict[str, FeatureExtractor], opts: ScoreOptions,
               device: torch.device, resolution: Optional[int], testbed_resolution: Optional[int], batch_size: int,
               ref_source: Optional[Any] = None) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The real side of each (row, extractor name) in ``rows``, for every route (compute, the accumulator).

    FID-type rows take reference statistics (:func:`..features.cache.reference_stats`: cached dataset
    statistics, or a stats file checked against the run), one per (extractor, mirroring, count); the
    others the per-image features of one shared pass per mirror setting (rows with different real
    counts take slices of it). Returns ({row name: (features by extractor, description) or the
    exception that row met}, {row name: rank-deficiency notes of its reference}). ``ref_source``: the
    reference dataset already opened (:func:`open_reference_images`); else it is opened here, once.
    """
    if ref_source is None and rows:
        try:
            ref_source = open_reference_images(opts.reference)
        except Exception as exc:     # every row that needs the reference fails with its reason
            return {m.name: exc for m, _ in rows}, {}
    out: dict[str, Any] = {}
    notes: dict[str, list[str]] = {}
    fid_refs: dict[tuple, tuple[FeatureStats, str]] = {}
    for m, e in [(m, e) for m, e in rows if m.kind == "fid"]:
        key = (e, _stats_mirror(m, opts), _max_real([m], opts))
        try:
            if key not in fid_refs:
                fid_refs[key] = reference_stats(opts.reference, extractors[e], device, resolution=resolution,
                                                num_real=key[2], mirror=key[1], seed=opts.seed,
                                                progress=opts.progress, check_resolution=resolution is not None,
                                                source=ref_source)
            ref, rdesc = fid_refs[key]
            problem = ref.count_known and rank_problem(ref.count, ref.dim, f"reference ({rdesc})")
            if problem:
                notes.setdefault(m.name, []).append(problem)
            out[m.name] = ({e: FP.Features(stats=ref, count=ref.count)}, rdesc)
        except Exception as exc:
            out[m.name] = exc
    others = [(m, e) for m, e in rows if m.kind != "fid"]
    for mirror in sorted({_mirror(m, opts) for m, _ in others}):
        group = [(m, e) for m, e in others if _mirror(m, opts) == mirror]
        used = {e: extractors[e] for _, e in group}
        caps = {e: FP.Capture(all=True) for e in used}
        try:
            side = _real_pass(opts.reference, used, caps, _max_real([m for m, _ in group], opts), mirror, resolution,
                              testbed_resolution, opts.seed, device, batch_size, opts.progress, ref_source)
        except Exception as exc:
            side = exc
        for m, _ in group:
            out[m.name] = side
    return out, notes


def load_stats_reference(reference: Any, device: Any) -> Optional[FeatureStats]:
    """``reference`` as FeatureStats when it is one or a stats .npz (mu, sigma), else None (images)."""
    if isinstance(reference, FeatureStats):
        return reference
    if isinstance(reference, (str, os.PathLike)) and is_stats_file(reference):
        return FeatureStats.load(reference, device=device)
    return None


def compute(generated: Any, metrics: Sequence[ImageMetric], opts: ScoreOptions) -> list[MetricResult]:
    """Every row of ``metrics`` on ``generated`` in one shared pass; raises the first row's failure
    (:func:`compute_outcomes` keeps the others)."""
    out = compute_outcomes(generated, metrics, opts)
    for o in out:
        if isinstance(o, Exception):
            raise o
    return out  # type: ignore[return-value]


def compute_outcomes(generated: Any, metrics: Sequence[ImageMetric],
                     opts: ScoreOptions) -> list[Union[MetricResult, Exception]]:
    """Every row of ``metrics`` on ``generated`` (generator, image path, in-memory images or source) in
    one shared pass: a result per row, or the exception that row alone met (a missing weights file
    fails only the rows whose extractor needs it).

    The request's guards run first, for every entry point: counts, the reference (present, of the
    kind the rows need, at the run's resolution by the authors' protocol, stats files matching the
    run), mirroring. ``opts.num_samples`` replaces the generated count (the names then carry it),
    ``opts.num_real`` caps the real count, ``opts.mirror`` flips the reals of the legacy rows (a
    ``_full`` row refuses it), ``opts.extractor`` replaces FID's and KID's Inception (named
    ``@extractor``), ``opts.weights`` maps an extractor or weights name to a file.
    ``opts.reference_at_own_size`` scores each side at its own size (``compare``, like pytorch-fid,
    torch-fidelity and clean-fid) instead of bringing the reference to the generated resolution.
    """
    import warnings
    t0 = time.perf_counter()
    dev = resolve_device(opts.device)
    if not metrics:
        return []
    src = _generated_source(generated, opts, dev)
    num_gen = count_or_default(opts.num_samples, max(m.num_gen for m in metrics), "num_samples")
    if getattr(src, "num_available", None) is not None and src.num_available < num_gen:
        raise ValueError(f"{num_gen} generated images needed but {getattr(src, 'path', 'the source')} holds "
                         f"{src.num_available}; pass a smaller num_samples (--num-samples)")
    outcome: dict[str, Union[MetricResult, Exception, None]] = {m.name: None for m in metrics}
    need_real = [m for m in metrics if m.max_real != 0]
    _check_reference(need_real, opts, outcome)       # before generating anything
    real_res = None if opts.reference_at_own_size else src.resolution
    ref_source = open_reference_images(opts.reference) if need_real else None   # listed once per request
    protocol = reference_protocol(opts.reference, real_res, ref_source) if need_real else None
    given = opts.extractor if isinstance(opts.extractor, FeatureExtractor) else None   # a built extractor
    chosen = getattr(given, "registry_name", type(given).__name__) if given is not None else opts.extractor
    # the extractor option replaces Inception in FID and KID; the rows of other feature spaces keep theirs
    ext_of = {m.name: (chosen or m.extractor) if _swappable(m) else m.extractor for m in metrics}
    extra = {"allow_hash_mismatch": True} if opts.allow_hash_mismatch else {}
    extractors: dict[str, FeatureExtractor] = {chosen: given} if given is not None else {}
    for e in dict.fromkeys(ext_of[m.name] for m in metrics if outcome[m.name] is None):
        if e in extractors:
            continue
        try:
            extractors[e] = build_extractor(e, weights=weights_for(e, opts.weights), device=dev, **extra)
        except Exception as exc:     # this extractor's rows fail with its reason; the others go on
            for m in metrics:
                if ext_of[m.name] == e and outcome[m.name] is None:
                    outcome[m.name] = exc
    live = [m for m in metrics if outcome[m.name] is None]
    if not live:
        return [outcome[m.name] for m in metrics]  # type: ignore[misc]
    gen_cap = {e: FP.Capture() for e in extractors}
    for m in live:
        c = gen_cap[ext_of[m.name]]
        c.stats |= m.kind == "fid"
        c.all |= m.kind != "fid"
        if m.kind == "fid":     # the jackknife groups of the interval, filled in the same pass
            c.groups = intervals.FID_GROUPS
    gen_cap = {e: c for e, c in gen_cap.items() if c.stats or c.all}
    bs = count_or_default(opts.batch_size, default_batch_size(dev, cpu=8, cuda=64), "batch_size")
    rank_notes: dict[str, list[str]] = {m.name: [] for m in live}
    for m in live:                     # a degenerate covariance gives a value that says so (as the peers give one)
        if m.kind == "fid":
            problem = rank_problem(num_gen, extractors[ext_of[m.name]].feature_dim, "generated images")
            if problem:
                rank_notes[m.name].append(problem)
    used_ext = {e: extractors[e] for e in gen_cap}
    with metric_precision(), torch.inference_mode():
        gen = FP.collect(FP.source_batches(src, num_gen, bs, opts.seed), used_ext, gen_cap, num_gen, dev,
                         opts.progress, "generated features", batch_size=bs)
        t_gen = time.perf_counter()
        rows = [(m, ext_of[m.name]) for m in live if m.max_real != 0 and outcome[m.name] is None]
        sides, ref_notes = real_sides(rows, extractors, opts, dev, real_res, src.resolution, bs, ref_source)
        for name, side in sides.items():
            if isinstance(side, Exception):
                outcome[name] = side
        for name, notes in ref_notes.items():
            rank_notes[name] += notes
        t_real = time.perf_counter()
        for m in live:
            if outcome[m.name] is not None:
                continue
            t1 = time.perf_counter()
            e = ext_of[m.name]
            try:
                real_side = sides.get(m.name)
                res = row_result(m, gen[e], real_side, e, extractors[e], num_gen, opts, dev)
            except Exception as exc:
                outcome[m.name] = exc
                continue
            finish_result(res, m, num_gen, e, extractors[e], src.name_tags(), real_side)
            res.config.update(num_gen=num_gen, batch_size=bs, extractor=e, generated=src.describe(),
                              constants=dict(m.params), full=m.full, anchor_row=m.name,
                              reference_size="own size (each set as it is)" if opts.reference_at_own_size
                              else f"{src.resolution}x{src.resolution}")
            if isinstance(src, GeneratorSource):   # what the generator ran with, as its authors' FID code runs it
                res.config.update(truncation_psi=src.truncation_psi, truncation_cutoff=src.truncation_cutoff,
                                  noise_mode="random", labels=src.label_policy.describe())
            res.seed, res.num_samples, res.device = opts.seed, num_gen, describe(dev)
            res.wall_time_s = time.perf_counter() - t1
            res.extras.update(shared_generate_s=t_gen - t0, shared_real_s=t_real - t_gen,
                              images_per_s=num_gen / max(t_gen - t0, 1e-9), shared_with=[x.name for x in metrics])
            if m.max_real != 0 and protocol:
                res.extras["reference_resized"] = protocol
            if rank_notes.get(m.name):
                res.extras["rank_deficient"] = rank_notes[m.name]
                for note in rank_notes[m.name]:
                    warnings.warn(f"{res.metric}: {note}", RecordedWarning, stacklevel=2)
            outcome[m.name] = res
    return [outcome[m.name] for m in metrics]  # type: ignore[misc]


def fid_from_stats(generated: Any, reference: Any, device: Any = "cpu") -> MetricResult:
    """FID between two statistics files or FeatureStats (``compare A.npz B.npz``), after the checks a
    pass over images would make: both from the same extractor and weights (else a ValueError naming
    both), a full-rank covariance or a recorded rank deficiency. Each side is taken as it was
    computed, as ``compare`` takes image sets: differing image sizes are recorded, and warned about.
    Named ``fid<N>_full[@extractor]`` by the generated count when the file records it."""
    import warnings
    sides = []
    for what, obj in (("generated", generated), ("reference", reference)):
        st = load_stats_reference(obj, device)
        if st is None:
            raise ValueError(f"{obj} is not a statistics file: compare two statistics files, or two image sets "
                             "(make statistics with `dmetrics stats SET --out SET.npz`)")
        sides.append((what, obj, st))
    (_, ga, g), (_, ra, r) = sides
    gi, ri = dict(g.info), dict(r.info)
    for key, label in (("extractor", "extractor"), ("weights_sha256", "weights (sha256)")):
        a, b = gi.get(key), ri.get(key)
        if a is not None and b is not None and a != b:
            raise ValueError(f"{ga} was computed with {label} {a} but {ra} with {b}: a Frechet distance between "
                             "two feature spaces means nothing; recompute one with `dmetrics stats --extractor ...`")
    if g.dim != r.dim:
        raise ValueError(f"{ga} holds {g.dim}-d statistics but {ra} {r.dim}-d: they come from different extractors")
    ext = gi.get("extractor") or ri.get("extractor") or "unknown"
    notes: list[str] = []
    sizes = [s.get("image_resolution") or s.get("resolution") for s in (gi, ri)]
    if None not in sizes and "None" not in sizes and sizes[0] != sizes[1]:
        notes.append(f"the statistics come from {sizes[0]}px and {sizes[1]}px images, each scored at its own size "
                     "(as compare scores image sets)")
    for what, obj, st in sides:
        problem = st.count_known and rank_problem(st.count, st.dim, f"{what} ({obj})")
        if problem:
            notes.append(problem)
    for note in notes:
        warnings.warn(note, RecordedWarning, stacklevel=2)
    det = frechet_details(g.mean(), g.cov(), r.mean(), r.cov(), device=device)
    name = result_name(TABLE["fid50k_full"], g.count, ext, []) if g.count_known else \
        ("fid_full" if ext == DEFAULT_EXTRACTOR else f"fid_full@{ext}")
    weights = {k: v for k, v in (("weights_sha256", gi.get("weights_sha256")),) if v}
    res = MetricResult(metric=name, value=det.distance, values={name: det.distance},
                       config=dict(generated=str(ga), reference=str(ra), extractor=ext, generated_info=gi,
                                   reference_info=ri, num_real=r.count if r.count_known else None),
                       num_samples=g.count if g.count_known else None, weights=weights,
                       extras=dict(frechet=det.as_dict(), interval="no interval: statistics files hold no per-sample "
                                   "features to resample", **({"notes": notes} if notes else {})))
    return res


def finish_result(res: MetricResult, m: ImageMetric, num_gen: int, e: str, ext: FeatureExtractor,
                  tags: Sequence[str], real_side: Any) -> MetricResult:
    """Name a row's result by the count used, its extractor and tags (:func:`result_name`); key its values
    and intervals by that name; make the headline interval the result's own; record the weights and
    the real-feature cache it used. One rule for every route (compute, the accumulator)."""
    if m.kind != "fid" and real_side is not None:
        rf = real_side[0][e]
        res.extras.update(real_features_cache=rf.cache_file, real_features_cached=rf.cached)
    name = result_name(m, num_gen, e, tags)
    res.metric = name
    head, at, tag = name.partition("@")     # kid50k_full_std@testbed: the suffix before the tags
    res.values = {head + k + at + tag: v for k, v in res.values.items()}
    ivs, res.intervals = res.intervals, {}    # _one keys them by suffix ('', '_precision', ...)
    for k, iv in ivs.items():
        res.add_interval(head + k + at + tag, intervals.Interval(**iv))
    headline = ivs.get(_HEADLINE[m.kind])
    if headline is not None:   # the headline value (IS mean, precision) is one of the values
        res.stderr, res.ci95, res.ci_method = headline["stderr"], [headline["low"], headline["high"]], \
            headline["method"]
    res.weights = {ext.weights_name: ext.weights_sha256} if ext.weights_name and ext.weights_sha256 else {}
    return res


def reference_protocol(reference: Any, resolution: Optional[int], source: Optional[Any] = None) -> Optional[str]:
    """How a dataset reference meets the generated ``resolution``, by the authors' protocol.

    Images of that size: used as they are (None). Square images a power-of-two multiple of it:
    2x2 box-filtered down, as StyleGAN v1's dataset_tool built its lower resolutions (the returned
    text is recorded in each result). Anything else (upscaling, a non-power-of-two factor,
    non-square images) is refused, as stylegan2-ada-pytorch's calc_metrics refuses a dataset whose
    resolution differs from the generator's. ``resolution=None`` (compare): each set at its own size.
    ``source``: the reference already opened (:func:`open_reference_images`).
    """
    if resolution is None:
        return None
    src = source if source is not None else open_reference_images(reference)
    if src is None:          # the test bed, a stats file, FeatureStats: no images to bring to size
        return None
    h, w = src.read(0).shape[:2]
    if h == w == resolution:
        return None
    k = h // resolution
    if h == w and h % resolution == 0 and k & (k - 1) == 0:
        return (f"the reference's {h}x{w} images are 2x2 box-filtered {k.bit_length() - 1} time(s) to "
                f"{resolution}x{resolution}, as StyleGAN v1's dataset_tool built its lower resolutions")
    raise ValueError(f"the reference's images are {h}x{w} (its first image) but the generated ones are "
                     f"{resolution}x{resolution}: the authors' protocol uses the dataset at the generator's "
                     "resolution (or a power-of-two multiple, box-filtered). Export the dataset at that size, or "
                     f"make statistics with an explicit resize (`dmetrics stats REF --resolution {resolution} --out "
                     "ref.npz`), or compare the two image sets each as it is with `dmetrics compare`")


def _check_reference(need_real: Sequence[ImageMetric], opts: ScoreOptions,
                     outcome: dict[str, Union[MetricResult, Exception, None]]) -> None:
    """The request's reference guards: a missing reference or a mirror option a row refuses fails the
    request; a statistics file fails only the rows that need per-image features (KID, PR)."""
    for m in need_real:
        _mirror(m, opts)
    if need_real and opts.reference is None:
        raise ValueError(f"{', '.join(m.name for m in need_real)} need real images: pass reference= (a dataset "
                         "folder, zip or .npz of images; FID also takes a stats .npz, made with `dmetrics stats "
                         "DATASET --out stats.npz`)")
    if load_stats_reference(opts.reference, "cpu") is not None:
        for m in need_real:
            if m.kind != "fid":
                outcome[m.name] = ValueError(f"{m.name} needs real images, not a statistics file ({opts.reference}): "
                                             "pass the dataset (folder, zip, .npz of images) as the reference")


def _register(row: ImageMetric) -> None:
    from .registry import MetricInfo, register_metric

    def metric(G: Any, opts: ScoreOptions) -> MetricResult:
        return compute(G, [row], opts)[0]
    metric.__doc__ = f"{row.name}: {row.what}."
    real = "-" if row.max_real == 0 else ("all" if row.max_real is ALL else f"up to {row.max_real:,}")
    needs = "images (generator, or folder/zip/.npz or array of its images)" + (
        "" if row.max_real == 0 else " + real dataset" + (" or its stats .npz" if row.kind == "fid" else ""))
    if not row.full:
        real += " (the dataset's mirror setting: --mirror)"
    register_metric(row.name, MetricInfo(row.what, f"{row.num_gen // 1000}k", real, needs,
                                           row.anchor or _ANCHOR[row.kind]))(metric)


for _row in (FID50K, *TABLE.values()):
    _register(_row)
