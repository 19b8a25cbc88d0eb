"""One pass over a set of images for several feature extractors at once.

The FID-type metrics (FID, KID, precision/recall, IS) need only images. Asked together they
share one pass over the generated side (:func:`source_features`) and one over the real side
(:func:`reference_features`): each image batch is produced once (generated, or read from a
folder / zip / ``.npz``) and handed to every extractor; Inception's pool features and its IS logits
come from one forward pass (:meth:`~.features.inception_logits.InceptionLogits.pool_and_logits`).

What each extractor keeps is a :class:`Capture`: FID's float64 sufficient statistics
(:class:`~.stats.FeatureStats`, the same accumulation as :func:`~.fid.generator_stats`, so numbers
are identical) and/or all features (KID, PR, IS), gathered in global sample order under
torch.distributed. 50k x 2048 float32 features are 400 MB; 200k x 4096 (pr50k3_full's reals) 3.2 GB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional

import torch

from .._core import distributed
from .._core.device import DeviceLike, resolve_device
from .._core.progress import progress_bar
from ..functional.intervals import GroupedFeatures
from . import FeatureExtractor
from .inception_logits import InceptionLogits
from ..functional.stats import FeatureStats
from ..generators.sources import GeneratorSource


@dataclass
class Capture:
    """What to keep of one extractor's features: statistics (FID), all rows (KID/PR/IS), or both."""

    stats: bool = False
    all: bool = False
    groups: int = 0      # > 0: also FID's jackknife groups (intervals.GroupedFeatures' split, as fid() makes them)


@dataclass
class Features:
    """One extractor's results for one side: ``stats`` (when captured) and ``all`` [N, D] (when captured)."""

    stats: Optional[FeatureStats] = None
    all: Optional[torch.Tensor] = None
    count: int = 0
    groups: Optional[GroupedFeatures] = None
    cache_file: Optional[str] = None     # real side: the feature cache file (:mod:`.feature_cache`)
    cached: bool = False                 # ... and whether the rows were read from it


@dataclass
class _Plan:
    """Extractors to run per batch; an Inception logits extractor also serves its pool features."""

    runs: list[tuple[FeatureExtractor, list[str]]] = field(default_factory=list)   # (extractor, outputs)


def _plan(extractors: dict[str, FeatureExtractor]) -> _Plan:
    plan = _Plan()
    logits = {k: e for k, e in extractors.items() if isinstance(e, InceptionLogits)}
    used: set[str] = set()
    for k, e in logits.items():
        # the pool extractor with the very same weights file is served by the logits network's pass
        pool = next((p for p, pe in extractors.items() if p not in logits and p not in used
                     and not isinstance(pe, InceptionLogits) and pe.weights_name == e.weights_name
                     and pe.weights_sha256 == e.weights_sha256 and pe.feature_dim == e.pool.feature_dim
                     and getattr(pe, "registry_name", None) == "inception-v3-tf"), None)
        plan.runs.append((e, [pool, k] if pool else [k]))
        used.update([k] + ([pool] if pool else []))
    for k, e in extractors.items():
        if k not in used:
            plan.runs.append((e, [k]))
    return plan


def _run(plan: _Plan, images: torch.Tensor) -> dict[str, torch.Tensor]:
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)       # grey images as RGB, as the anchors repeat the channel
    out: dict[str, torch.Tensor] = {}
    for ext, names in plan.runs:
        if len(names) == 2:
            out[names[0]], out[names[1]] = ext.pool_and_logits(images)
        else:
            out[names[0]] = ext(images)
    return out


