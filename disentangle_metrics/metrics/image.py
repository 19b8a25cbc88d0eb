"""The image-only metrics (FID, KID, precision/recall, IS): one table row per metric, one shared pass.

Each row holds the constants of stylegan2-ada-pytorch's ``metrics/metric_main.py`` (the anchor;
``_full`` = all real images up to a cap, no x-flips; the legacy names keep the dataset's
mirror setting, here ``ScoreOptions.mirror``). :func:`compute` runs any set of rows on one
generated side, a generator or a folder / zip / ``.npz`` of its images, with one pass over the
generated images and one over the real images per mirror setting; features are computed once per
extractor (:mod:`.feature_pass`). Each row's numbers come from the stand-alone statistics
(:func:`~.kid.kid_from_features`, :func:`~.precision_recall.precision_recall_from_features`,
:func:`~.inception_score.inception_score_from_logits`, :func:`~.frechet.frechet_details`), and each
row its 95% interval (:mod:`.intervals`): FID the jackknife of :func:`~.fid.fid` on groups filled in
the shared pass (equal numbers), KID from its subsets, IS from its splits, precision / recall its
values on 10 disjoint parts of both sides (:func:`~.intervals.pr_interval`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Optional, Sequence, Union

import torch

from .._core import distributed
from ..features import cache as feature_cache
from ..functional import intervals
from ..features import extract as FP
from .._core.device import default_batch_size, describe, metric_precision, resolve_device
from ..features import DEFAULT_EXTRACTOR, FeatureExtractor, build_extractor
from ..features.inception import NVIDIA_WEIGHTS, PYTORCH_FID_WEIGHTS
from ..features.inception_logits import LOGITS_EXTRACTOR
from ..features.cache import rank_problem, reference_stats
from ..functional.frechet import frechet_details
from ..functional.inception_score import inception_score_from_logits
from ..functional.kid import kid_from_features
from ..functional.precision_recall import precision_recall_from_features, precision_recall_parts
from .registry import ScoreOptions, count_or_default
from .._core.results import MetricResult
from ..functional.stats import FeatureStats, is_stats_file
from ..generators.sources import GeneratorSource

ALL = None   # max_real: every real image
Kind = Literal["fid", "kid", "pr", "is", "cmmd", "prdc"]


@dataclass(frozen=True)
class ImageMetric:
    """One metric's constants (stylegan2-ada-pytorch's metric_main.py row)."""

    name: str
    kind: Kind                         # which statistic: FID (Frechet, any extractor), KID, PR, IS, CMMD, PRDC
    num_gen: int
    max_real: Optional[int]            # real images used, at most (ALL: every one); 0: none needed
    full: bool                         # True: x-flips never (the _full metrics)
    extractor: str
    what: str
    params: dict = field(default_factory=dict, hash=False, compare=False)
    substitute: bool = False           # computed with a network other than the anchor's: named name@extractor

    @property
    def needs(self) -> str:
        return "images" if self.max_real == 0 else "images + real images (dataset; FID: or a stats .npz)"


_KID = dict(num_subsets=100, max_subset_size=1000)
# distance blocks: None = the device's default (10000 x 10000 on CUDA as stylegan2-ada; smaller on CPU); block
# sizes change memory and speed, never the answer
_PR = dict(nhood_size=3, row_batch_size=None, col_batch_size=None)
TABLE: dict[str, ImageMetric] = {m.name: m for m in [
    ImageMetric("fid50k_full", "fid", 50_000, ALL, True, DEFAULT_EXTRACTOR,
                "FID, 50k generated vs every real image, no x-flips"),
    ImageMetric("kid50k_full", "kid", 50_000, 1_000_000, True, DEFAULT_EXTRACTOR,
                "KID (cubic-kernel unbiased MMD^2, 100 subsets of 1000), 50k generated vs up to 1M reals", _KID),
    ImageMetric("kid50k", "kid", 50_000, 50_000, False, DEFAULT_EXTRACTOR,
                "KID as kid50k_full, 50k reals (legacy; the dataset's mirror setting)", _KID),
    ImageMetric("pr50k3_full", "pr", 50_000, 200_000, True, "vgg16-nvidia",
                "precision and recall, k=3, NVIDIA VGG16 features, 50k generated vs up to 200k reals", _PR),
    ImageMetric("pr50k3", "pr", 50_000, 50_000, False, "vgg16-nvidia",
                "precision and recall as pr50k3_full, 50k reals (legacy)", _PR),
    ImageMetric("pr50k3_full@vgg16-torchvision", "pr", 50_000, 200_000, True, "vgg16-torchvision",
                "pr50k3_full on torchvision's VGG16 fc2+ReLU (torch-fidelity's features; not the paper's network)",
                _PR, substitute=True),
    ImageMetric("pr50k3@vgg16-torchvision", "pr", 50_000, 50_000, False, "vgg16-torchvision",
                "pr50k3 on torchvision's VGG16 fc2+ReLU (not the paper's network)", _PR, substitute=True),
    ImageMetric("is50k", "is", 50_000, 0, True, LOGITS_EXTRACTOR,
                "Inception Score, 50k generated, 10 splits, 1008 logits without output bias", dict(num_splits=10)),
    # the feature spaces papers report since 2023 (issue 25); FD is FID's computation on DINOv2 features
    ImageMetric("fd_dinov2_50k_full", "fid", 50_000, ALL, True, "dinov2-vitl14",
                "FD_DINOv2: Frechet distance of DINOv2 ViT-L/14 class tokens, EDM2's preprocessing (torch bicubic "
                "+ antialias to 224), 50k generated vs every real image"),
    ImageMetric("fd_dinov2_50k_full@dinov2-vitl14-pil", "fid", 50_000, ALL, True, "dinov2-vitl14-pil",
                "FD_DINOv2 with dgm-eval's preprocessing (PIL bicubic to 224 per image)", substitute=True),
    ImageMetric("cmmd50k_full", "cmmd", 50_000, 1_000_000, True, "clip-vitl14-336",
                "CMMD: biased MMD^2 x 1000, Gaussian RBF (sigma 10) on unit CLIP ViT-L/14@336 embeddings, "
                "50k generated vs up to 1M reals", dict(sigma=10.0, scale=1000.0)),
    ImageMetric("prdc50k5_full", "prdc", 50_000, 50_000, True, "dinov2-vitl14",
                "precision, recall, density, coverage (Naeem et al. 2020, k=5, strict <), DINOv2 features, "
                "50k generated vs up to 50k reals", dict(nearest_k=5)),
]}
# The paper's fid50k: 50k generated vs the first 50k reals (the dataset's mirror setting).
FID50K = ImageMetric("fid50k", "fid", 50_000, 50_000, False, DEFAULT_EXTRACTOR,
                     "the paper's FID, 50k generated vs the first 50k reals")


def _swappable(m: ImageMetric) -> bool:
    """Whether ``ScoreOptions.extractor`` replaces the row's network (FID's and KID's Inception only)."""
    return m.kind in ("fid", "kid") and m.extractor == DEFAULT_EXTRACTOR


