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
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
import torch

from . import distributed, intervals, sampling
from .dataset_stats import dataset_stats, extractor_identity, testbed_stats
from .device import DeviceLike, default_batch_size, describe, metric_precision, resolve_device
from .features import DEFAULT_EXTRACTOR, FeatureExtractor, build_extractor
from .features.inception import NVIDIA_WEIGHTS, PYTORCH_FID_WEIGHTS
from .frechet import frechet_details
from .protocol import conditioning, module_device
from .registry import ScoreOptions, register_metric
from .results import MetricResult
from .stats import FeatureStats, read_stats_info

PAPER_NUM = 50_000
Reference = Union[str, os.PathLike, FeatureStats]


TESTBED_REFERENCE = "testbed"   # reference= value: the procedural test bed rendered at G's resolution


def count_name(num_gen: int) -> str:
    """FID's name by the number of generated images: ``fid50k`` for 50,000, ``fid10k``, ``fid2500``.

    A run with fewer samples than the paper's is biased upwards (FID's bias grows as 1/N), so
    its name must say how many were used.
    """
    return f"fid{num_gen // 1000}k" if num_gen % 1000 == 0 else f"fid{num_gen}"


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float images -> uint8 as the reference does: x * 127.5 + 128, clamp to [0, 255], truncate."""
    return (images * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def metric_name(base: str, extractor: str) -> str:
    """``base`` for the paper's extractor, ``base@extractor`` for any other."""
    return base if extractor == DEFAULT_EXTRACTOR else f"{base}@{extractor}"


def generator_stats(G: Any, ext: FeatureExtractor, num: int, batch_size: int, seed: int = 0,
                    device: DeviceLike = "auto", rank: int = 0, world_size: int = 1,
                    progress: bool = False) -> FeatureStats:
    """Feature statistics of ``num`` generated images (this rank's share of the global batches)."""
    dev = resolve_device(device)
    if isinstance(G, torch.nn.Module) and module_device(G) not in (None, dev):
        G = G.to(dev)
    from tqdm.auto import tqdm
    st = FeatureStats(ext.feature_dim, device=dev)
    with torch.inference_mode(), tqdm(total=num, desc="fid generate", unit="img", disable=not progress) as bar:
        finite = torch.ones((), dtype=torch.bool, device=dev)
        for b, idx in sampling.batch_ranges(num, batch_size, rank, world_size):
            z = sampling.randn(seed, idx, [G.z_dim], sampling.Stream.Z, device=dev)
            ws = G.mapping(z, conditioning(G, len(idx), dev), truncation_psi=1)
            with sampling.seeded(seed, b, sampling.Stream.NOISE, dev):
                img = G.synthesis(ws, noise_mode="random")
            if img.ndim != 4 or img.shape[1] not in (1, 3):
                raise ValueError(f"synthesis returned shape {tuple(img.shape)}; FID needs [N, 1 or 3, H, W] images")
            finite &= torch.isfinite(img).all()   # checked once at the end: no per-batch sync
            u8 = to_uint8(img)
            if u8.shape[1] == 1:
                u8 = u8.expand(-1, 3, -1, -1)
            st.update(ext(u8))
            bar.update(len(idx))
    if not bool(finite):
        raise ValueError("the generator produced NaN or inf pixels; FID would be meaningless")
    return st


def reference_stats(reference: Reference, ext: FeatureExtractor, device: torch.device, *, resolution: Optional[int],
                    num_real: Optional[int], mirror: bool, seed: int, progress: bool) -> tuple[FeatureStats, str]:
    """(statistics, description) of ``reference``: FeatureStats, a stats ``.npz``, or a dataset."""
    if reference is None:
        raise ValueError("FID needs reference statistics: pass a stats .npz (make one with `dmetrics stats DATASET "
                         "--out stats.npz`) or a dataset (folder, zip, .npy/.npz images)")
    if isinstance(reference, FeatureStats):
        return reference, "FeatureStats"
    if isinstance(reference, str) and reference == TESTBED_REFERENCE:
        if resolution is None:
            raise ValueError("reference='testbed' needs the generator's img_resolution to render the test bed at")
        num = num_real or PAPER_NUM
        st = testbed_stats(ext, num, resolution, device=device, progress=progress)
        return st, f"testbed at {resolution}x{resolution} (first {num} images, default config)"
    p = Path(reference)
    if p.suffix == ".npz" and p.is_file():
        with np.load(p, allow_pickle=False) as f:
            is_stats = {"mu", "sigma"} <= set(f.files)
        if is_stats:
            st = FeatureStats.load(p, device=device)
            saved = read_stats_info(p)
            mine = extractor_identity(ext)
            for k in ("extractor", "weights_sha256"):
                if k in saved and mine[k] is not None and saved[k] != str(mine[k]):
                    raise ValueError(f"{p} was computed with {k} {saved[k]}, but this run uses {mine[k]}; "
                                     "recompute the statistics with the same extractor and weights")
            return st, f"stats file {p}"
    n_avail = None
    if num_real is not None:
        from .data.images import open_source
        n_avail = len(open_source(p))
    st = dataset_stats(p, ext, num=min(num_real, n_avail) if num_real else None, mirror=mirror, resolution=resolution,
                       seed=seed, device=device, progress=progress)
    return st, f"dataset {p} ({st.count} images{', mirrored' if mirror else ''})"


