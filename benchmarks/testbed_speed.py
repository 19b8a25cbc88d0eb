"""Render speed of the procedural test bed (images/s), rendering only (no PNG encoding).

    python benchmarks/testbed_speed.py [--device cpu] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch

from disentangle_metrics.data.testbed import TestbedConfig, render_batch
from disentangle_metrics._core.device import resolve_device, sync


def measure(resolution: int, batch: int, repeats: int, device: torch.device) -> float:
    """Best images/s over ``repeats`` batches of ``batch`` images (after one warm-up batch)."""
    cfg = TestbedConfig(resolution=resolution)
    render_batch(cfg, 0, batch, device=device)
    best = 0.0
    for r in range(repeats):
        sync(device)
        t = time.perf_counter()
        render_batch(cfg, (r + 1) * batch, batch, device=device)
        sync(device)
        best = max(best, batch / (time.perf_counter() - t))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    for res, batch in ((16, 512), (32, 512), (64, 256), (128, 128), (256, 64)):
        print(f"{res:4d}x{res:<4d} batch {batch:4d}: {measure(res, batch, args.repeats, dev):8.0f} images/s "
              f"({dev}, {torch.get_num_threads()} threads)", flush=True)


if __name__ == "__main__":
    main()
