"""Real images for training: sources, a stateless sampler, a prefetching loader and ``process_reals``.

Sampling is a pure function of (seed, position in the stream of real images): position ``i`` is
image ``perm_e[i mod N]`` of the epoch ``e = i // N``, with ``perm_e`` a permutation seeded by
(seed, e), and it is mirrored when a hash of (seed, i) is odd. The loader therefore has no state
to checkpoint, and a resumed run reads exactly the images an uninterrupted run would.

``process_reals`` follows the official ``process_reals``: uint8 -> [-1, 1]; at level of detail
``lod`` the image is the 2^floor(lod) box-downsampled version (rounded to uint8 as the official
dataset tool stores its lower resolutions), cross-faded with its own 2x down-then-up-sampled
version by ``frac(lod)``, then nearest-upsampled back to the full resolution the networks take.
"""

from __future__ import annotations

import math
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from disentangle_metrics.data.images import ImageDataset
from disentangle_metrics._core.results import atomic_write_bytes
from disentangle_metrics._core.sampling import Stream, sample_seeds

from .config import TESTBED, TrainConfig


class DataError(ValueError):
    """The training data cannot be used; the message says what to change."""


class RealImages:
    """uint8 [3, R, R] images by index: an in-memory array or a :class:`ImageDataset` read with threads."""

    def __init__(self, array: Optional[np.ndarray] = None, dataset: Optional[ImageDataset] = None,
                 resolution: int = 0, num_threads: int = 4) -> None:
        if (array is None) == (dataset is None):
            raise ValueError("give exactly one of array and dataset")
        self.array = array
        self.dataset = dataset
        self.resolution = resolution
        self.pool = ThreadPoolExecutor(num_threads) if dataset is not None and num_threads > 0 else None

    def __len__(self) -> int:
        return len(self.array) if self.array is not None else len(self.dataset)

    def gather(self, indices: np.ndarray) -> torch.Tensor:
        """uint8 [B, 3, R, R] for dataset indices."""
        if self.array is not None:
            return torch.from_numpy(self.array[indices])
        idx = [int(i) for i in indices]
        items = list(self.pool.map(self.dataset.__getitem__, idx)) if self.pool else [self.dataset[i] for i in idx]
        return torch.stack(items)


def open_reals(cfg: TrainConfig, run_dir: Path) -> RealImages:
    """The training images of ``cfg`` at ``cfg.resolution`` (test bed rendered once into ``run_dir``)."""
    if cfg.data == TESTBED:
        return RealImages(array=testbed_array(cfg, run_dir), resolution=cfg.resolution)
    path = Path(cfg.data)
    if not path.exists():
        raise DataError(f"training data {path} does not exist; pass a folder of images, a .zip, a .npy/.npz "
                        f"array, or 'testbed' for the procedural test bed")
    ds = ImageDataset(path, resolution=cfg.resolution)
    if len(ds) == 0:
        raise DataError(f"training data {path} holds no images (.png .jpg .jpeg .webp)")
    first = ds[0]
    if tuple(first.shape) != (3, cfg.resolution, cfg.resolution):
        raise DataError(f"{path}: images come out as {tuple(first.shape)}, expected (3, {cfg.resolution}, {cfg.resolution})")
    return RealImages(dataset=ds, resolution=cfg.resolution, num_threads=max(cfg.data_workers, 0))


def testbed_array(cfg: TrainConfig, run_dir: Path, batch: int = 256) -> np.ndarray:
    """Test-bed images ``0 .. testbed_num-1`` as uint8 [N, 3, R, R], cached as ``.npy`` in ``run_dir``.

    The renderer is deterministic per index, so the cache is only a speed-up: it is named by
    everything that defines it and re-rendered when absent.
    """
    from disentangle_metrics.data.testbed import TestbedConfig, render_batch

    path = testbed_reals_path(cfg, run_dir)
    if path.is_file():
        arr = np.load(path, mmap_mode=None)
        if arr.shape == (cfg.testbed_num, 3, cfg.resolution, cfg.resolution) and arr.dtype == np.uint8:
            return arr
        raise DataError(f"{path}: cached test-bed images have shape {arr.shape} {arr.dtype}; delete the file to re-render")
    tb = TestbedConfig(resolution=cfg.resolution, seed=cfg.testbed_seed)
    arr = np.empty((cfg.testbed_num, 3, cfg.resolution, cfg.resolution), np.uint8)
    for start in range(0, cfg.testbed_num, batch):
        n = min(batch, cfg.testbed_num - start)
        arr[start:start + n] = render_batch(tb, start, n)[0].numpy()
    import io
    buf = io.BytesIO()
    np.save(buf, arr)
    atomic_write_bytes(path, buf.getvalue())
    return arr


