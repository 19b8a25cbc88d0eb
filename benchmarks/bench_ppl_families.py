"""PPL throughput on the three NVIDIA generator families: the authors' sampler (transcribed) vs ours, one run.

Generators, written in the tests in their shapes with random weights (none of NVIDIA's code):
``sg2ada`` tests/fake_nvidia/training/networks.py (stylegan2-ada-pytorch's structure: noise_const
buffers, float16 blocks unless force_fp32), ``sg3t`` and ``sg3r`` tests/sg3_shaped.py (StyleGAN3 configs T
and R: the layer plan, filtered leaky ReLU at twice the sampling rate as their reference (CPU) op runs it).
Distance: LPIPS-VGG (the lpips package's layers on a random VGG16 trunk), the same object for both samplers.

"Theirs" is a transcription of the algorithm of stylegan2-ada-pytorch's / StyleGAN3's
``metrics/perceptual_path_length.py`` (both files hold the same sampler): a private copy of G; per
minibatch of ``--their-batch`` pairs (2 in their metric_main.py) torch.randn latents, one mapping call on
both ends, lerp at t and t + eps, every ``noise_const`` buffer redrawn with randn_like, one synthesis
call on all 2N images with noise_mode='const' and force_fp32=True, the crop [3c:7c, 2c:6c], the box
downsample by img_resolution // 256, (x + 1) * 255 / 2, the distance network on all 2N images, a clone
of the result per minibatch; then the 1st/99th percentile filter. Their vgg16 takes [0, 255]; here the
images go back to [-1, 1] for the shared LPIPS (one elementwise op). The definition is ppl_wend.

"Ours" is ``ppl(G, 'w', 'end')`` at its defaults (16 pairs per noise draw, the images per generator call
from the table in disentangle_metrics/metrics/ppl.py), and "ours 0.2.0" the same with 0.2.0's rule (whole
pairs per call, from its own pixel table). Rates are samples per second of the sampling
loops alone (set-up, our precision check and the percentile filter are one-off costs, reported apart).
Samplers run interleaved, so a busy spell on a shared machine hits all of them; the best of
``--repeats`` is kept. Then a per-component breakdown of each sampler (time per pair, wall clock).

    python benchmarks/bench_ppl_families.py                       # the three families, a few minutes
    python benchmarks/bench_ppl_families.py --table               # synthesis ms per image at 1..32 images per call

``--nvidia-code DIR`` builds the generators from NVIDIA's own networks instead (a checkout of
stylegan2-ada-pytorch for ``sg2ada``, of stylegan3 for ``sg3t`` / ``sg3r``; one tree per process, as both
name their package ``training``), with random weights in their train.py configurations and channels
divided by ``--channel-div``. Nothing of theirs is committed; their dnnlib needs ``requests`` and their
ops ``pkg_resources`` (``pip install --target /tmp/extra requests "setuptools<81"`` and
``PYTHONPATH=/tmp/extra``):

    python benchmarks/bench_ppl_families.py --nvidia-code /tmp/stylegan3 --families sg3t sg3r --resolution 256 --channel-div 4
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fake_nvidia"))       # their networks import torch_utils

from benchmarks.gpu_check.adapters import write_random_vgg16  # noqa: E402
from benchmarks.ppl_anchor import EPS, NoSplit, Split, run_theirs  # noqa: E402
from disentangle_metrics._core import sampling  # noqa: E402
from disentangle_metrics.metrics.distances import build_distance  # noqa: E402
from disentangle_metrics.metrics.ppl import _endpoint_ws, crop_and_downsample, images_per_call_for, ppl  # noqa: E402
from disentangle_metrics.generators.sources import GeneratorSource  # noqa: E402

FAMILIES = ("sg2ada", "sg3t", "sg3r")
# 0.2.0's rule, for the "before" column: whole pairs per call, this many pixels per call on the CPU.
V020_PIXELS_PER_CALL = {"stylegan3": 2 * 64 ** 2, "stylegan2-ada": 32 * 64 ** 2}


def v020_images_per_call(kind: str, resolution: int, batch: int = 16) -> int:
    """Images per generator call under 0.2.0's compute-batch rule (pairs, so always even)."""
    pairs = max(1, min(batch, V020_PIXELS_PER_CALL.get(kind, 32 * 64 ** 2) // (2 * resolution ** 2)))
    return 2 * pairs


def build_family(name: str, resolution: int, sg3_scale: int, code: str | None = None,
                 channel_div: int = 1) -> torch.nn.Module:
    """A random generator of family ``name`` at ``resolution`` (the raw network, as a user's pickle holds):
    the test shapes, or with ``code`` NVIDIA's own networks from that checkout (module docstring)."""
    torch.manual_seed(0)
    if code is not None:
        if code not in sys.path:
            sys.path.insert(0, code)
        if name == "sg2ada":
            import training.networks as theirs
            G = theirs.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
                                 synthesis_kwargs=dict(channel_base=32768 // channel_div, channel_max=512 // channel_div,
                                                       num_fp16_res=4, conv_clamp=256))
        else:
            import training.networks_stylegan3 as theirs
            cfg = dict(channel_base=32768, channel_max=512) if name == "sg3t" else \
                dict(channel_base=65536, channel_max=1024, conv_kernel=1, use_radial_filters=True)
            cfg["channel_base"] //= channel_div
            cfg["channel_max"] //= channel_div
            G = theirs.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=resolution, img_channels=3,
                                 mapping_kwargs=dict(num_layers=2), **cfg)
        return G.eval().requires_grad_(False)
    if name == "sg2ada":
        import training.networks as nv
        G = nv.Generator(z_dim=64, c_dim=0, w_dim=64, img_resolution=resolution, img_channels=3,
                         synthesis_kwargs=dict(channel_base=2048, channel_max=64, num_fp16_res=2, conv_clamp=256))
        return G.eval().requires_grad_(False)
    from tests.sg3_shaped import make_generator
    return make_generator(name[-1], resolution=resolution, scale=sg3_scale)