def collect(batches: Iterable[tuple[range, torch.Tensor]], extractors: dict[str, FeatureExtractor],
            capture: dict[str, Capture], total: int, device: torch.device, progress: bool = False,
            desc: str = "features", batch_size: Optional[int] = None) -> dict[str, Features]:
    """Run every extractor on each ``(global indices, uint8 images)`` batch; keep what ``capture`` asks.

    ``total`` is the global number of images; under torch.distributed each process passes its own
    batches, statistics are all-reduced and all-feature arrays gathered in global index order.
    """
    plan = _plan(extractors)
    # the groups wrap the identity: fed each batch's features, they split its rows exactly as fid()'s
    # GroupedFeatures around the extractor does (same call count, same rows), so intervals are equal
    out = {k: Features(stats=FeatureStats(e.feature_dim, device=device) if capture[k].stats else None,
                       groups=GroupedFeatures(_Width(e.feature_dim), capture[k].groups) if capture[k].groups else None)
           for k, e in extractors.items()}
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in extractors if capture[k].all}
    idx_parts: list[torch.Tensor] = []
    me = distributed.info()
    with torch.inference_mode(), progress_bar(total, desc, progress and me.is_main, unit="img") as bar:
        for idx, images in batches:
            feats = _run(plan, images)
            for k, f in feats.items():
                if out[k].stats is not None:
                    out[k].stats.update(f)
                if out[k].groups is not None:   # by global batch (``batch_size`` given): as in one process
                    out[k].groups.add(f, None if batch_size is None else idx[0] // batch_size)
                if k in parts:
                    parts[k].append(f.float())
            idx_parts.append(torch.as_tensor(list(idx), dtype=torch.long, device=device))
            bar.update(len(idx) * me.world_size)
    indices = torch.cat(idx_parts) if idx_parts else torch.zeros(0, dtype=torch.long, device=device)
    for k, res in out.items():
        if res.stats is not None:
            res.stats.all_reduce_()
            res.count = res.stats.count
        if res.groups is not None:
            res.groups.all_reduce_()
        if k in parts:
            local = torch.cat(parts[k]) if parts[k] else torch.zeros(0, extractors[k].feature_dim, device=device)
            res.all = distributed.gather_by_index(local, indices, total)
            res.count = res.all.shape[0]
    return out


class _Width:
    """The identity, knowing the width of what it passes (so a rank without batches can still reduce)."""

    def __init__(self, feature_dim: int) -> None:
        self.feature_dim = feature_dim

    def __call__(self, f: torch.Tensor) -> torch.Tensor:
        return f


def source_batches(source: Any, num: int, batch_size: int, seed: int) -> Iterator[tuple[range, torch.Tensor]]:
    """(indices, uint8 images) of this rank's global minibatches of a :mod:`~.sources` source."""
    me = distributed.info()
    for b in source.batches(num, batch_size, seed=seed, rank=me.rank, world_size=me.world_size):
        yield b.index, b.images


def dataset_batches(src: Any, num: Optional[int], *, resolution: Optional[int], mirror: bool, seed: int,
                    batch_size: int, device: torch.device, num_threads: int = 4) -> tuple[int, Iterator[tuple[range, torch.Tensor]]]:
    """(count, batches) of the first ``num`` images of an opened dataset ``src`` (an
    :class:`~.data.images.ImageSource`; all images when None or more than it holds).

    Resized to ``resolution`` and flipped as :func:`~.dataset_stats.dataset_stats` does (same seeds).
    """
    from ..data.images import ImageDataset, iterate_batches
    from .._core.sampling import batch_ranges
    n = len(src) if num is None else min(int(num), len(src))
    ds = ImageDataset(src, resolution=resolution, mirror=mirror, num=n, seed=seed)
    me = distributed.info()

    def gen() -> Iterator[tuple[range, torch.Tensor]]:
        ranges = batch_ranges(n, batch_size, me.rank, me.world_size)
        for (_, idx), imgs in zip(ranges, iterate_batches(ds, batch_size, num_threads=num_threads, rank=me.rank,
                                                        world_size=me.world_size)):
            yield idx, imgs.to(device, non_blocking=True)
    return n, gen()


def testbed_batches(num: int, resolution: int, batch_size: int,
                    device: torch.device) -> Iterator[tuple[range, torch.Tensor]]:
    """The first ``num`` images of the procedural test bed (default config) at ``resolution``."""
    from ..data.testbed import render
    from ..data.testbed_config import TestbedConfig
    from .._core.sampling import batch_ranges
    cfg = TestbedConfig().replace(resolution=int(resolution))
    me = distributed.info()
    for _, idx in batch_ranges(int(num), batch_size, me.rank, me.world_size):
        yield idx, render(cfg, list(idx), device=device)


def generator_stats(G: Any, ext: FeatureExtractor, num: int, batch_size: int, seed: int = 0,
                    device: DeviceLike = "auto", rank: int = 0, world_size: int = 1,
                    progress: bool = False, **source_options: Any) -> FeatureStats:
    """Feature statistics of ``num`` generated images (this rank's share of the global batches).

    ``G`` is a generator or a :class:`~.sources.GeneratorSource`; ``source_options`` (truncation,
    labels, precision) build the source of a generator. The caller's generator is not modified.
    """
    dev = resolve_device(device)
    src = G if isinstance(G, GeneratorSource) else GeneratorSource(G, device=dev, **source_options)
    st = FeatureStats(ext.feature_dim, device=dev)
    with torch.inference_mode(), progress_bar(num, "generate", progress, unit="img") as bar:
        for batch in src.batches(num, batch_size, seed=seed, rank=rank, world_size=world_size):
            u8 = batch.images
            if u8.shape[1] == 1:
                u8 = u8.expand(-1, 3, -1, -1)
            st.update(ext(u8))
            bar.update(len(batch.index))
    return st
