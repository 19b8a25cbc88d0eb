"""Where a reference generator's speckle and style influence come from (no training).

    python -m benchmarks.generator_diagnostics reference_models/pretrained/mini-f-mixing90 [MORE ...]

For each generator: the learned noise strengths per synthesis layer; the high-frequency energy
(image minus its 3x3 box blur, mean square) of 256 samples with noise 'const', 'none' and
'random', and of the first 256 test-bed images as the trainer renders them (seed 0); and the image change from
swapping one layer's w for another sample's, as a fraction of swapping all of them.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

import reference_models
from disentangle_metrics.data.testbed import TestbedConfig, render_batch


def high_freq_energy(x: torch.Tensor) -> float:
    """mean (x - box3(x))^2 with replicate padding."""
    k = torch.ones(x.shape[1], 1, 3, 3) / 9
    return float((x - F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=x.shape[1])).pow(2).mean())


@torch.no_grad()
def diagnose(path: str, n: int = 256) -> None:
    """Print noise strengths, high-frequency energies and per-layer style influence of one generator."""
    G = reference_models.load_checkpoint(path)
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(n, G.z_dim, generator=g), torch.randn(n, G.z_dim, generator=g)
    print(path)
    for name, t in G.state_dict().items():
        if name.endswith("noise.weight"):
            print(f"  noise strength {name}: mean |s| {float(t.abs().mean()):.3f}, max {float(t.abs().max()):.3f}")
    w1, w2 = G.mapping(z1, None), G.mapping(z2, None)
    for mode in ("const", "none", "random"):
        print(f"  high-frequency energy, noise {mode}: {high_freq_energy(G.synthesis(w1, noise_mode=mode).clamp(-1, 1)):.4f}")
    reals = render_batch(TestbedConfig(resolution=G.img_resolution), 0, n)[0].float() / 127.5 - 1   # as the trainer renders
    print(f"  high-frequency energy, test-bed reals: {high_freq_energy(reals):.4f}")
    x1 = G.synthesis(w1, noise_mode="const")
    full = float((G.synthesis(w2, noise_mode="const") - x1).pow(2).mean())
    swaps = []
    for i in range(G.num_ws):
        w = w1.clone()
        w[:, i] = w2[:, i]
        swaps.append(float((G.synthesis(w, noise_mode="const") - x1).pow(2).mean()) / full)
    print("  one layer's w swapped / all swapped: " + " ".join(f"{v:.3f}" for v in swaps))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("generators", nargs="+", help="checkpoint folders or .pt files of reference generators")
    torch.set_num_threads(1)
    for path in p.parse_args().generators:
        diagnose(path)


if __name__ == "__main__":
    main()
