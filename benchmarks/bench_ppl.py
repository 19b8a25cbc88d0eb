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

from disentangle_metrics.device import describe, metric_precision, resolve_device, sync  # noqa: E402
from disentangle_metrics.distances import _lpips_lin_path, build_distance  # noqa: E402
from disentangle_metrics.ppl import crop_and_downsample, ppl  # noqa: E402
from toy_generators_ppl import ConvGenerator  # noqa: E402

EPS = 1e-4


def write_random_vgg16(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random VGG16 trunk in torchvision's key layout (features.N.*), saved to ``path``."""
    import torchvision
    torch.manual_seed(seed)
    feats = torchvision.models.vgg16(weights=None).features
    sd = {f"features.{k}": v for k, v in feats.state_dict().items()}
    torch.save(sd, path)
    return sd


def bench_ours(G, dist, n: int, batch_size: int, device: torch.device) -> float:
    res = ppl(G, "w", "full", num_samples=n, distance=dist, batch_size=batch_size, device=device, seed=1)
    return res.extras["samples_per_s"]


def bench_per_pair(G, lpips_net, n: int, device: torch.device) -> float:
    """The obvious loop: one pair at a time, two synthesis calls, a .item() per pair."""
    G = G.to(device)
    out = []
    sync(device)
    start = time.perf_counter()
    with metric_precision(), torch.no_grad():
        for _ in range(n):
            z = torch.randn([2, G.z_dim], device=device)
            t = torch.rand([], device=device)
            w0, w1 = G.mapping(z, None).chunk(2)
            G.reseed_noise(torch.Generator(device=device).manual_seed(len(out)))
            img0 = G.synthesis(torch.lerp(w0, w1, t), noise_mode="const")
            img1 = G.synthesis(torch.lerp(w0, w1, t + EPS), noise_mode="const")
            d = lpips_net(crop_and_downsample(img0), crop_and_downsample(img1))
            out.append(d.item() / EPS ** 2)
    sync(device)
    return n / (time.perf_counter() - start)


class _CroppedImages(torch.nn.Module):
    """torch-fidelity's model interface: z -> images in [0, 255] (here: our crop, as float)."""

    def __init__(self, G) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        img = self.G.synthesis(self.G.mapping(z, None), noise_mode="const")
        return (crop_and_downsample(img) + 1) * (255 / 2)


def bench_torch_fidelity(G, vgg_sd, n: int, batch_size: int, device: torch.device, torch_home: Path) -> float:
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
    model = GenerativeModelModuleWrapper(_CroppedImages(G.to(device)), G.z_dim, "normal", 0)
    os.environ["TORCH_HOME"] = str(torch_home)

    def run(num: int) -> float:
        sync(device)
        start = time.perf_counter()
        with metric_precision():
            torch_fidelity.calculate_metrics(
                input1=model, input1_model_num_samples=num, ppl=True, cuda=device.type == "cuda",
                batch_size=batch_size, ppl_sample_similarity_resize=None, ppl_sample_similarity_dtype="float32",
                ppl_epsilon=EPS,
                # Its percentile step passes np.percentile(interpolation=...), which numpy 2 no longer
                # accepts (TypeError after the loop); the filter is not what is timed, so skip it.
                ppl_discard_percentile_lower=None, ppl_discard_percentile_higher=None,
                verbose=False, cache=False)
        sync(device)
        return time.perf_counter() - start

    # Each call rebuilds its LPIPS network (seconds on CPU); the marginal cost of n more samples
    # times the sampling loop alone, as ours reports it.
    t1, t2 = run(n), run(2 * n)
    return n / (t2 - t1)


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
        ours = per_pair = tfid = 0.0
        for _ in range(args.repeats):     # interleaved, so a busy spell on a shared machine hits all three
            ours = max(ours, bench_ours(G, dist, args.num_samples, args.batch_size, device))
            per_pair = max(per_pair, bench_per_pair(G, dist.fn, args.per_pair_samples, device))
            tfid = max(tfid, bench_torch_fidelity(G, vgg_sd, args.num_samples, args.batch_size, device,
                                                  tmp / "torch_home"))
        print(f"best of {args.repeats}: {args.num_samples} samples (per-pair loop: {args.per_pair_samples})")
        print(f"{'ours (ppl_wfull loop)':42s} {ours:9.1f} samples/s")
        print(f"{'per-pair reference loop':42s} {per_pair:9.1f} samples/s   ours / per-pair = {ours / per_pair:.2f}x")
        print(f"{'torch-fidelity calculate_ppl loop':42s} {tfid:9.1f} samples/s   ours / torch-fidelity = {ours / tfid:.2f}x")
        print("note: torch-fidelity's PPL is a different metric (input-space lerp, t = 0, its own resize and "
              "quantisation); it was fed our crops in float so only loop speed is compared, not values.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
