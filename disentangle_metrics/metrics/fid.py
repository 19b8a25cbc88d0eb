"""Fréchet Inception Distance of a generator against reference statistics.

    FID = |mu_g - mu_r|^2 + tr(S_g + S_r - 2 (S_g S_r)^(1/2))

with (mu, S) the mean and covariance (N - 1) of the 2048-d Inception pool features of
``num_gen`` generated images (z ~ N(0, I), no truncation, random noise) and of the real images.
Generated images are quantised as the reference does, ``uint8(clamp(x * 127.5 + 128, 0, 255))``
(truncation toward zero), and go to the extractor without leaving the device.

Generation is organised in fixed global batches (:func:`~.sampling.batch_ranges`): latents come
from per-sample seeds and the noise of batch ``b`` from ``(seed, b)``, so a run is reproducible
and can be sharded over processes (``rank``/``world_size`` plus :meth:`FeatureStats.all_reduce_`).
The noise realisation depends on the batch size, which is recorded in the result.

``reference='testbed'`` compares against the procedural test bed rendered at the generator's
resolution (its first ``num_real`` images), the offline stand-in for a real dataset.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch

from .._core import distributed
from ..functional import intervals
from ..features.cache import PAPER_NUM, TESTBED_REFERENCE, Reference, rank_problem, reference_stats  # noqa: F401
from .._core.device import DeviceLike, default_batch_size, describe, metric_precision, resolve_device
from ..features import DEFAULT_EXTRACTOR, FeatureExtractor, build_extractor
from ..functional.frechet import frechet_details
from .registry import ScoreOptions, count_or_default, register_metric
from ..generators.sources import GeneratorSource, to_uint8  # noqa: F401  (to_uint8 re-exported: it lived here)
from .._core.results import MetricResult
from ..functional.stats import FeatureStats, is_stats_file, read_stats_info




def count_name(num_gen: int) -> str:
    """FID's name by the number of generated images: ``fid50k`` for 50,000, ``fid10k``, ``fid2500``.

    A run with fewer samples than the paper's is biased upwards (FID's bias grows as 1/N), so
    its name must say how many were used.
    """
    return f"fid{num_gen // 1000}k" if num_gen % 1000 == 0 else f"fid{num_gen}"


def metric_name(base: str, extractor: str, tags: Sequence[str] = ()) -> str:
    """``base`` for the paper's extractor and no tags, else ``base@tag+tag`` (extractor first, then e.g. ``psi0.7``)."""
    parts = ([] if extractor == DEFAULT_EXTRACTOR else [extractor]) + list(tags)
    return base + (f"@{'+'.join(parts)}" if parts else "")


def generator_stats(G: Any, ext: FeatureExtractor, num: int, batch_size: int, seed: int = 0,
                    device: DeviceLike = "auto", rank: int = 0, world_size: int = 1,
                    progress: bool = False, **source_options: Any) -> FeatureStats:
    """Feature statistics of ``num`` generated images (this rank's share of the global batches).

    ``G`` is a generator or a :class:`~.sources.GeneratorSource`; ``source_options`` (truncation,
    labels, precision) build the source of a generator. The caller's generator is not modified.
    """
    dev = resolve_device(device)
    src = G if isinstance(G, GeneratorSource) else GeneratorSource(G, device=dev, **source_options)
    from tqdm.auto import tqdm
    st = FeatureStats(ext.feature_dim, device=dev)
    with torch.inference_mode(), tqdm(total=num, desc="fid generate", unit="img", disable=not progress) as bar:
        for batch in src.batches(num, batch_size, seed=seed, rank=rank, world_size=world_size):
            u8 = batch.images
            if u8.shape[1] == 1:
                u8 = u8.expand(-1, 3, -1, -1)
            st.update(ext(u8))
            bar.update(len(batch.index))
    return st


def _rank_guard(problem: Optional[str], allow: bool, found: list[str]) -> None:
    if problem is None:
        return
    if not allow:
        raise ValueError(problem)
    warnings.warn(problem, RuntimeWarning, stacklevel=3)
    found.append(problem)