def testbed_reals_path(cfg: TrainConfig, run_dir: Path) -> Path:
    """Where the run's test-bed training images are cached (a uint8 NCHW ``.npy``, a dataset any reader takes)."""
    return Path(run_dir) / f"reals-testbed-{cfg.resolution}px-seed{cfg.testbed_seed}-n{cfg.testbed_num}.npy"


class StreamSampler:
    """Stateless map from stream positions to (dataset index, mirror flag); see the module docstring."""

    def __init__(self, num_images: int, seed: int, mirror: bool) -> None:
        if num_images < 1:
            raise DataError("the training set is empty")
        self.n, self.seed, self.mirror = num_images, seed, mirror
        # Memo of the current epoch's permutation, replaced as one tuple so that the prefetch
        # thread and the caller never see an epoch paired with another epoch's permutation.
        self._memo: tuple[int, np.ndarray] = (-1, np.empty(0, np.int64))

    def _permutation(self, epoch: int) -> np.ndarray:
        memo = self._memo
        if memo[0] != epoch:
            memo = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
            self._memo = memo
        return memo[1]

    def indices(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Dataset indices and flip flags of stream positions ``start .. start+count-1``."""
        pos = np.arange(start, start + count, dtype=np.int64)
        out = np.empty(count, np.int64)
        for epoch in np.unique(pos // self.n):
            sel = pos // self.n == epoch
            out[sel] = self._permutation(int(epoch))[pos[sel] % self.n]
        if self.mirror:
            flips = (sample_seeds(self.seed, pos, Stream.DATA) & np.uint64(1)).astype(bool)
        else:
            flips = np.zeros(count, bool)
        return out, flips


class RealLoader:
    """Batches of uint8 reals by stream position, the next one prepared in a background thread.

    On CUDA the batch is pinned so the host-to-device copy is asynchronous.
    """

    def __init__(self, reals: RealImages, sampler: StreamSampler, device: torch.device) -> None:
        self.reals, self.sampler, self.device = reals, sampler, device
        self.pin = device.type == "cuda"
        self.pool = ThreadPoolExecutor(1)
        self._next: Optional[tuple[tuple[int, int], Future]] = None

    def _load(self, start: int, count: int) -> torch.Tensor:
        idx, flips = self.sampler.indices(start, count)
        x = self.reals.gather(idx)
        if flips.any():
            f = torch.from_numpy(flips)
            x[f] = x[f].flip(3)
        return x.pin_memory() if self.pin else x

    def get(self, start: int, count: int) -> torch.Tensor:
        """uint8 [count, 3, R, R] on the device for positions ``start ..``; prefetches the next batch."""
        if self._next is not None and self._next[0] == (start, count):
            x = self._next[1].result()
        else:
            x = self._load(start, count)
        self._next = ((start + count, count), self.pool.submit(self._load, start + count, count))
        return x.to(self.device, non_blocking=True)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.reals.pool is not None:
            self.reals.pool.shutdown(wait=True, cancel_futures=True)


def process_reals(x: torch.Tensor, lod: float) -> torch.Tensor:
    """uint8 [N, C, R, R] -> float [N, C, R, R] in [-1, 1] at level of detail ``lod`` (module docstring)."""
    k = int(math.floor(lod))
    frac = lod - k
    x = x.float()
    if k > 0:
        x = torch.round(F.avg_pool2d(x, 2 ** k))
    x = x / 127.5 - 1.0
    if frac > 0:
        y = F.avg_pool2d(x, 2).repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
        x = torch.lerp(x, y, frac)
    if k > 0:
        x = x.repeat_interleave(2 ** k, dim=2).repeat_interleave(2 ** k, dim=3)
    return x