def count_name(num_gen: int) -> str:
    """FID's name by the number of generated images: ``fid50k`` for 50,000, ``fid10k``, ``fid2500``
    (FID's bias grows as 1/N, so a name must say how many were used)."""
    return f"fid{count_tag(num_gen)}"


def count_tag(num: int) -> str:
    """``50k`` for 50,000, ``2500`` for 2,500: metric names carry the generated count."""
    return f"{num // 1000}k" if num % 1000 == 0 else str(num)


def result_name(m: ImageMetric, num_gen: int, extractor: str, tags: Sequence[str]) -> str:
    """The row's name with the generated count actually used, extractor and source tags."""
    base = m.name.split("@")[0].replace("50k", count_tag(num_gen), 1)
    parts = [] if (m.substitute or extractor == m.extractor) else [extractor]
    if m.substitute:
        parts = [m.extractor]
    parts += list(tags)
    return base + (f"@{'+'.join(parts)}" if parts else "")


def weights_for(ext_name: str, weights: dict[str, str]) -> Optional[str]:
    """The ``--weights NAME=PATH`` file for extractor ``ext_name``: its own name, or for the Inception
    extractors (features and logits share one network) a registered Inception file name."""
    keys = (ext_name,) + ((PYTORCH_FID_WEIGHTS, NVIDIA_WEIGHTS, DEFAULT_EXTRACTOR)
                          if ext_name in (DEFAULT_EXTRACTOR, LOGITS_EXTRACTOR) else ())
    return next((weights[k] for k in keys if k in weights), None)


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
               batch_size: int, progress: bool) -> tuple[dict[str, FP.Features], str]:
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
        from ..data.images import open_source as open_images
        src = open_images(Path(reference))     # opened once: its listing keys the cache, its images the pass
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


