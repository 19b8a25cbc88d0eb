"""One side (generated or real) of an :class:`~.accumulate.Accumulator`: what it keeps per extractor.

Per extractor, as the metrics asked need it:

- ``stats``: FID's float64 count, sum and sum of outer products (:class:`~..functional.stats.FeatureStats`);
- ``groups``: FID's K jackknife groups (K FeatureStats). Sample ``i`` of the fed sequence goes to group
  ``(i mod B + i div B) mod K``: the group :class:`~..functional.intervals.GroupedFeatures` gives row
  ``i mod B`` of batch ``i div B`` when ``dm.score`` runs with batch size ``B``, so the interval is
  score's whatever sizes the updates have;
- ``rows``: every feature row (KID, PR, IS) on the CPU, float32, or float16 when only precision/recall
  uses them (it rounds its features to float16 first, as stylegan2-ada does, so nothing is lost).

Under torch.distributed, sample ``c`` of rank ``r`` of ``W`` is sample ``i = c W + r`` of the
global sequence (round robin per sample, so no communication at update time and no dependence on
the updates' sizes): a run of W processes where rank r feeds samples r, r + W, ... equals one
process fed them all in order. Counts and sums are reduced at compute time, rows gathered by ``i``.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from .._core import distributed
from ..functional.stats import FeatureStats

CHUNK_BYTES = 64 << 20


class SideFeatures:
    """One extractor's accumulated features of one side (module docstring)."""

    def __init__(self, dim: int, device: torch.device, *, stats: bool, groups: int, rows: Optional[torch.dtype],
                 group_batch: int, capacity: Optional[int] = None) -> None:
        self.dim, self.device, self.group_batch = int(dim), device, int(group_batch)
        self.stats = FeatureStats(dim, device=device) if stats else None
        # all K groups exist from the start, so every rank holds every group for the reduction
        self.groups = [FeatureStats(dim, device=device) for _ in range(groups)] if groups else None
        self.row_dtype = rows
        # rows go into large preallocated chunks (64 MB: mapped pages count only once written): kept as the
        # extractor's own outputs they interleave with freed temporaries, and the heap's holes nearly
        # doubled the resident memory (measured: 1.5 GB for 820 MB of 2048-d rows, benchmarks.bench_accumulator)
        # ``capacity`` (the user's cap): one chunk of that many rows, so compute() reads a view, not a copy
        per_chunk = max(1, CHUNK_BYTES // (self.dim * (torch.finfo(rows).bits // 8))) if rows else 0
        self.chunk_rows = (capacity or per_chunk) if rows else 0
        self.chunks: list[torch.Tensor] = []
        self.num_rows = 0

    def update(self, f: torch.Tensor, first: int) -> None:
        """Add features ``f`` [n, D] of local samples ``first .. first + n - 1``."""
        if self.stats is not None:
            self.stats.update(f)
        if self.groups is not None:
            me = distributed.info()
            i = (torch.arange(first, first + f.shape[0], device=f.device) * me.world_size + me.rank)
            g = (i % self.group_batch + i // self.group_batch) % len(self.groups)
            for k in torch.unique(g).tolist():
                self.groups[k].update(f[g == k])
        if self.row_dtype is not None:
            self._append(f.detach())

    def _append(self, f: torch.Tensor) -> None:
        done = 0
        while done < f.shape[0]:
            at = self.num_rows % self.chunk_rows
            if at == 0 and self.num_rows // self.chunk_rows == len(self.chunks):
                with torch.inference_mode(False):    # a normal tensor: merge / load_state_dict write it later
                    self.chunks.append(torch.empty(self.chunk_rows, self.dim, dtype=self.row_dtype))
            n = min(f.shape[0] - done, self.chunk_rows - at)
            self.chunks[self.num_rows // self.chunk_rows][at:at + n] = f[done:done + n]
            done, self.num_rows = done + n, self.num_rows + n

    def local_rows(self) -> torch.Tensor:
        """The rows fed to this process as one [n, D] CPU tensor ([0, D] when none); a view of the
        buffer when it is one chunk, else a copy."""
        if len(self.chunks) == 1:
            return self.chunks[0][:self.num_rows]
        parts = [c[:max(0, min(self.chunk_rows, self.num_rows - i * self.chunk_rows))]
                 for i, c in enumerate(self.chunks)]
        return torch.cat(parts) if parts else torch.zeros(0, self.dim, dtype=self.row_dtype)

    def merge(self, other: "SideFeatures", count: int) -> None:
        """Add ``other`` (fed after this side's ``count`` samples): sums add, rows follow this side's.

        Group k of ``other`` becomes group (k + count div B) mod K: exactly the groups of one side
        fed both when ``count`` is a multiple of B (else a different, equally valid split)."""
        if self.stats is not None:
            self.stats.merge(other.stats)
        if self.groups is not None:
            K, shift = len(self.groups), count // self.group_batch
            for k, g in enumerate(other.groups):
                self.groups[(k + shift) % K].merge(g)
        if self.row_dtype is not None:
            self._append(other.local_rows())

    def reduced(self, count: int) -> tuple[Optional[FeatureStats], Optional[list[FeatureStats]],
                                           Optional[torch.Tensor]]:
        """(stats, groups, rows) over all processes; this process's state is left as it is."""
        stats = _copy(self.stats).all_reduce_() if self.stats is not None else None
        groups = [_copy(g).all_reduce_() for g in self.groups] if self.groups is not None else None
        rows = gather_rows(self.local_rows(), count) if self.row_dtype is not None else None
        return stats, groups, rows

    def state(self) -> dict[str, Any]:
        """Tensors and counts, on the CPU (state_dict)."""
        def st(s: FeatureStats) -> dict[str, Any]:
            # copies: on the CPU .cpu() would alias the live sums, which later updates change
            return {"count": s.count, "sum": s.sum.to("cpu", copy=True), "outer": s.outer.to("cpu", copy=True)}
        return {"stats": st(self.stats) if self.stats is not None else None,
                "groups": [st(g) for g in self.groups] if self.groups is not None else None,
                "rows": self.local_rows().clone() if self.row_dtype is not None else None}

    def load(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state`; the parts kept must match (same metrics)."""
        def ld(s: FeatureStats, d: dict[str, Any]) -> None:
            s.count, s._loaded = int(d["count"]), None
            s.sum = d["sum"].to(self.device, torch.float64).clone()
            s.outer = d["outer"].to(self.device, torch.float64).clone()
        for name, mine in (("stats", self.stats), ("groups", self.groups), ("rows", self.row_dtype)):
            if (mine is None) != (state[name] is None):
                raise ValueError(f"state_dict: '{name}' {'missing' if state[name] is None else 'unexpected'}; "
                                 "load a state saved by an Accumulator with the same metrics")
        if self.stats is not None:
            ld(self.stats, state["stats"])
        if self.groups is not None:
            if len(state["groups"]) != len(self.groups):
                raise ValueError(f"state_dict has {len(state['groups'])} FID groups, this accumulator "
                                 f"{len(self.groups)}")
            for g, d in zip(self.groups, state["groups"]):
                ld(g, d)
        if self.row_dtype is not None:
            self.chunks, self.num_rows = [], 0
            self._append(state["rows"])


def _copy(s: FeatureStats) -> FeatureStats:
    out = FeatureStats(s.dim, device=s.device)
    out.count, out.sum, out.outer = s.count, s.sum.clone(), s.outer.clone()
    return out


def rank_counts(count: int) -> list[int]:
    """Every process's local sample count (``[count]`` when not distributed)."""
    me = distributed.info()
    if me.world_size == 1:
        return [int(count)]
    n = torch.zeros(me.world_size, dtype=torch.float64)
    n[me.rank] = count
    distributed.all_reduce_sum_(n)
    return [int(round(v)) for v in n.tolist()]


def gather_rows(local: torch.Tensor, count: int) -> torch.Tensor:
    """All processes' rows in the global order ``i = c W + r`` (module docstring), compacted when the
    ranks fed unequal counts: local row c of rank r lands at sum_r' min(n_r', c + [r' < r])."""
    me = distributed.info()
    if me.world_size == 1:
        return local
    counts = rank_counts(count)
    c = torch.arange(local.shape[0])
    idx = sum(torch.clamp(c + int(r2 < me.rank), max=n) for r2, n in enumerate(counts))
    return distributed.gather_by_index(local, idx, sum(counts))
