"""Run a function in N gloo processes on CPU, as torchrun would, and collect each rank's return value."""

from __future__ import annotations

import os
import pickle
import socket
from pathlib import Path
from typing import Any, Callable

import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, fn: Callable, args: tuple, out_dir: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    import torch
    torch.set_num_threads(1)
    import torch.distributed as dist
    from disentangle_metrics._core.distributed import init_from_env
    init_from_env("gloo")
    try:
        result = fn(*args)
        Path(out_dir, f"rank{rank}.pkl").write_bytes(pickle.dumps(result))
    finally:
        dist.destroy_process_group()


def run_distributed(fn: Callable, world: int, *args: Any, tmp_dir: str) -> list[Any]:
    """Spawn ``world`` processes running ``fn(*args)`` under a gloo process group; return results by rank."""
    mp.spawn(_worker, args=(world, _free_port(), fn, args, tmp_dir), nprocs=world, join=True)
    return [pickle.loads(Path(tmp_dir, f"rank{r}.pkl").read_bytes()) for r in range(world)]
