"""torch.distributed helpers: every metric runs unchanged under torchrun.

Work is split by global minibatch (:func:`disentangle_metrics._core.sampling.batch_ranges` with this
process's rank and the world size); sufficient statistics are reduced by sum and per-sample values
are gathered in global index order, so every rank ends with the same result, identical to a
single-process run with the same seed and batch size.

Launch: ``torchrun --nproc_per_node=N -m cli.main score ...`` (or ``dmetrics score --nproc N``);
multi-node: ``torchrun --nnodes=M --nproc_per_node=N --rdzv_backend=c10d --rdzv_endpoint=HOST:PORT``
or SLURM's ``srun`` with the same variables. NCCL is used on GPUs, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

import torch
import torch.distributed as dist

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when the torchrun/SLURM-style environment variables are set."""
    return all(v in os.environ for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def init_from_env(backend: Optional[str] = None) -> DistInfo:
    """Initialise the default process group from torchrun's variables when present.

    Backend: NCCL when CUDA is available, else gloo. Without torchrun variables this is a
    single-process run and nothing is initialised. Each CUDA process uses GPU ``LOCAL_RANK``.
    """
    if dist.is_available() and dist.is_initialized():
        return info()
    if not launched_by_torchrun():
        return DistInfo()
    missing = [v for v in _TORCHRUN_VARS if v not in os.environ]
    if missing:
        raise RuntimeError(f"torch.distributed launch is missing environment variables {missing}; "
                           "launch with torchrun (or set them as srun does)")
    local_rank = int(os.environ["LOCAL_RANK"])
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend=backend)
    return info()


def info() -> DistInfo:
    """Rank and world size of the current process group (0 / 1 when not distributed)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def _comm_device(t: torch.Tensor) -> torch.device:
    # NCCL only moves CUDA tensors; gloo moves CPU tensors.
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce_sum_(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over all processes in place (no-op when not distributed); returns ``t``."""
    if info().world_size == 1:
        return t
    dev = _comm_device(t)
    buf = t.to(dev)
    dist.all_reduce(buf, op=dist.ReduceOp.SUM)
    t.copy_(buf.to(t.device))
    return t


def gather_by_index(values: torch.Tensor, indices: torch.Tensor, total: int) -> torch.Tensor:
    """Assemble per-sample ``values`` [n_local, ...] held at global ``indices`` into [total, ...].

    Every process receives the full tensor in global index order. Raises if an index is missing or
    duplicated, since that would silently bias a metric.
    """
    if values.shape[0] != indices.shape[0]:
        raise ValueError(f"values ({values.shape[0]}) and indices ({indices.shape[0]}) differ in length")
    if info().world_size == 1:
        parts_v, parts_i = [values], [indices]
    else:
        dev = _comm_device(values)
        n = torch.tensor([values.shape[0]], device=dev)
        sizes = [torch.zeros_like(n) for _ in range(info().world_size)]
        dist.all_gather(sizes, n)
        cap = int(max(s.item() for s in sizes))
        pad_v = torch.zeros([cap, *values.shape[1:]], dtype=values.dtype, device=dev)
        pad_v[: values.shape[0]] = values.to(dev)
        pad_i = torch.full([cap], -1, dtype=torch.long, device=dev)
        pad_i[: indices.shape[0]] = indices.to(dev)
        all_v = [torch.empty_like(pad_v) for _ in sizes]
        all_i = [torch.empty_like(pad_i) for _ in sizes]
        dist.all_gather(all_v, pad_v)
        dist.all_gather(all_i, pad_i)
        parts_v = [v[: int(s.item())].to(values.device) for v, s in zip(all_v, sizes)]
        parts_i = [i[: int(s.item())].to(values.device) for i, s in zip(all_i, sizes)]
    idx = torch.cat(parts_i).long()
    if idx.numel() != total or not torch.equal(torch.sort(idx).values, torch.arange(total, device=idx.device)):
        raise RuntimeError(f"gathered {idx.numel()} samples with indices not covering 0..{total - 1} exactly once")
    out = torch.empty([total, *values.shape[1:]], dtype=values.dtype, device=values.device)
    out[idx] = torch.cat(parts_v)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Send a picklable object from ``src`` to every process (identity when not distributed)."""
    if info().world_size == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    """Wait for all processes (no-op when not distributed)."""
    if info().world_size > 1:
        dist.barrier()
