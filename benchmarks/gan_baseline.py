"""A plain DCGAN on the test bed, scored like the recipe probes: what does FID@testbed look like for
a generator that is *not* a StyleGAN, on the same data, counts and CPU?

Issue 18 asks why the mini StyleGANs learn the test bed so slowly. This baseline separates "the
test bed and its FID are hard at this budget" from "our StyleGAN recipe or trainer is slow": the
DCGAN of Radford et al. (2016) -- transposed 4x4 convolutions with batch norm and ReLU in G,
strided 4x4 convolutions with batch norm and leaky ReLU in D, Adam lr 2e-4, betas (0.5, 0.999),
batch 64, the non-saturating logistic loss, no regulariser, no EMA -- at width ``nf`` (64 is
the paper's; G has ~18.5 nf^2 + 14 nf parameters beyond the first layer).

Data and FID follow :mod:`benchmarks.recipe_probe`: test-bed images 0 .. ``num_train``-1 at
32x32 (render seed 0, no mirror), FID of 2,500 samples (seed 123) against the first 10,000
test-bed images, test-bed extractor; rows are appended to ``curves.csv`` in that driver's format
(probe, kimg, fid, wall_s, img_per_s, spec, fid_raw_G empty), so one plot shows both. Sampling
uses G in eval mode (batch norm with its running statistics).

    python -m benchmarks.gan_baseline --out /work/runs/dcgan --nf 64 --evals 20,40,60,100,150,200,300
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

Z_DIM = 128


def build_dcgan(nf: int, z_dim: int = Z_DIM, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """(G, D) of the DCGAN at 32x32 with base width ``nf``; G maps z [N, z_dim] to images in [-1, 1]."""
    torch.manual_seed(seed)

    def up(cin: int, cout: int, first: bool = False) -> list[nn.Module]:
        conv = nn.ConvTranspose2d(cin, cout, 4, 1, 0, bias=False) if first else nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
        return [conv, nn.BatchNorm2d(cout), nn.ReLU(True)]

    # D is initialised first (the order the recorded curves were trained with)
    D = nn.Sequential(nn.Conv2d(3, nf, 4, 2, 1), nn.LeakyReLU(0.2, True),
                      nn.Conv2d(nf, 2 * nf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * nf), nn.LeakyReLU(0.2, True),
                      nn.Conv2d(2 * nf, 4 * nf, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * nf), nn.LeakyReLU(0.2, True),
                      nn.Conv2d(4 * nf, 1, 4, 1, 0), nn.Flatten())
    G = nn.Sequential(nn.Unflatten(1, (z_dim, 1, 1)), *up(z_dim, 4 * nf, first=True), *up(4 * nf, 2 * nf),
                      *up(2 * nf, nf), nn.ConvTranspose2d(nf, 3, 4, 2, 1), nn.Tanh())
    return G, D


def train_and_score(out: Path, nf: int, evals: list[float], num_train: int = 10_000, batch: int = 64,
                    num_gen: int = 2500, num_real: int = 10_000, seed: int = 0) -> list[dict]:
    """Train the DCGAN, score FID@testbed at each ``evals`` kimg, append rows to ``out/curves.csv``."""
    from disentangle_metrics.generators.adapters import as_generator
    from disentangle_metrics.data.testbed import render_batch
    from disentangle_metrics.data.testbed_config import TestbedConfig
    from disentangle_metrics import fid

    out.mkdir(parents=True, exist_ok=True)
    reals = render_batch(TestbedConfig(resolution=32), 0, num_train)[0].float() / 127.5 - 1
    G, D = build_dcgan(nf, seed=seed)
    adam = dict(lr=2e-4, betas=(0.5, 0.999))
    opt_g, opt_d = torch.optim.Adam(G.parameters(), **adam), torch.optim.Adam(D.parameters(), **adam)
    gen = torch.Generator().manual_seed(seed)
    name, nimg, t0, rows = f"dcgan-nf{nf}", 0, time.time(), []
    spec = {"model": "dcgan", "nf": nf, "batch": batch, "lr": 2e-4, "betas": [0.5, 0.999],
            "g_params": sum(p.numel() for p in G.parameters()), "d_params": sum(p.numel() for p in D.parameters())}
    for kimg in evals:
        ts, n0 = time.time(), nimg
        while nimg < kimg * 1000:
            x = reals[torch.randint(0, num_train, (batch,), generator=gen)]
            fake = G(torch.randn(batch, Z_DIM, generator=gen))
            loss_d = F.softplus(D(fake.detach())).mean() + F.softplus(-D(x)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g = F.softplus(-D(fake)).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            nimg += batch
        rate = (nimg - n0) / (time.time() - ts)
        G.eval()
        with torch.no_grad():
            res = fid(as_generator(G, z_dim=Z_DIM, img_resolution=32), "testbed", num_samples=num_gen, num_real=num_real,
                      seed=123, device="cpu", extractor="testbed", batch_size=64)
        G.train()
        row = {"probe": name, "kimg": kimg, "fid": f"{res.value:.3f}", "wall_s": f"{time.time() - t0:.0f}",
               "img_per_s": f"{rate:.0f}", "spec": json.dumps(spec, sort_keys=True), "fid_raw_G": ""}
        _append(out / "curves.csv", row)
        rows.append(row)
        print(f"{name} {kimg:g} kimg fid {res.value:.2f} ({rate:.0f} img/s)", flush=True)
    torch.save({"G": G.state_dict(), "nf": nf, "kimg": evals[-1]}, out / f"{name}.pt")
    save_grid(G, out / f"{name}_fakes{evals[-1]:g}kimg.png")
    return rows


@torch.no_grad()
def save_grid(G: nn.Module, path: Path, num: int = 64, seed: int = 1) -> None:
    """An 8-column sheet of ``num`` samples of G in eval mode (latents from ``seed``)."""
    from reference_models.train.report import image_grid, save_png

    was_training = G.training
    z = torch.randn(num, Z_DIM, generator=torch.Generator().manual_seed(seed))
    save_png(image_grid(G.eval()(z), 8), path)
    G.train(was_training)


def _append(path: Path, row: dict) -> None:
    new = not path.is_file()
    with path.open("a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def main() -> None:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--nf", type=int, default=64)
    ap.add_argument("--evals", default="20,40,60", help="kimg at which to score, comma-separated")
    ap.add_argument("--num-train", type=int, default=10_000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    train_and_score(args.out, args.nf, [float(k) for k in args.evals.split(",")], num_train=args.num_train)


if __name__ == "__main__":
    main()
