"""Training and generator-forward throughput of a reference preset on this machine.

    python -m benchmarks.train_speed --resolution 32 --fmap-base 256 --fmap-max 32 --latent-size 128 --batch 32 --threads 1
    python -m benchmarks.train_speed --device cuda --resolution 1024 --fmap-max 512 --latent-size 512 --batch 4 --fwd-batch 16

Prints img/s of full training steps (D step with R1 + G step, at lod 0) and of the generator
forward in eval mode (what metric evaluation costs), plus parameter counts and checkpoint size.

``--compare`` times the training step of several code paths in one process, interleaved round by
round (so a shared machine's load hits them alike), and prints each one's median img/s and its ratio
to the first, the anchor (the median over rounds of the ratio within a round: load drifts between rounds):

- ``before``: the trainer as it was before issue 28 on a CPU (``torch.optim.Adam``, literal up/down
  convolutions, contiguous tensors);
- ``fast_resample``: TF's Adam update and the polyphase up/down convolutions, contiguous tensors;
- ``after``: today's defaults (the same in the channels_last memory format).

    python -m benchmarks.train_speed --fmap-base 256 --fmap-max 32 --latent-size 128 --batch 32 --threads 1 --compare
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time

import numpy as np
import torch

from reference_models.train import TrainConfig, Trainer
from reference_models.train.schedule import schedule


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="f-mixing90")
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--fmap-max", type=int, default=64)
    ap.add_argument("--latent-size", type=int, default=128)
    ap.add_argument("--fmap-base", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--fwd-batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--compare", action="store_true", help="time before/after code paths in one run (docstring)")
    ap.add_argument("--rounds", type=int, default=5, help="--compare: interleaved rounds of --steps steps each")
    a = ap.parse_args()
    if a.compare:
        compare(a)
        return
    with tempfile.TemporaryDirectory() as tmp:
        n = max(2 * a.batch, min(256, 2 ** 26 // (3 * a.resolution ** 2)))   # at most ~64 MB of random reals
        arr = np.random.default_rng(0).integers(0, 256, (n, 3, a.resolution, a.resolution), dtype=np.uint8)
        np.save(f"{tmp}/reals.npy", arr)
        cfg = TrainConfig(preset=a.preset, resolution=a.resolution, data=f"{tmp}/reals.npy", out=f"{tmp}/run",
                          total_kimg=1e6, batch=a.batch, progressive=False, device=a.device, grid_size=2, threads=a.threads,
                          g_overrides=dict(fmap_max=a.fmap_max, fmap_base=a.fmap_base, latent_size=a.latent_size),
                          d_overrides=dict(fmap_max=a.fmap_max, fmap_base=a.fmap_base))
        tr = Trainer(cfg, progress=False)
        sch = schedule(cfg, 0)
        tr.train_step(sch)  # warm-up
        sync = torch.cuda.synchronize if tr.device.type == "cuda" else (lambda: None)
        sync()
        t = time.perf_counter()
        for _ in range(a.steps):
            tr.train_step(sch)
        sync()
        train_ips = a.steps * a.batch / (time.perf_counter() - t)
        G = tr.G_ema
        z = torch.randn(a.fwd_batch, G.z_dim, device=tr.device)
        with torch.no_grad():
            G(z)
            sync()
            t = time.perf_counter()
            for _ in range(3):
                G(z)
            sync()
        fwd_ips = 3 * a.fwd_batch / (time.perf_counter() - t)
        buf = io.BytesIO()
        torch.save(G.state_dict(), buf)
        nG = sum(p.numel() for p in tr.G.parameters())
        nD = sum(p.numel() for p in tr.D.parameters())
        print(f"{a.preset} {a.resolution}px fmap_base {a.fmap_base} fmap_max {a.fmap_max} latent {a.latent_size} batch {a.batch} on {tr.device}: "
              f"train {train_ips:.1f} img/s, G forward {fwd_ips:.1f} img/s, G {nG/1e6:.2f}M params "
              f"({buf.tell()/1e6:.2f} MB), D {nD/1e6:.2f}M params, threads {torch.get_num_threads()}")
        tr.loader.close()


VARIANTS = {"before": dict(fast_resample=False, channels_last=False),
            "fast_resample": dict(fast_resample=True, channels_last=False),
            "after": dict(fast_resample=True, channels_last=True)}


def compare(a: argparse.Namespace) -> None:
    """Median img/s of each variant's training step over interleaved rounds, and ratios to ``before``."""
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/reals.npy", np.random.default_rng(0).integers(0, 256, (256, 3, a.resolution, a.resolution),
                                                                        dtype=np.uint8))
        trainers = {}
        for name, changes in VARIANTS.items():
            cfg = TrainConfig(preset=a.preset, resolution=a.resolution, data=f"{tmp}/reals.npy", out=f"{tmp}/{name}",
                              total_kimg=1e6, batch=a.batch, progressive=False, device=a.device, grid_size=2,
                              threads=a.threads, g_overrides=dict(fmap_max=a.fmap_max, fmap_base=a.fmap_base,
                                                                  latent_size=a.latent_size),
                              d_overrides=dict(fmap_max=a.fmap_max, fmap_base=a.fmap_base), **changes)
            tr = Trainer(cfg, progress=False)
            if name == "before":   # the optimiser the trainer had before issue 28
                adam = dict(lr=cfg.lr_base, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps)
                tr.G_opt = torch.optim.Adam(tr.G.parameters(), **adam)
                tr.D_opt = torch.optim.Adam(tr.D.parameters(), **adam)
            sch = schedule(cfg, 0)
            tr.train_step(sch)   # warm-up
            trainers[name] = (tr, sch)
        sync = torch.cuda.synchronize if next(iter(trainers.values()))[0].device.type == "cuda" else (lambda: None)
        rates: dict[str, list[float]] = {name: [] for name in trainers}
        for _ in range(a.rounds):
            for name, (tr, sch) in trainers.items():
                sync()
                t = time.perf_counter()
                for _ in range(a.steps):
                    tr.train_step(sch)
                sync()
                rates[name].append(a.steps * a.batch / (time.perf_counter() - t))
        anchor = np.array(rates["before"])
        print(f"{a.preset} {a.resolution}px fmap_base {a.fmap_base} fmap_max {a.fmap_max} latent {a.latent_size} "
              f"batch {a.batch}, threads {torch.get_num_threads()}, {a.rounds} rounds x {a.steps} steps "
              "(ratio: median over rounds of the round's img/s / the anchor's in that round):")
        for name, r in rates.items():
            ratio = float(np.median(np.array(r) / anchor))
            print(f"  {name:22s} {float(np.median(r)):7.1f} img/s (rounds {', '.join(f'{x:.1f}' for x in r)})  "
                  f"x{ratio:.2f}")
        for tr, _ in trainers.values():
            tr.loader.close()


if __name__ == "__main__":
    main()
