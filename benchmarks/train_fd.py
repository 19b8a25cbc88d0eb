"""Pixel-space Frechet distance of a training run's G_ema snapshots against its training images.

    python -m benchmarks.train_fd /work/runs/mini-f --num 2000

A stand-in for a test-bed FID while no test-bed feature extractor is available: features are the
images box-downsampled to 8x8 (192 numbers in [0, 1]), and the Frechet distance of their
Gaussians is computed with :func:`disentangle_metrics.functional.frechet.frechet_distance`. It falls when
the generator matches colours, layout and coarse shapes of the data; it is *not* comparable to
an Inception FID. The row ``init`` is the run's generator at initialisation (rebuilt from the
run's config and seed, exactly as the trainer built it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from disentangle_metrics.functional.frechet import frechet_distance
from reference_models import build_generator, load_checkpoint
from reference_models.train import TrainConfig
from reference_models.train.data import open_reals


def features(images_uint8: torch.Tensor) -> np.ndarray:
    """[N, 3, R, R] uint8 -> [N, 192] float64 (8x8 box-downsampled pixels, scaled to [0, 1])."""
    x = F.adaptive_avg_pool2d(images_uint8.float() / 255.0, 8)
    return x.flatten(1).double().numpy()


@torch.no_grad()
def generated_features(G: torch.nn.Module, num: int, seed: int, batch: int = 250) -> np.ndarray:
    """Features of ``num`` images of G (no truncation, random noise, uint8 by x*127.5+128)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)   # the synthesis noise comes from the global RNG
    out = []
    for start in range(0, num, batch):
        z = torch.randn(min(batch, num - start), G.z_dim, generator=g)
        ws = G.mapping(z, None)
        img = (G.synthesis(ws, noise_mode="random") * 127.5 + 128).clamp(0, 255).to(torch.uint8)
        out.append(features(img))
    return np.concatenate(out)


def fd(a: np.ndarray, b: np.ndarray) -> float:
    return frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--num", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--every", type=int, default=1, help="use every k-th snapshot")
    ap.add_argument("--snapshot", type=Path, action="append", default=None,
                    help="evaluate these checkpoints (repeatable) instead of the run's snapshot-*.pt")
    a = ap.parse_args()
    torch.set_num_threads(1)
    cfg = TrainConfig.load(a.run / "config.json")
    reals = open_reals(cfg, a.run)
    idx = np.random.default_rng(a.seed).choice(len(reals), size=min(a.num, len(reals)), replace=False)
    real_f = features(reals.gather(np.sort(idx)))
    G0 = build_generator(cfg.preset, resolution=cfg.resolution, seed=cfg.seed, **cfg.g_overrides).eval()
    rows = [("init", fd(generated_features(G0, a.num, a.seed), real_f))]
    print(f"{'init':>24s}  pixel-FD(8x8) {rows[-1][1]:10.2f}", flush=True)
    for snap in a.snapshot or sorted(a.run.glob("snapshot-*.pt"))[::a.every]:
        G = load_checkpoint(snap)
        rows.append((snap.name, fd(generated_features(G, a.num, a.seed), real_f)))
        print(f"{snap.name:>24s}  pixel-FD(8x8) {rows[-1][1]:10.2f}", flush=True)
    # Same-distribution floor: two disjoint halves of the real sample.
    half = len(real_f) // 2
    print(f"{'reals vs reals (floor)':>24s}  pixel-FD(8x8) {fd(real_f[:half], real_f[half:]):10.2f}")


if __name__ == "__main__":
    main()