def load_stats_reference(reference: Any, device: Any) -> Optional[FeatureStats]:
    """``reference`` as FeatureStats when it is one or a stats .npz (mu, sigma), else None (images)."""
    if isinstance(reference, FeatureStats):
        return reference
    if isinstance(reference, (str, os.PathLike)) and is_stats_file(reference):
        return FeatureStats.load(reference, device=device)
    return None


def _stats_of(all_feats: torch.Tensor, dim: int, device: torch.device) -> FeatureStats:
    st = FeatureStats(dim, device=device)
    for chunk in all_feats.split(4096):
        st.update(chunk)
    return st


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
    protocol = reference_protocol(opts.reference, real_res) if need_real else None
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
        real: dict[bool, tuple[dict[str, FP.Features], str]] = {}
        # FID rows take their reference statistics from reference_stats: cached dataset statistics, and
        # a stats file checked against the run (extractor, weights, resolution, mirroring)
        fid_refs: dict[tuple, tuple[FeatureStats, str]] = {}
        for m in [m for m in live if m.max_real != 0 and m.kind == "fid"]:
            key = (ext_of[m.name], _stats_mirror(m, opts), _max_real([m], opts))
            try:
                if key not in fid_refs:
                    fid_refs[key] = reference_stats(opts.reference, extractors[key[0]], dev, resolution=real_res,
                                                    num_real=key[2], mirror=key[1], seed=opts.seed,
                                                    progress=opts.progress, check_resolution=real_res is not None)
                ref, rdesc = fid_refs[key]
                if ref.count_known:
                    problem = rank_problem(ref.count, ref.dim, f"reference ({rdesc})")
                    if problem:
                        rank_notes[m.name].append(problem)
            except Exception as exc:
                outcome[m.name] = exc
        others = [m for m in live if m.max_real != 0 and m.kind != "fid" and outcome[m.name] is None]
        for mirror in sorted({_mirror(m, opts) for m in others}):
            group = [m for m in others if _mirror(m, opts) == mirror]
            caps = {e: FP.Capture() for e in extractors}
            for m in group:
                caps[ext_of[m.name]].all = True     # rows may use different real counts: slices of one pass
            used = {e: x for e, x in extractors.items() if caps[e].all}
            caps = {e: caps[e] for e in used}
            try:
                real[mirror] = _real_pass(opts.reference, used, caps, _max_real(group, opts), mirror, real_res,
                                          src.resolution, opts.seed, dev, bs, opts.progress)
            except Exception as exc:
                for m in group:
                    outcome[m.name] = exc
        t_real = time.perf_counter()
        for m in live:
            if outcome[m.name] is not None:
                continue
            t1 = time.perf_counter()
            e = ext_of[m.name]
            try:
                if m.kind == "fid" and m.max_real != 0:
                    ref, rdesc = fid_refs[(e, _stats_mirror(m, opts), _max_real([m], opts))]
                    real_side = ({e: FP.Features(stats=ref, count=ref.count)}, rdesc)
                else:
                    real_side = real.get(_mirror(m, opts)) if m.max_real != 0 else None
                res = _one(m, gen[e], real_side, e, extractors[e], num_gen, opts, dev)
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
                    warnings.warn(f"{res.metric}: {note}", RuntimeWarning, stacklevel=2)
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
        warnings.warn(note, RuntimeWarning, stacklevel=2)
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


def reference_protocol(reference: Any, resolution: Optional[int]) -> Optional[str]:
    """How a dataset reference meets the generated ``resolution``, by the authors' protocol.

    Images of that size: used as they are (None). Square images a power-of-two multiple of it:
    2x2 box-filtered down, as StyleGAN v1's dataset_tool built its lower resolutions (the returned
    text is recorded in each result). Anything else (upscaling, a non-power-of-two factor,
    non-square images) is refused, as stylegan2-ada-pytorch's calc_metrics refuses a dataset whose
    resolution differs from the generator's. ``resolution=None`` (compare): each set at its own size.
    """
    if resolution is None or not isinstance(reference, (str, os.PathLike)) or str(reference) == "testbed" \
            or is_stats_file(reference):
        return None
    from ..data.images import open_source
    h, w = open_source(Path(reference)).read(0).shape[:2]
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


def _mirror(m: ImageMetric, opts: ScoreOptions) -> bool:
    if m.full:
        if opts.mirror:
            raise ValueError(f"{m.name} uses the real images without x-flips by definition; drop mirror or use "
                             f"{m.name.replace('_full', '')}")
        return False
    return bool(opts.mirror)


