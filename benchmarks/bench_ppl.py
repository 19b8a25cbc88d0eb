"""PPL throughput: ours vs a straightforward per-pair loop vs torch-fidelity's PPL loop.

All three run the same generator (a small nonlinear conv generator from tests/toy_generators_ppl.py)
and the same LPIPS-VGG weights (a randomly initialised VGG16 trunk written in torchvision's file
format, plus the lpips package's linear layers) on the same device, in float32 with TF32 off.

torch-fidelity's PPL is a *different metric* (input-space interpolation, t = 0 only, resize to 64 and
uint8 quantisation by default). Here it is configured to receive the same cropped images in float
(its resize and quantisation off), so that the work per sample matches ours; only the speed of its
loop is compared, never its number.

    python benchmarks/bench_ppl.py --num-samples 256 --resolution 64
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from disentangle_metrics._core.device import describe, metric_precision, resolve_device, sync  # noqa: E402
from disentangle_metrics.metrics.distances import _lpips_lin_path, build_distance  # noqa: E402
from disentangle_metrics.metrics.ppl import crop_and_downsample, ppl  # noqa: E402
from toy_generators_ppl import ConvGenerator  # noqa: E402

EPS = 1e-4


class Clock:
    """Wall time and process CPU time (all threads). On a shared CPU the wall clock measures the
    neighbours as much as the code; CPU seconds are the steadier measure of the work done."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __enter__(self) -> "Clock":
        sync(self.device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        sync(self.device)
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def write_random_vgg16(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random VGG16 trunk in torchvision's key layout (features.N.*), saved to ``path``."""
    import torchvision
    torch.manual_seed(seed)
    feats = torchvision.models.vgg16(weights=None).features
    sd = {f"features.{k}": v for k, v in feats.state_dict().items()}
    torch.save(sd, path)
    return sd


def bench_ours(G, dist, n: int, batch_size: int, device: torch.device) -> tuple[float, float]:
    """(samples per wall second, samples per CPU second) of ppl() with a prebuilt distance."""
    with Clock(device) as c:
        ppl(G, "w", "full", num_samples=n, distance=dist, batch_size=batch_size, device=device, seed=1)
    return n / c.wall, n / c.cpu


def bench_per_pair(G, lpips_net, n: int, device: torch.device) -> tuple[float, float]:
    """The obvious loop: one pair at a time, two synthesis calls, a .item() per pair."""
    G = G.to(device)
    out = []
    with Clock(device) as c, metric_precision(), torch.no_grad():
        for _ in range(n):
            z = torch.randn([2, G.z_dim], device=device)
            t = torch.rand([], device=device)
            w0, w1 = G.mapping(z, None).chunk(2)
            G.reseed_noise(torch.Generator(device=device).manual_seed(len(out)))
            img0 = G.synthesis(torch.lerp(w0, w1, t), noise_mode="const")
            img1 = G.synthesis(torch.lerp(w0, w1, t + EPS), noise_mode="const")
            d = lpips_net(crop_and_downsample(img0), crop_and_downsample(img1))
            out.append(d.item() / EPS ** 2)
    return n / c.wall, n / c.cpu


class _CroppedImages(torch.nn.Module):
    """torch-fidelity's model interface: z -> images in [0, 255] (here: our crop, as float)."""

    def __init__(self, G) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        img = self.G.synthesis(self.G.mapping(z, None), noise_mode="const")
        return (crop_and_downsample(img) + 1) * (255 / 2)


def bench_torch_fidelity(G, vgg_sd, n: int, batch_size: int, device: torch.device,
                         torch_home: Path) -> tuple[float, float]:
    import torchvision
    import torch_fidelity
    import torch_fidelity.sample_similarity_lpips as tf_lpips
    from torch_fidelity.generative_model_modulewrapper import GenerativeModelModuleWrapper

    ckpt = torch_home / "hub" / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_lpips_lin_path(), ckpt / "weights-vgg16-lpips.pth")    # the same linear layers

    def same_trunk():   # torch-fidelity would download torchvision's VGG16; give it ours
        m = torchvision.models.vgg16(weights=None)
        m.features.load_state_dict({k[len("features."):]: v for k, v in vgg_sd.items()})
        return m

    tf_lpips.torchvision_load_pretrained_vgg16 = same_trunk
    # calculate_ppl builds its LPIPS on every call (seconds on CPU, far more than the loop on a small
    # generator); build it once and hand it back, so that only its sampling loop is timed, like ours.
    import torch_fidelity.metric_ppl as tf_ppl
    from torch_fidelity.utils import create_sample_similarity
    os.environ["TORCH_HOME"] = str(torch_home)
    similarity = create_sample_similarity("lpips-vgg16", cuda=device.type == "cuda", sample_similarity_resize=None,
                                          sample_similarity_dtype="float32")
    tf_ppl.create_sample_similarity = lambda *a, **k: similarity
    model = GenerativeModelModuleWrapper(_CroppedImages(G.to(device)), G.z_dim, "normal", 0)

    def run(num: int) -> Clock:
        with Clock(device) as c, metric_precision():
            torch_fidelity.calculate_metrics(
                input1=model, input1_model_num_samples=num, ppl=True, cuda=device.type == "cuda",
                batch_size=batch_size, ppl_sample_similarity_resize=None, ppl_sample_similarity_dtype="float32",
                ppl_epsilon=EPS,
                # Its percentile step passes np.percentile(interpolation=...), which numpy 2 no longer
                # accepts (TypeError after the loop); the filter is not what is timed, so skip it.
                ppl_discard_percentile_lower=None, ppl_discard_percentile_higher=None,
                verbose=False, cache=False)
        return c

    c = run(n)
    return n / c.wall, n / c.cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num-samples", type=int, default=256)
    ap.add_argument("--per-pair-samples", type=int, default=64, help="samples for the slow per-pair loop")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--width", type=int, default=32, help="channels of the toy generator")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=1, help="best of this many runs each (shared, noisy machines)")
    args = ap.parse_args()
    device = resolve_device(args.device)
    tmp = Path(tempfile.mkdtemp(prefix="bench_ppl_"))
    try:
        vgg_path = tmp / "vgg16-397923af.pth"
        vgg_sd = write_random_vgg16(vgg_path)
        dist = build_distance("lpips-vgg", device=device, weight_paths={"vgg16-torchvision": str(vgg_path)},
                              allow_hash_mismatch=True)
        G = ConvGenerator(resolution=args.resolution, width=args.width).eval().requires_grad_(False)
        crop = crop_and_downsample(torch.zeros(1, 3, args.resolution, args.resolution)).shape[-1]
        print(f"device {describe(device)}, torch {torch.__version__}, threads {torch.get_num_threads()}; "
              f"generator {args.resolution}x{args.resolution} (crop {crop}x{crop}), width {args.width}; "
              f"LPIPS-VGG random trunk; batch {args.batch_size} pairs")
        bench_ours(G, dist, 2 * args.batch_size, args.batch_size, device)          # warm-up
        rates = {"ours": [], "per-pair": [], "torch-fidelity": []}
        for _ in range(args.repeats):     # interleaved, so a busy spell on a shared machine hits all three
            rates["ours"].append(bench_ours(G, dist, args.num_samples, args.batch_size, device))
            rates["per-pair"].append(bench_per_pair(G, dist.fn, args.per_pair_samples, device))
            rates["torch-fidelity"].append(bench_torch_fidelity(G, vgg_sd, args.num_samples, args.batch_size,
                                                                device, tmp / "torch_home"))
        best = {k: (max(r[0] for r in v), max(r[1] for r in v)) for k, v in rates.items()}
        print(f"best of {args.repeats}: {args.num_samples} samples (per-pair loop: {args.per_pair_samples}); "
              "samples/s by wall clock and per CPU second")
        o = best["ours"]
        for key, label in (("ours", "ours (ppl_wfull loop)"), ("per-pair", "per-pair reference loop"),
                           ("torch-fidelity", "torch-fidelity calculate_ppl loop")):
            w, c = best[key]
            ratio = "" if key == "ours" else f"   ours / {key}: {o[0] / w:.2f}x wall, {o[1] / c:.2f}x cpu"
            print(f"{label:36s} {w:8.1f} /s wall {c:8.1f} /s cpu{ratio}")
        print("note: torch-fidelity's PPL is a different metric (input-space lerp, t = 0, its own resize and "
              "quantisation); it was fed our crops in float so only loop speed is compared, not values.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
