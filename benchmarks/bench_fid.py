"""FID speed: Fréchet distance ours vs scipy sqrtm, and extractor images/s ours vs pytorch-fid vs torch-fidelity.

All on the same inputs in one run: the same 2048-d statistics for the distances, the same uint8
images and the same (random, calibrated) Inception weights in pytorch-fid's format for the
extractors. Example:

    python benchmarks/bench_fid.py --device cpu --batch 8 --batches 5 --size 256
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def _stats(d: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) @ (rng.standard_normal((d, d)) / np.sqrt(d) + np.eye(d)) + rng.uniform(0, 1, d)
    return x.mean(0), np.cov(x, rowvar=False)


def bench_frechet(d: int, device: str, repeats: int, skip_sqrtm: bool) -> None:
    from pytorch_fid.fid_score import calculate_frechet_distance
    from disentangle_metrics.functional.frechet import frechet_distance
    (m1, s1), (m2, s2) = _stats(d, 2 * d, 0), _stats(d, 2 * d, 1)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        ours = frechet_distance(m1, s1, m2, s2, device=device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    print(f"frechet {d}-d  ours ({device}, Cholesky + eigvalsh, float64): {min(times):8.3f} s  (best of {repeats})  FID={ours:.9f}")
    if skip_sqrtm:
        return
    t = time.perf_counter()
    ref = calculate_frechet_distance(m1, s1, m2, s2)
    t_ref = time.perf_counter() - t
    print(f"frechet {d}-d  pytorch-fid (scipy sqrtm, cpu):              {t_ref:8.3f} s              FID={ref:.9f}")
    print(f"frechet speed-up {t_ref / min(times):.1f}x, relative difference {abs(ours - ref) / abs(ref):.2e}")


def _time(fn, x, device: str) -> float:
    """Seconds for one call of ``fn(x)``."""
    with torch.inference_mode():
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return time.perf_counter() - t


def bench_extractors(device: str, batch: int, batches: int, size: int, weights: str) -> None:
    import pytorch_fid.inception as pfi
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from disentangle_metrics.features import build_extractor

    g = torch.Generator().manual_seed(0)
    u8 = (torch.rand([batch, 3, size, size], generator=g) * 255).to(torch.uint8).to(device)
    ours = build_extractor("inception-v3-tf", weights=weights, device=device, allow_hash_mismatch=True)
    orig = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = lambda *a, **k: torch.load(weights, weights_only=True)
    try:
        pf = pfi.InceptionV3([3]).eval().to(device)
    finally:
        pfi.load_state_dict_from_url = orig
    tf = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=weights).to(device)
    runs = {
        "ours (inception-v3-tf)": lambda x: ours(x),
        "pytorch-fid InceptionV3": lambda x: pf(x.float() / 255)[0],  # its input contract: float in [0, 1]
        "torch-fidelity inception-v3-compat": lambda x: tf(x)[0],
    }
    for fn in runs.values():
        _time(fn, u8, device)  # warm-up (allocations, cuDNN autotune)
    # Interleaved rounds, best round per extractor: fair on a machine shared with other jobs.
    best = {name: float("inf") for name in runs}
    for _ in range(batches):
        for name, fn in runs.items():
            best[name] = min(best[name], _time(fn, u8, device))
    print(f"extractor images/s on {device}, batch {batch}, best of {batches} interleaved rounds, uint8 {size}x{size} "
          f"input, torch threads {torch.get_num_threads()}:")
    for name in runs:
        print(f"  {name:38s} {batch / best[name]:8.2f} img/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-sqrtm", action="store_true")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--batches", type=int, default=None)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--weights", default=None, help="Inception state_dict (default: random calibrated weights)")
    ap.add_argument("--skip-extractors", action="store_true")
    a = ap.parse_args()
    cuda = a.device.startswith("cuda")
    bench_frechet(a.dim, a.device, a.repeats, a.skip_sqrtm)
    if a.skip_extractors:
        return
    with tempfile.TemporaryDirectory() as tmp:
        weights = a.weights
        if weights is None:
            from disentangle_metrics.features.random_weights import write_random_inception_weights
            weights = write_random_inception_weights(Path(tmp) / "random_inception.pth")
        bench_extractors(a.device, a.batch or (128 if cuda else 8), a.batches or (10 if cuda else 3), a.size, weights)


if __name__ == "__main__":
    main()