# The timers and the authors' sampler live in benchmarks/ppl_anchor.py (the GPU check uses them too).


# ------------------------------------------------------------------------------------------ ours


def run_ours(G: torch.nn.Module, dist: Any, n: int, images_per_call: int | None) -> tuple[float, float, Any]:
    """(samples/s of the loop, seconds outside the loop, result) of ppl() at its defaults."""
    t0 = time.perf_counter()
    r = ppl(G, "w", "end", num_samples=n, distance=dist, device="cpu", seed=1, images_per_call=images_per_call)
    wall = time.perf_counter() - t0
    rate = r.extras["samples_per_s"]
    return rate, wall - n / rate, r


def split_ours(G: torch.nn.Module, dist: Any, n: int, batch: int, per_call: int, sp: Split) -> None:
    """Our sampling loop (ppl._sample_distances, W end) with a timer around each component."""
    with torch.no_grad():
        src = GeneratorSource(G, device="cpu", force_fp32=True)
        d_all = torch.zeros([n], dtype=torch.float64)
        for b, idx in sampling.batch_ranges(n, batch):
            rows = np.arange(idx.start, idx.stop)
            z0 = sp.run("latents", lambda: src.latents(1, rows, sampling.Stream.Z))
            z1 = sp.run("latents", lambda: src.latents(1, rows, sampling.Stream.Z_END))
            t = sp.run("latents", lambda: torch.zeros([len(rows)]))
            c = sp.run("latents", lambda: src.labels(1, rows))
            # _endpoint_ws: the mapping and the lerp in one; the lerp alone timed below
            ws = sp.run("mapping", lambda: _endpoint_ws(src.mapping, z0, z1, c, t, "w", EPS))
            w0, w1 = ws.chunk(2)
            sp.run("lerp", lambda: torch.cat([torch.lerp(w0, w1, t[:, None, None]), torch.lerp(w0, w1, t[:, None, None] + EPS)]))
            parts = []
            for s in range(0, ws.shape[0], per_call):
                gen = sp.run("noise", lambda: sampling.batch_generator(1, b, sampling.Stream.NOISE))
                sp.run("noise", lambda: src.G.reseed_noise(gen))
                img = sp.run("synthesis", lambda: src.G.synthesis(ws[s:s + per_call], noise_mode="const", force_fp32=True))
                parts.append(sp.run("crop+resize", lambda: crop_and_downsample(img, True, "tf", src.resolution)))
            a, bb = sp.run("copies", lambda: torch.cat(parts).chunk(2))
            d = sp.run("distance", lambda: dist(a, bb))
            sp.run("copies", lambda: d_all[idx.start:idx.stop].copy_(d.to(torch.float64) / EPS ** 2))
        sp.s["mapping"] -= sp.s["lerp"]


# ------------------------------------------------------------------------------------------ report


def load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "load average %.2f %.2f %.2f" % os.getloadavg()


def bottleneck(split: dict[str, float]) -> str:
    total = sum(split.values())
    parts = sorted(split.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in parts if v > 0.005 * total)


