"""``python -m benchmarks.gpu_check.dist_probe PROBE.json SCORE-ARGS...``: initialise the process group
as the project does (``init_from_env``: NCCL on CUDA, gloo on CPU, nothing without torchrun), record
the backend in PROBE.json, then run ``dmetrics SCORE-ARGS`` in this process."""

from __future__ import annotations

import sys
from pathlib import Path

from . import adapters as A
from .record import write_json


def main(argv: list[str]) -> int:
    """Probe the backend, run the CLI, tear the process group down; returns the CLI's exit code."""
    import os

    import torch
    import torch.distributed as dist
    if os.environ.get("GPU_CHECK_THREADS"):     # the single-process run's thread count: same float32 sums
        torch.set_num_threads(int(os.environ["GPU_CHECK_THREADS"]))
    backend = A.dist_backend()
    write_json(Path(argv[0]), {"backend": backend, "world_size": dist.get_world_size() if dist.is_initialized() else 1})
    try:
        return A.cli_main(argv[1:])
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