def _stats_mirror(m: ImageMetric, opts: ScoreOptions) -> Optional[bool]:
    """The mirroring a FID row asks of its reference: False for _full rows, else the option (None: as stored)."""
    return False if m.full else opts.mirror


def _max_real(group: Sequence[ImageMetric], opts: ScoreOptions) -> Optional[int]:
    caps = [m.max_real for m in group]
    n = None if any(c is ALL for c in caps) else max(caps)
    if opts.num_real is not None:
        n = opts.num_real if n is None else min(n, opts.num_real)
    return n


def _one(m: ImageMetric, gen: FP.Features, real: Optional[tuple[dict[str, FP.Features], str]], e: str,
         ext: FeatureExtractor, num_gen: int, opts: ScoreOptions, dev: torch.device) -> MetricResult:
    cfg: dict[str, Any] = {}
    if real is not None:
        rfeat, rdesc = real
        r = rfeat[e]
        n_real = _max_real([m], opts)
        cfg.update(reference=rdesc, mirror=_mirror(m, opts))
    if m.kind == "fid":
        if r.all is not None:
            ref = _stats_of(r.all if n_real is None else r.all[:n_real], ext.feature_dim, dev)
        else:
            ref = r.stats
        if ref.dim != ext.feature_dim:
            raise ValueError(f"reference statistics are {ref.dim}-d but extractor {e} gives {ext.feature_dim}-d features")
        det = frechet_details(gen.stats.mean(), gen.stats.cov(), ref.mean(), ref.cov(), device=dev)
        cfg.update(num_real=ref.count if ref.count_known else None)
        res = MetricResult(metric=m.name, value=det.distance, values={"": det.distance}, config=cfg,
                           extras=dict(frechet=det.as_dict(), reference_info={k: v for k, v in ref.info.items()
                                                                              if k != "skipped_files"}))
        groups = gen.groups.filled() if gen.groups is not None else []
        if m.params.get("fid_infinity"):    # Chong and Forsyth 2020, on the same groups
            res.extras["fid_infinity"] = intervals.fid_infinity(groups, ref, device=dev)
        if len(groups) >= 2:        # the delete-one-group jackknife
            res.add_interval("", intervals.fid_jackknife(det.distance, groups, ref, device=dev))
        else:
            res.extras["interval"] = (f"no interval: {num_gen} generated samples fill {len(groups)} of "
                                      f"{intervals.FID_GROUPS} jackknife groups with 2 or more samples; at least 2 "
                                      "are needed")
        return res
    if m.kind == "kid":
        y = r.all if n_real is None else r.all[:n_real]
        k = kid_from_features(gen.all, y, seed=opts.seed, device=dev, **m.params)
        cfg.update(num_real=int(y.shape[0]), subset_size=k.subset_size, subset_seed=k.seed,
                   subset_rng="np.random.RandomState(seed).choice(replace=False), generated then real")
        res = MetricResult(metric=m.name, value=k.mean, values={"": k.mean, "_std": k.std}, config=cfg,
                           samples={"subset_mmd2": k.subsets} if opts.keep_samples else {})
        # subsets of m out of min(N_gen, N_real): the scarcer side bounds what the subsets can average away
        n_min = min(num_gen, int(y.shape[0]))
        if k.subset_size >= n_min:
            # every subset of the scarcer side is all of it: their spread is summation-order rounding,
            # not sampling variability, and would pass for a near-zero interval
            res.extras["interval"] = (f"no interval: every subset holds all {n_min} "
                                      f"{'generated' if num_gen <= y.shape[0] else 'real'} samples (subset size "
                                      f"{k.subset_size}), so the subsets cannot vary; use more samples than the "
                                      "subset size (max_subset_size)")
        elif k.num_subsets >= 2:
            res.add_interval("", intervals.kid_interval(k.subsets, k.subset_size, num_gen, int(y.shape[0])))
        else:
            res.extras["interval"] = "no interval: one KID subset; at least 2 are needed"
        return res
    if m.kind == "pr":
        y = r.all if n_real is None else r.all[:n_real]
        pr = precision_recall_from_features(gen.all, y, device=dev, **m.params)
        cfg.update(num_real=int(y.shape[0]), feature_dtype=pr.feature_dtype, nhood_size=pr.nhood_size)
        res = MetricResult(metric=m.name, value=pr.precision,
                           values={"_precision": pr.precision, "_recall": pr.recall}, config=cfg,
                           extras=dict(f_score=pr.f_score))
        ng, nr, S = int(gen.all.shape[0]), int(y.shape[0]), intervals.PR_GROUPS
        if min(ng, nr) // S > pr.nhood_size:
            parts = precision_recall_parts(gen.all, y, S, device=dev, **m.params)
            res.add_interval("_precision", intervals.pr_interval(pr.precision, [q.precision for q in parts], ng, nr))
            res.add_interval("_recall", intervals.pr_interval(pr.recall, [q.recall for q in parts], ng, nr))
        else:
            res.extras["interval"] = (f"no interval: the {S} parts of {min(ng, nr) // S} samples it is recomputed on "
                                      f"need more than k = {pr.nhood_size}; use at least {S * (pr.nhood_size + 1)} "
                                      "samples per side")
        return res
    if m.kind == "cmmd":
        from ..functional.cmmd import cmmd_from_embeddings
        y = r.all if n_real is None else r.all[:n_real]
        c = cmmd_from_embeddings(gen.all, y, device=dev, **m.params)
        cfg.update(num_real=int(y.shape[0]), sigma=c.sigma, scale=c.scale, kernel="exp(-|a-b|^2 / (2 sigma^2))",
                   estimator="biased MMD^2 (diagonals included), float64")
        res = MetricResult(metric=m.name, value=c.value, values={"": c.value}, config=cfg)
        res.add_interval("", c.interval)
        return res
    if m.kind == "prdc":
        from ..functional.prdc import prdc_from_features
        y = r.all if n_real is None else r.all[:n_real]
        q = prdc_from_features(y, gen.all, device=dev, **m.params)
        cfg.update(num_real=int(y.shape[0]), nearest_k=q.nearest_k, distance_dtype=q.distance_dtype,
                   comparison="strict < (Naeem et al.; stylegan2-ada's pr50k3 uses <=)")
        res = MetricResult(metric=m.name, value=q.precision,
                           values={"_precision": q.precision, "_recall": q.recall, "_density": q.density,
                                   "_coverage": q.coverage}, config=cfg,
                           extras=dict(interval="no interval: the anchor reports none, and a k-NN manifold "
                                       "recomputed per part (as pr50k3's) is not yet validated for density/coverage"))
        return res
    if m.kind == "is":
        is_ = inception_score_from_logits(gen.all, **m.params)
        res = MetricResult(metric=m.name, value=is_.mean, values={"_mean": is_.mean, "_std": is_.std}, config=cfg,
                           extras=dict(splits=is_.splits.tolist()))
        if is_.num_splits >= 2:
            res.add_interval("_mean", intervals.split_interval(is_.splits))
        else:
            res.extras["interval"] = "no interval: one split; at least 2 are needed (num_splits)"
        return res
    raise ValueError(f"unknown metric kind {m.kind!r} in row {m.name}")