def table_mode(args: argparse.Namespace) -> None:
    """Milliseconds per image of synthesis + crop at 1..32 images per call, per family (the CPU table of
    images per call; the distance runs on the whole noise batch whatever the call size)."""
    print(f"{load()}\nms per image (synthesis + crop), best of {args.repeats}; resolution {args.resolution}")
    sizes = [k for k in (1, 2, 4, 8, 16, 32) if k <= args.table_max]
    for fam in args.families:
        G = build_family(fam, args.resolution, args.sg3_scale, args.nvidia_code, args.channel_div)
        src = GeneratorSource(G, device="cpu", force_fp32=True)
        row = {}
        with torch.no_grad():
            ws = src.mapping(torch.randn(max(sizes), src.z_dim), torch.zeros([max(sizes), 0]))
            src.G.synthesis(ws[:1], noise_mode="const", force_fp32=True)      # first-call set-up out of the timing
            for k in sizes:
                best = float("inf")
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    for s in range(0, max(sizes), k):
                        crop_and_downsample(src.G.synthesis(ws[s:s + k], noise_mode="const", force_fp32=True))
                    best = min(best, (time.perf_counter() - t0) / max(sizes))
                row[k] = best
        fastest = min(row, key=row.get)
        print(f"{fam:7s} " + "  ".join(f"{k:2d}: {v * 1e3:8.1f}" for k, v in row.items())
              + f"   fastest {fastest} images = {fastest * args.resolution ** 2} px per call", flush=True)
    print(load())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--sg3-scale", type=int, default=32, help="StyleGAN3 channels divided by this (CPU-sized)")
    ap.add_argument("--num-samples", type=int, default=64)
    ap.add_argument("--their-batch", type=int, default=2, help="pairs per minibatch of their sampler (metric_main: 2)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--table", action="store_true", help="measure the images-per-call table instead")
    ap.add_argument("--table-max", type=int, default=32, help="largest call measured by --table (images)")
    ap.add_argument("--nvidia-code", default=None, help="a checkout of stylegan2-ada-pytorch or stylegan3 (outside "
                                                        "the repository): their networks instead of the test shapes")
    ap.add_argument("--channel-div", type=int, default=1, help="with --nvidia-code: their channel counts divided by this")
    ap.add_argument("--no-breakdown", action="store_true", help="skip the per-component breakdown runs")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.table:
        table_mode(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_ppl_fam_"))
    vgg = write_random_vgg16(tmp / "vgg16-397923af.pth")
    dist = build_distance("lpips-vgg", device="cpu", weight_paths={"vgg16-torchvision": str(vgg)}, allow_hash_mismatch=True)
    n = args.num_samples
    print(f"start: {load()}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; ppl_wend, {n} samples per run, resolution "
          f"{args.resolution}, LPIPS-VGG (random trunk) for both; their batch {args.their_batch} pairs; best of {args.repeats}")
    for fam in args.families:
        G = build_family(fam, args.resolution, args.sg3_scale, args.nvidia_code, args.channel_div)
        kind = GeneratorSource(G, device="cpu").adapter
        chunk, rule = images_per_call_for(torch.device("cpu"), kind, args.resolution, 16)
        before = v020_images_per_call(kind, args.resolution)
        rates: dict[str, list[float]] = defaultdict(list)
        extra: dict[str, float] = {}
        for _ in range(args.repeats):
            r, setup, v = run_theirs(G, dist, n, args.their_batch, NoSplit())
            rates["theirs"].append(r)
            extra["theirs_setup_s"], extra["theirs_value"] = setup, v
            r, rest, res = run_ours(G, dist, n, before)
            rates["ours_before"].append(r)
            r, rest, res = run_ours(G, dist, n, None)
            rates["ours"].append(r)
            extra["ours_outside_loop_s"], extra["ours_value"] = rest, res.value
            assert res.config["images_per_call"] == chunk
        best = {k: max(v) for k, v in rates.items()}
        print(f"\n== {fam} ({kind}, {sum(p.numel() for p in G.parameters())} parameters); ours: 16 pairs per noise draw, "
              f"{chunk} images per generator call ({rule})")
        print(f"  theirs (batch {args.their_batch} pairs = {2 * args.their_batch} images per call) "
              f"{best['theirs']:8.3f} samples/s")
        print(f"  ours 0.2.0 ({before} images per call)   {best['ours_before']:8.3f} samples/s   "
              f"ours/theirs {best['ours_before'] / best['theirs']:.2f}x")
        print(f"  ours ({chunk} images per call)         {best['ours']:8.3f} samples/s   "
              f"ours/theirs {best['ours'] / best['theirs']:.2f}x")
        print(f"  values (same G, same distance; different draws): theirs {extra['theirs_value']:.4g}, "
              f"ours {extra['ours_value']:.4g}")
        print(f"  one-off: their set-up {extra['theirs_setup_s']:.2f} s; ours outside the loop (copy, precision check, "
              f"filter, bootstrap) {extra['ours_outside_loop_s']:.2f} s")
        if args.no_breakdown:
            continue
        for label, fn in (("theirs", lambda sp: run_theirs(G, dist, n, args.their_batch, sp)),
                          ("ours 0.2.0", lambda sp: split_ours(G, dist, n, 16, before, sp)),
                          ("ours", lambda sp: split_ours(G, dist, n, 16, chunk, sp))):
            sp = Split()
            fn(sp)
            per = {k: v / n for k, v in sp.s.items()}
            print(f"  breakdown {label:12s} ms/pair: " + ", ".join(f"{k} {v * 1e3:.2f}" for k, v in sorted(per.items()))
                  + f"\n    -> bottleneck: {bottleneck(per)}")
    print(f"\nend: {load()}")


if __name__ == "__main__":
    main()
