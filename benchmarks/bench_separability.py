"""Benchmark the SVM stage of linear separability: our batched solver vs scikit-learn's LinearSVC.

The paper's protocol: 200k samples, keep the 100k most confident per attribute, 40 attributes,
512-d latents, two spaces (z and w). The latents here are synthetic: z ~ N(0, I), w = a random
8-layer leaky-ReLU MLP of z (anisotropic like StyleGAN's W), logits = a mixture of linear
functions of w, nonlinear functions of z and noise, so the SVMs are neither trivial nor hopeless.

Both backends fit the same kept samples; the script reports each stage's time, the time ratio,
the largest per-attribute entropy difference and both scores. ``--sklearn-attributes K`` fits
scikit-learn on K evenly spaced attributes only (its fits are independent, so its full time is
extrapolated linearly and marked as such) for machines where 80 full fits take too long.

    python benchmarks/bench_separability.py                       # paper size, both backends
    python benchmarks/bench_separability.py --sklearn-attributes 4
    python benchmarks/bench_separability.py --num-samples 20000 --dim 128   # quick
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from disentangle_metrics._core.device import resolve_device, sync
from disentangle_metrics.metrics.separability import separability_from_samples


def synthetic_samples(num_samples: int, dim: int, num_attributes: int, seed: int = 0,
                      device: torch.device = torch.device("cpu")) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """z, w = MLP(z) and logits [N, A] for the benchmark (float32, on ``device``)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    z = torch.randn(num_samples, dim, generator=g)
    h = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
    for _ in range(8):
        W = torch.randn(dim, dim, generator=g) / dim ** 0.5
        h = torch.nn.functional.leaky_relu(h @ W * 2 ** 0.5 + 0.1 * torch.randn(dim, generator=g), 0.2)
    w = h
    wn = (w - w.mean(0)) / w.std(0)
    lin = wn @ (torch.randn(dim, num_attributes, generator=g) / dim ** 0.5)
    curved = torch.sin(2 * z[:, :num_attributes]) + 0.5 * z[:, num_attributes:2 * num_attributes] ** 2 - 0.5
    mix = torch.linspace(0.5, 3.0, num_attributes)      # from mostly nonlinear to mostly linear
    logits = mix * 2 * lin + curved + 0.5 * torch.randn(num_samples, num_attributes, generator=g)
    return {"z": z.to(device), "w": w.to(device)}, logits.to(device)


def run(num_samples: int, num_keep: int, dim: int, num_attributes: int, sklearn_attributes: int,
        device: str, seed: int) -> dict:
    """Time both backends on the same synthetic samples; return the figures as a dict."""
    dev = resolve_device(device)
    latents, logits = synthetic_samples(num_samples, dim, num_attributes, seed, dev)
    sync(dev)
    t0 = time.perf_counter()
    ours = separability_from_samples(latents, logits, num_keep=num_keep, backend="torch", device=dev)
    sync(dev)
    t_ours = time.perf_counter() - t0
    k = min(sklearn_attributes, num_attributes)
    # Evenly spaced attributes span the benchmark's range from nonlinear to nearly separable.
    idx = np.unique(np.linspace(0, num_attributes - 1, k).round().astype(int))
    k = len(idx)
    t0 = time.perf_counter()
    ref = separability_from_samples({s: x.cpu() for s, x in latents.items()}, logits[:, idx].cpu(),
                                    num_keep=num_keep, backend="sklearn", device="cpu")
    t_ref = time.perf_counter() - t0
    t_ref_full = t_ref * num_attributes / k
    diff = max(float(np.max(np.abs(ours.entropies[s][idx] - ref.entropies[s]))) for s in ours.entropies)
    out = {
        "num_samples": num_samples, "num_keep": num_keep, "dim": dim, "num_attributes": num_attributes,
        "sklearn_attributes": k, "device": str(dev), "torch_threads": torch.get_num_threads(),
        "ours_s": t_ours, "ours_svm_s": ours.svm_time_s,
        "sklearn_s": t_ref, "sklearn_svm_s": ref.svm_time_s,
        "sklearn_s_for_all_attributes": t_ref_full, "extrapolated": k < num_attributes,
        "speedup": t_ref_full / t_ours,
        "max_entropy_diff_bits": diff,
        "ours_scores": ours.scores, "sklearn_attribute_indices": idx.tolist(),
        "ours_scores_on_those": {s: float(2 ** ours.entropies[s][idx].sum()) for s in ours.entropies},
        "sklearn_scores_on_those": ref.scores,
        "ours_newton_iters": {s: ours.n_iter[s].tolist() for s in ours.n_iter},
        "sklearn_iters": {s: ref.n_iter[s].tolist() for s in ref.n_iter},
        "ours_status": {s: sorted(set(v)) for s, v in ours.status.items()},
        "sklearn_status": {s: sorted(set(v)) for s, v in ref.status.items()},
        "mean_entropy_bits": {s: float(np.mean(ours.entropies[s])) for s in ours.entropies},
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num-samples", type=int, default=200_000)
    ap.add_argument("--num-keep", type=int, default=None, help="default: half of --num-samples")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--attributes", type=int, default=40)
    ap.add_argument("--sklearn-attributes", type=int, default=None, help="default: all (no extrapolation)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    res = run(a.num_samples, a.num_keep or a.num_samples // 2, a.dim, a.attributes,
              a.sklearn_attributes or a.attributes, a.device, a.seed)
    print(json.dumps(res))
    print(f"\nSVM stage, {a.attributes} attributes x {len(res['ours_svm_s'])} spaces, {res['num_keep']} kept x {a.dim}-d: "
          f"ours {res['ours_s']:.1f} s ({res['device']}), scikit-learn {res['sklearn_s_for_all_attributes']:.1f} s"
          f"{' (extrapolated linearly from %d attributes)' % res['sklearn_attributes'] if res['extrapolated'] else ''}; "
          f"speedup {res['speedup']:.1f}x; largest entropy difference {res['max_entropy_diff_bits']:.2e} bits")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