# the values entry whose interval is the headline's (stderr / ci95 / ci_method)
_HEADLINE = {"fid": "", "kid": "", "pr": "_precision", "is": "_mean", "cmmd": "", "prdc": "_precision"}


def with_params(m: ImageMetric, **params: Any) -> ImageMetric:
    """A copy of row ``m`` with some constants replaced (for quick runs and tests); the name is kept."""
    return replace(m, params={**m.params, **params})


_ANCHOR = {"fid": "stylegan2-ada-pytorch metrics/frechet_inception_distance.py",
           "kid": "stylegan2-ada-pytorch metrics/kernel_inception_distance.py; torch-fidelity metric_kid.py",
           "pr": "stylegan2-ada-pytorch metrics/precision_recall.py; torch-fidelity metric_prc.py",
           "is": "stylegan2-ada-pytorch metrics/inception_score.py; torch-fidelity metric_isc.py",
           "cmmd": "google-research cmmd distance.py, embedding.py, io_util.py",
           "prdc": "clovaai/generative-evaluation-prdc prdc/prdc.py"}


def _register(row: ImageMetric) -> None:
    from .registry import MetricInfo, register_metric

    def metric(G: Any, opts: ScoreOptions) -> MetricResult:
        return compute(G, [row], opts)[0]
    metric.__doc__ = f"{row.name}: {row.what}."
    real = "-" if row.max_real == 0 else ("all" if row.max_real is ALL else f"up to {row.max_real:,}")
    needs = "images (generator, or folder/zip/.npz of its images)" + ("" if row.max_real == 0 else " + real dataset")
    register_metric(row.name, MetricInfo(row.what, f"{row.num_gen // 1000}k", real, needs, _ANCHOR[row.kind]))(metric)


for _row in (FID50K, *TABLE.values()):
    _register(_row)