def fid(G: Any, reference: Reference, num_gen: int = PAPER_NUM, batch_size: Optional[int] = None, seed: int = 0,
        device: DeviceLike = "auto", extractor: Union[str, FeatureExtractor] = DEFAULT_EXTRACTOR,
        weights: Optional[str] = None, num_real: Optional[int] = PAPER_NUM, mirror: bool = False,
        progress: bool = False, metric: Optional[str] = None, allow_hash_mismatch: bool = False,
        interval_groups: int = intervals.FID_GROUPS, fid_infinity: bool = False) -> MetricResult:
    """FID of ``G`` (see the module docstring) against ``reference`` (stats file, dataset or FeatureStats).

    A dataset reference uses its first ``num_real`` images (all when fewer), resized to the
    generator's resolution, flipped at random when ``mirror``; its statistics are cached.
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
    bs = batch_size or default_batch_size(dev, cpu=8, cuda=64)
    with metric_precision(), torch.inference_mode():
        ref, ref_desc = reference_stats(reference, ext, dev, resolution=getattr(G, "img_resolution", None),
                                        num_real=num_real, mirror=mirror, seed=seed, progress=progress)
        if ref.dim != ext.feature_dim:
            raise ValueError(f"reference statistics are {ref.dim}-d but extractor {ext_name} gives {ext.feature_dim}-d features")
        t1 = time.perf_counter()
        me = distributed.info()   # each process generates its global batches; sums are all-reduced
        grouped = intervals.GroupedFeatures(ext, interval_groups or 3) if interval_groups or fid_infinity else None
        gen = generator_stats(G, grouped or ext, num_gen, bs, seed=seed, device=dev, rank=me.rank,
                              world_size=me.world_size, progress=progress and me.is_main).all_reduce_()
        t2 = time.perf_counter()
        det = frechet_details(gen.mean(), gen.cov(), ref.mean(), ref.cov(), device=dev)
        groups = grouped.all_reduce_().filled() if grouped else []
        iv = intervals.fid_jackknife(det.distance, groups, ref, device=dev) if interval_groups else None
        inf = intervals.fid_infinity(groups, ref, device=dev) if fid_infinity else None
    wall = time.perf_counter() - t0
    name = metric_name(metric or count_name(num_gen), ext_name)
    res = MetricResult(
        metric=name, value=det.distance, values={name: det.distance},
        config=dict(num_gen=num_gen, batch_size=bs, extractor=ext_name, reference=ref_desc,
                    num_real=ref.count if ref.count_known else None,
                    mirror=mirror, truncation_psi=1.0, noise_mode="random"),
        seed=seed, num_samples=num_gen, wall_time_s=wall, device=describe(dev),
        weights={ext.weights_name: ext.weights_sha256} if ext.weights_name and ext.weights_sha256 else {},
        extras=dict(frechet=det.as_dict(), generate_s=t2 - t1, reference_s=t1 - t0,
                    images_per_s=num_gen / max(t2 - t1, 1e-9), reference_info={k: v for k, v in ref.info.items()
                                                                               if k != "skipped_files"}))
    if iv is not None:
        res.add_interval(name, iv)
    if inf is not None:
        res.extras["fid_infinity"] = inf
    return res


@register_metric("fid50k")
def fid50k(G: Any, opts: ScoreOptions) -> MetricResult:
    """The paper's FID: 50k generated vs the first 50k real images.

    ``opts.num_samples`` overrides the generated count, and the result is then named by it
    (``fid10k``, ``fid2500``), never ``fid50k``.
    """
    ext_name = opts.extractor or DEFAULT_EXTRACTOR
    # --weights NAME=PATH: the extractor's name, or a registered Inception file name
    keys = (ext_name,) + ((PYTORCH_FID_WEIGHTS, NVIDIA_WEIGHTS) if ext_name == DEFAULT_EXTRACTOR else ())
    weights = next((opts.weights[k] for k in keys if k in opts.weights), None)
    return fid(G, opts.reference, num_gen=opts.num_samples or PAPER_NUM, batch_size=opts.batch_size, seed=opts.seed,
               device=opts.device, extractor=ext_name, weights=weights, progress=opts.progress,
               allow_hash_mismatch=opts.allow_hash_mismatch)
