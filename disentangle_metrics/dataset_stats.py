"""Reference statistics of a real-image dataset, cached.

``dataset_stats`` runs a feature extractor over a folder, zip or array of images (see
:mod:`.data.images`) and returns :class:`~.stats.FeatureStats`. The result is cached at
``<cache dir>/dataset_stats/<name>-<key>.npz`` where ``key`` is the sha256 of the dataset's
content listing (file names with sizes and modification times, zip CRCs, or the array file's
size, time and shape) and of every option that changes the numbers: extractor name and weights
hash, resolution, number and choice of images, flips and their seed, bad-file skipping. Changing
any of them, or touching a file, computes afresh. Writes are atomic.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Optional, Union

import torch

from . import distributed
from .data.images import ImageDataset, iterate_batches, open_source
from .device import DeviceLike, default_batch_size, metric_precision, resolve_device
from .features import DEFAULT_EXTRACTOR, FeatureExtractor, build_extractor
from .stats import FeatureStats
from .weights import cache_dir

CACHE_VERSION = 1   # bump when the computation changes in a way the key does not capture


def stats_cache_dir() -> Path:
    """``<cache dir>/dataset_stats``."""
    return cache_dir() / "dataset_stats"


def extractor_identity(ext: FeatureExtractor) -> dict[str, Optional[str]]:
    """Name and weights hash of an extractor: what its features depend on."""
    return {"extractor": getattr(ext, "registry_name", type(ext).__name__), "weights_sha256": ext.weights_sha256}


def cache_key(listing: list, options: dict) -> str:
    """sha256 of the content listing and the options, as hex."""
    blob = json.dumps({"version": CACHE_VERSION, "listing": listing, "options": options}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _positive(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _describe_sizes(sizes: set[tuple[int, ...]], resolution: Optional[int]) -> str:
    """'R' for square RxR images of one size (what FID compares with img_resolution), else 'HxW,...'."""
    if resolution is not None:
        return str(int(resolution))
    if len(sizes) == 1 and len(next(iter(sizes))) == 2 and len(set(next(iter(sizes)))) == 1:
        return str(next(iter(sizes))[0])
    return ",".join(f"{h}x{w}" for h, w in sorted(sizes)) or "unknown"


def _load_cached(path: Path, device: torch.device) -> FeatureStats:
    """Statistics from the cache file ``path``, marked as cached."""
    st = FeatureStats.load(path, device=device)
    st.info.update(cached=True, cache_file=str(path))
    return st


def dataset_stats(source: Union[str, os.PathLike], extractor: Union[str, FeatureExtractor] = DEFAULT_EXTRACTOR,
                  num: Optional[int] = None, *, mirror: bool = False, resolution: Optional[int] = None,
                  subset: str = "first", seed: int = 0, skip_bad: bool = False, weights: Optional[str] = None,
                  device: DeviceLike = "auto", batch_size: Optional[int] = None, num_threads: int = 4,
                  array_key: Optional[str] = None, layout: str = "auto", cache: bool = True,
                  progress: bool = True, allow_hash_mismatch: bool = False) -> FeatureStats:
    """Feature statistics (mean, covariance with N - 1) of ``num`` images of ``source`` (all when None).

    ``mirror`` flips each image with probability 1/2 (seeded), as the paper's fid50k does for
    datasets trained with mirror augmentation. ``resolution`` resizes every image first (box
    filter for power-of-two downscales, else Lanczos). ``extractor`` is a registered name or a
    built :class:`FeatureExtractor`. ``stats.info`` tells whether the cache was used, its file and
    how many bad images were skipped.
    """
    dev = resolve_device(device)
    if isinstance(extractor, FeatureExtractor):
        ext = extractor
    else:
        extra = {"allow_hash_mismatch": True} if allow_hash_mismatch else {}
        ext = build_extractor(extractor, weights=weights, device=dev, **extra)
    src = open_source(source, array_key=array_key, layout=layout)
    options = dict(extractor_identity(ext), num_images=num, resolution=resolution, subset=subset if num else "all",
                   mirror=mirror, seed=seed if (mirror or (num and subset == "random")) else None,
                   skip_bad=skip_bad, array_key=array_key, layout=layout)
    key = cache_key(src.listing(), options)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(source).name)[:60]
    path = stats_cache_dir() / f"{stem}-{key[:20]}.npz"
    if cache and path.is_file():
        return _load_cached(path, dev)

    ds = ImageDataset(src, resolution=resolution, mirror=mirror, num=num, subset=subset, seed=seed, skip_bad=skip_bad)
    bs = default_batch_size(dev, cpu=16, cuda=200) if batch_size is None else _positive(batch_size, "batch_size")
    st = FeatureStats(ext.feature_dim, device=dev)
    me = distributed.info()   # under torchrun each process reads its share of the batches
    from tqdm.auto import tqdm
    sizes: set[tuple[int, ...]] = set()   # recorded, so a stats file used at another resolution is refused
    with metric_precision(), torch.inference_mode(), \
            tqdm(total=len(ds), desc=f"stats {Path(source).name}", unit="img",
                 disable=not (progress and me.is_main)) as bar:
        for batch in iterate_batches(ds, bs, num_threads=num_threads, rank=me.rank, world_size=me.world_size):
            sizes.add(tuple(batch.shape[2:]))
            st.update(ext(batch.to(dev, non_blocking=True)))
            bar.update(batch.shape[0] * me.world_size)
    st.all_reduce_()
    num_skipped = int(distributed.all_reduce_sum_(torch.tensor([len(ds.skipped)], dtype=torch.float64)).item())
    if st.count < 2:
        raise ValueError(f"{source}: only {st.count} readable images; statistics need at least 2")
    info = {**{k: str(v) for k, v in options.items()}, "dataset": str(source), "skipped": str(num_skipped),
            "cache_key": key, "image_resolution": _describe_sizes(sizes, resolution)}
    if cache and me.is_main:
        st.save(path, **info)
    st.info = {**info, "cached": False, "cache_file": str(path) if cache else None,
               "skipped_files": ds.skipped[:20]}
    return st


def testbed_stats(extractor: Union[str, FeatureExtractor], num: int, resolution: int, *,
                  config: Optional["TestbedConfig"] = None, device: DeviceLike = "auto",
                  batch_size: Optional[int] = None, cache: bool = True, progress: bool = True,
                  weights: Optional[str] = None) -> FeatureStats:
    """Feature statistics of the first ``num`` images of the procedural test bed at ``resolution``.

    The test bed is the offline stand-in for a real dataset (``reference='testbed'`` in
    :func:`~disentangle_metrics.fid.fid`): images are rendered on the fly, deterministically, from
    ``config`` (default :class:`~.data.testbed_config.TestbedConfig`). Cached like
    :func:`dataset_stats`, keyed by the whole test-bed config, ``num`` and the extractor; sharded
    by global batch under torch.distributed.
    """
    from .data.testbed import render
    from .data.testbed_config import TestbedConfig
    from .data.testbed_render import RENDER_VERSION
    from .sampling import batch_ranges

    dev = resolve_device(device)
    ext = extractor if isinstance(extractor, FeatureExtractor) else build_extractor(extractor, weights=weights, device=dev)
    cfg = (config or TestbedConfig()).replace(resolution=int(resolution))
    options = dict(extractor_identity(ext), num_images=int(num), testbed=cfg.to_dict(), testbed_render=RENDER_VERSION)
    key = cache_key([], options)
    path = stats_cache_dir() / f"testbed{resolution}-{key[:20]}.npz"
    if cache and path.is_file():
        return _load_cached(path, dev)
    bs = default_batch_size(dev, cpu=64, cuda=256) if batch_size is None else _positive(batch_size, "batch_size")
    st = FeatureStats(ext.feature_dim, device=dev)
    me = distributed.info()
    from tqdm.auto import tqdm
    with metric_precision(), torch.inference_mode(), \
            tqdm(total=num, desc=f"stats testbed@{resolution}", unit="img", disable=not (progress and me.is_main)) as bar:
        for _, idx in batch_ranges(int(num), bs, me.rank, me.world_size):
            st.update(ext(render(cfg, list(idx), device=dev)))
            bar.update(len(idx) * me.world_size)
    st.all_reduce_()
    info = {**{k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else str(v) for k, v in options.items()},
            "dataset": f"testbed@{resolution}", "cache_key": key, "image_resolution": str(int(resolution))}
    if cache and me.is_main:
        st.save(path, **info)
    st.info = {**info, "cached": False, "cache_file": str(path) if cache else None}
    return st
