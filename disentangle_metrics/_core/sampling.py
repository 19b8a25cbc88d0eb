"""The one sampling utility every metric draws from.

Every random quantity of sample ``i`` (its latents, its interpolation parameter, ...) is drawn from
a generator seeded by a hash of ``(seed, stream, i)``. The set of samples is therefore the same
whatever the batch size, the device order of work or the number of processes sharing it
(torch.distributed), and any single sample can be regenerated on its own.

Quantities shared by a whole minibatch (the PPL noise realisation) are seeded by
``(seed, stream, batch index)``; batches are fixed ranges ``[b*B, (b+1)*B)`` of the global index,
so they too are independent of the number of processes.
"""

from __future__ import annotations

import contextlib
from enum import IntEnum
from typing import Iterator, Sequence

import numpy as np
import torch

_MASK = (1 << 64) - 1


class Stream(IntEnum):
    """Independent random streams: one per kind of quantity."""

    Z = 1
    Z_END = 2       # the second latent of a PPL pair
    T = 3           # PPL interpolation parameter
    NOISE = 4       # per-minibatch noise realisation
    MIX = 5
    DATA = 6
    LABEL = 7       # the conditioning label of a sample (conditional generators)
    PROBE = 8       # the few latents of the precision check (kept apart from the metric's own samples)
    PROBE_END = 9


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, vectorised; a well-mixed 64-bit hash."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(_MASK)
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(_MASK)
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & np.uint64(_MASK)
        return x ^ (x >> np.uint64(31))


def sample_seeds(seed: int, indices: Sequence[int] | np.ndarray, stream: int) -> np.ndarray:
    """63-bit seeds for each global sample index (valid torch.Generator seeds)."""
    idx = np.asarray(indices, dtype=np.uint64)
    base = _splitmix64(np.array([(int(seed) & _MASK)], dtype=np.uint64))
    base = _splitmix64(base ^ np.uint64(int(stream) * 0x632BE59BD9B4E019 & _MASK))
    return _splitmix64(base ^ idx) >> np.uint64(1)


def _per_sample(seed: int, indices: Sequence[int] | np.ndarray, stream: int, shape: Sequence[int],
                draw, device: torch.device | str) -> torch.Tensor:
    seeds = sample_seeds(seed, indices, stream)
    out = torch.empty([len(seeds), *shape], dtype=torch.float32)
    g = torch.Generator()
    for row, s in enumerate(seeds.tolist()):
        g.manual_seed(s)
        draw(out[row], g)
    return out.to(device, non_blocking=True)


def randn(seed: int, indices: Sequence[int] | np.ndarray, shape: Sequence[int], stream: int = Stream.Z,
          device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard normal samples [len(indices), *shape], row i from the seed of ``indices[i]``."""
    return _per_sample(seed, indices, stream, shape, lambda o, g: o.normal_(generator=g), device)


def rand(seed: int, indices: Sequence[int] | np.ndarray, stream: int = Stream.T, shape: Sequence[int] = (),
         device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniform [0, 1) samples [len(indices), *shape], row i from the seed of ``indices[i]``."""
    return _per_sample(seed, indices, stream, shape, lambda o, g: o.uniform_(generator=g), device)


def batch_generator(seed: int, batch_index: int, stream: int = Stream.NOISE,
                    device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator on ``device`` for a quantity shared by global minibatch ``batch_index``."""
    s = int(sample_seeds(seed, [batch_index], stream)[0])
    return torch.Generator(device=device).manual_seed(s)


def batch_ranges(num: int, batch_size: int, rank: int = 0, world_size: int = 1) -> Iterator[tuple[int, range]]:
    """Yield ``(batch_index, range of global indices)`` of this rank's minibatches.

    Batches are the fixed ranges ``[b*batch_size, min((b+1)*batch_size, num))``; rank ``r`` of
    ``world_size`` takes batches ``r, r + world_size, ...``.
    """
    if num < 0 or batch_size < 1:
        raise ValueError(f"need num >= 0 and batch_size >= 1, got num={num}, batch_size={batch_size}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} out of range for world_size {world_size}")
    num_batches = (num + batch_size - 1) // batch_size
    for b in range(rank, num_batches, world_size):
        yield b, range(b * batch_size, min((b + 1) * batch_size, num))


def rank_indices(num: int, batch_size: int, rank: int = 0, world_size: int = 1) -> list[int]:
    """The global sample indices of this rank's minibatches, in the order :func:`batch_ranges` yields them."""
    return [i for _, idx in batch_ranges(num, batch_size, rank, world_size) for i in idx]


@contextlib.contextmanager
def seeded(seed: int, batch_index: int, stream: int = Stream.NOISE,
           device: torch.device | str = "cpu") -> Iterator[None]:
    """Seed torch's global RNG on ``device`` for one global minibatch, restoring it afterwards.

    For generators that draw their own noise (``noise_mode='random'``): the noise of minibatch
    ``batch_index`` is then a function of (seed, batch index) alone, so a metric run is reproducible
    and independent of the number of processes.
    """
    dev = torch.device(device)
    s = int(sample_seeds(seed, [batch_index], stream)[0])
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else [], device_type=dev.type if dev.type == "cuda" else "cuda"):
        torch.manual_seed(s)
        yield
