"""The authors' PPL sampler, transcribed, for benchmarks: stylegan2-ada-pytorch's / StyleGAN3's
``metrics/perceptual_path_length.py`` (both files hold the same sampler), and timers per component.

Per minibatch of ``batch`` pairs (2 in their metric_main.py): torch.randn latents, one mapping call on
both ends, lerp at t and t + eps (t = 0 for 'end', U(0, 1) for 'full'), every ``noise_const`` buffer
redrawn with randn_like, one synthesis call on all 2N images with noise_mode='const' and
force_fp32=True, the crop [3c:7c, 2c:6c], the box downsample by img_resolution // 256,
(x + 1) * 255 / 2, the distance on all 2N images, a clone of the result; then the 1st/99th percentile
filter. Their vgg16 takes [0, 255]; here the images go back to [-1, 1] for a shared LPIPS (one
elementwise op). Their calc_metrics turns TF32 off, so :func:`run_theirs` runs under
``metric_precision`` as ours does. No code of theirs is copied: this follows the algorithm.
"""

from __future__ import annotations

import copy
import time
from collections import defaultdict
from typing import Any, Callable

import numpy as np
import torch

from disentangle_metrics._core.device import metric_precision, sync

EPS = 1e-4


class Split:
    """Wall seconds per named component, summed over calls (the device drained around each)."""

    def __init__(self, device: torch.device | None = None) -> None:
        self.s: dict[str, float] = defaultdict(float)
        self.device = device

    def run(self, key: str, fn: Callable[[], Any]) -> Any:
        sync(self.device)
        t0 = time.perf_counter()
        out = fn()
        sync(self.device)
        self.s[key] += time.perf_counter() - t0
        return out


class NoSplit(Split):
    def run(self, key: str, fn: Callable[[], Any]) -> Any:
        return fn()


def _device_of(G: torch.nn.Module) -> torch.device:
    for t in list(G.parameters()) + list(G.buffers()):
        return t.device
    return torch.device("cpu")


class TheirSampler:
    """The authors' PPL sampler, transcribed (module docstring); ``sp`` times its components."""

    def __init__(self, G: torch.nn.Module, dist: Any, crop: bool = True, sampling: str = "end") -> None:
        self.G = copy.deepcopy(G)              # they deep-copy G (and the vgg16) into the sampler
        self.dist, self.crop, self.full = dist, crop, sampling == "full"
        self.device = _device_of(self.G)

    def __call__(self, c: torch.Tensor, sp: Split) -> torch.Tensor:
        G, n, dev = self.G, c.shape[0], self.device
        t = sp.run("latents", lambda: torch.rand([n], device=dev) * (1 if self.full else 0))
        z0, z1 = sp.run("latents", lambda: torch.randn([2 * n, G.z_dim], device=dev).chunk(2))
        w0, w1 = sp.run("mapping", lambda: G.mapping(z=torch.cat([z0, z1]), c=torch.cat([c, c])).chunk(2))
        ws = sp.run("lerp", lambda: torch.cat([w0.lerp(w1, t[:, None, None]), w0.lerp(w1, t[:, None, None] + EPS)]))

        def noise() -> None:
            for name, buf in G.named_buffers():
                if name.endswith(".noise_const"):
                    buf.copy_(torch.randn_like(buf))
        sp.run("noise", noise)
        img = sp.run("synthesis", lambda: G.synthesis(ws=ws, noise_mode="const", force_fp32=True))

        def crop_resize(img: torch.Tensor) -> torch.Tensor:
            if self.crop:
                k = img.shape[2] // 8
                img = img[:, :, k * 3:k * 7, k * 2:k * 6]
            f = G.img_resolution // 256
            if f > 1:
                img = img.reshape([-1, img.shape[1], img.shape[2] // f, f, img.shape[3] // f, f]).mean([3, 5])
            return (img + 1) * (255 / 2)
        img = sp.run("crop+resize", lambda: crop_resize(img))
        a, b = sp.run("copies", lambda: (img * (2 / 255) - 1).chunk(2))
        d = sp.run("distance", lambda: self.dist(a, b))
        return sp.run("copies", lambda: d / EPS ** 2)


def run_theirs(G: torch.nn.Module, dist: Any, n: int, batch: int, sp: Split,
               sampling: str = "end") -> tuple[float, float, float]:
    """(samples/s of the loop, set-up seconds, PPL value) of their sampler on ``n`` pairs, ``batch`` per
    minibatch, on G's device, TF32 off."""
    t0 = time.perf_counter()
    sampler = TheirSampler(G, dist, sampling=sampling)
    setup = time.perf_counter() - t0
    out = []
    with metric_precision(), torch.no_grad():
        sync(sampler.device)
        t0 = time.perf_counter()
        for _ in range(0, n, batch):
            c = torch.zeros([batch, G.c_dim], device=sampler.device)
            x = sampler(c, sp)
            out.append(sp.run("copies", lambda: x.clone()))
        sync(sampler.device)
        loop = time.perf_counter() - t0
    d = torch.cat(out)[:n].cpu().numpy()
    lo, hi = np.percentile(d, 1, method="lower"), np.percentile(d, 99, method="higher")
    return n / loop, setup, float(d[(d >= lo) & (d <= hi)].mean())