def fid(G: Any, reference: Reference, num_gen: int = PAPER_NUM, batch_size: Optional[int] = None, seed: int = 0,
        device: DeviceLike = "auto", extractor: Union[str, FeatureExtractor] = DEFAULT_EXTRACTOR,
        weights: Optional[str] = None, num_real: Optional[int] = PAPER_NUM, mirror: Optional[bool] = None,
        progress: bool = False, metric: Optional[str] = None, allow_hash_mismatch: bool = False,
        allow_rank_deficient: bool = True, *, truncation_psi: float = 1.0, truncation_cutoff: Optional[int] = None,
        class_label: Optional[int] = None, labels: Any = None, force_fp32: bool = False,
        interval_groups: int = intervals.FID_GROUPS, fid_infinity: bool = False) -> MetricResult:
    """FID of ``G`` (see the module docstring) against ``reference`` (stats file, dataset or FeatureStats).

    The generator runs as its authors' FID code runs it: random noise, the checkpoint's precision
    (``force_fp32=False``), labels by ``class_label``/``labels`` (:mod:`~.conditioning`) for a
    conditional generator. ``truncation_psi`` other than 1 appears in the name (``fid50k@psi0.7``).

    A dataset reference uses its first ``num_real`` images (all when fewer), resized to the
    generator's resolution, flipped at random when ``mirror``; its statistics are cached. A stats
    file must match the run (extractor, weights, resolution; mirroring when ``mirror`` is given).
    Both sides should have more samples than feature dimensions (a full-rank covariance): fewer
    raise a ValueError when ``allow_rank_deficient`` is False (the registered ``fid50k``, hence
    ``dmetrics score``), else a RuntimeWarning, and the reason goes to ``extras['rank_deficient']``.
    The result is named ``metric`` (default: by the generated count, :func:`count_name`) with the paper's
    extractor and ``metric@<extractor>`` otherwise.
    ``interval_groups``: groups of the jackknife 95% interval (:func:`~.intervals.fid_jackknife`; 0 =
    none); ``fid_infinity``: also FID_inf (Chong and Forsyth 2020) in ``extras['fid_infinity']``.
    """
    t0 = time.perf_counter()
    dev = resolve_device(device)
    extra = {"allow_hash_mismatch": True} if allow_hash_mismatch else {}
    ext = extractor if isinstance(extractor, FeatureExtractor) else build_extractor(extractor, weights=weights,
                                                                                    device=dev, **extra)
    ext_name = getattr(ext, "registry_name", type(ext).__name__)
    bs = count_or_default(batch_size, default_batch_size(dev, cpu=8, cuda=64), "batch_size")
    count_or_default(num_gen, PAPER_NUM, "num_gen")
    rank_notes: list[str] = []
    _rank_guard(rank_problem(num_gen, ext.feature_dim, "generated images"), allow_rank_deficient, rank_notes)
    if isinstance(G, GeneratorSource):
        if (truncation_psi, truncation_cutoff, class_label, labels, force_fp32) != (1.0, None, None, None, False):
            raise ValueError("fid() got a GeneratorSource and source options (truncation, labels, force_fp32): "
                             "set them on the source instead")
        src = G
    else:
        src = GeneratorSource(G, device=dev, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                              class_label=class_label, labels=labels, force_fp32=force_fp32)
    with metric_precision(), torch.inference_mode():
        ref, ref_desc = reference_stats(reference, ext, dev, resolution=src.resolution,
                                        num_real=num_real, mirror=mirror, seed=seed, progress=progress)
        if ref.dim != ext.feature_dim:
            raise ValueError(f"reference statistics are {ref.dim}-d but extractor {ext_name} gives {ext.feature_dim}-d features")
        if ref.count_known:
            _rank_guard(rank_problem(ref.count, ref.dim, f"reference ({ref_desc})"), allow_rank_deficient, rank_notes)
        t1 = time.perf_counter()
        me = distributed.info()   # each process generates its global batches; sums are all-reduced
        grouped = intervals.GroupedFeatures(ext, interval_groups or 3) if interval_groups or fid_infinity else None
        gen = generator_stats(src, grouped or ext, num_gen, bs, seed=seed, device=dev, rank=me.rank,
                              world_size=me.world_size, progress=progress and me.is_main).all_reduce_()
        t2 = time.perf_counter()
        det = frechet_details(gen.mean(), gen.cov(), ref.mean(), ref.cov(), device=dev)
        groups = grouped.all_reduce_().filled() if grouped else []
        iv, iv_note = None, None
        if interval_groups and len(groups) >= 2:
            iv = intervals.fid_jackknife(det.distance, groups, ref, device=dev)
        elif interval_groups:   # a tiny run: the value stands, without an interval, and says why
            iv_note = (f"no interval: {num_gen} generated samples fill {len(groups)} of {interval_groups} jackknife "
                       "groups with 2 or more samples; at least 2 are needed")
        inf = intervals.fid_infinity(groups, ref, device=dev) if fid_infinity else None
    wall = time.perf_counter() - t0
    name = metric_name(metric or count_name(num_gen), ext_name, src.name_tags())
    res = MetricResult(
        metric=name, value=det.distance, values={name: det.distance},
        config=dict(num_gen=num_gen, batch_size=bs, extractor=ext_name, reference=ref_desc,
                    num_real=ref.count if ref.count_known else None,
                    mirror=bool(mirror) if mirror is not None else str(ref.info.get("mirror")) == "True",
                    truncation_psi=src.truncation_psi, truncation_cutoff=src.truncation_cutoff,
                    noise_mode="random", precision=src.describe()["precision"], labels=src.label_policy.describe(),
                    generator=src.describe()),
        seed=seed, num_samples=num_gen, wall_time_s=wall, device=describe(dev),
        weights={ext.weights_name: ext.weights_sha256} if ext.weights_name and ext.weights_sha256 else {},
        extras=dict(frechet=det.as_dict(), generate_s=t2 - t1, reference_s=t1 - t0,
                    images_per_s=num_gen / max(t2 - t1, 1e-9), reference_info={k: v for k, v in ref.info.items()
                                                                               if k != "skipped_files"},
                    **({"rank_deficient": rank_notes} if rank_notes else {})))
    if iv is not None:
        res.add_interval(name, iv)
    if iv_note is not None:
        res.extras["interval"] = iv_note
    if inf is not None:
        res.extras["fid_infinity"] = inf
    return res


@register_metric("fid50k")
def fid50k(G: Any, opts: ScoreOptions) -> MetricResult:
    """The paper's FID: 50k generated vs the first 50k real images.

    ``opts.num_samples`` overrides the generated count, and the result is then named by it
    (``fid10k``, ``fid2500``), never ``fid50k``. ``opts.num_real`` and ``opts.mirror`` choose the real
    images; ``G`` may be a folder / zip / ``.npz`` of generated images.
    """
    from ..generators.sources import is_image_path
    if is_image_path(G) or type(G).__name__ == "ImageSource":   # generated images: the shared image-metric path
        from . import image as image_metrics
        return image_metrics.compute(G, [image_metrics.FID50K], opts)[0]
    from .image import weights_for
    ext_name = opts.extractor or DEFAULT_EXTRACTOR
    weights = weights_for(ext_name, opts.weights)
    return fid(G, opts.reference, num_gen=count_or_default(opts.num_samples, PAPER_NUM, "num_samples"), batch_size=opts.batch_size, seed=opts.seed,
               device=opts.device, extractor=ext_name, weights=weights, progress=opts.progress,
               num_real=count_or_default(opts.num_real, PAPER_NUM, "num_real"), mirror=opts.mirror,
               allow_hash_mismatch=opts.allow_hash_mismatch, allow_rank_deficient=False,
               truncation_psi=opts.truncation_psi, truncation_cutoff=opts.truncation_cutoff,
               class_label=opts.class_label, labels=opts.labels)
