"""Peak memory of 50k updates (and compute) of FID, KID and PR: the Accumulator against torchmetrics 1.9.

Each case runs in its own process (peak RSS is per process): ``--num`` generated and ``--num``
real images, fed in batches of ``--batch``, through a tiny extractor (8x8 images, a fixed random
projection to D = 2048 features, ReLU; 4096 for PR, VGG16's size) given to both libraries, so the
run takes minutes on a CPU and measures what each library *keeps*, not a network's activations.
``ours+cap`` sets ``max_features=--num`` (rows in one buffer, read in place by compute()).
Reported: peak RSS over the process's RSS before the metric object is built (imports done),
and the wall time. PR's compute() runs only up to ``--pr-compute-max`` images (its memory is
bounded distance blocks; 50k x 50k 4096-d distances take hours on one CPU thread). torchmetrics
has no precision/recall metric; its KID keeps every feature in lists and concatenates them at
compute().

    python -m benchmarks.bench_accumulator [--num 50000] [--out bench_accumulator.json]

Measured 2026-12-07 (2-core shared CPU, one thread, torch 2.14.1, torchmetrics 1.9.0), extra RSS in MB
after 50k + 50k updates / peak including compute():

    FID 2048-d   ours 430 / 1139 (K = 10 jackknife groups + totals; the interval's 11 Frechet
                 distances make the compute peak)      torchmetrics 217 / 380 (no interval)
    KID 2048-d   ours 844 / 1722, with max_features 804 / 893      torchmetrics 1569 / 2400
    PR  4096-d   ours 913 after updates, with max_features 819 (float16 rows; torchmetrics has no PR);
                 at 10k + 10k: 194 / 820, with max_features 194 / 664
FID values agree (14.0793228 both; torchmetrics returns float32); KID differs by its subsets
(0.0158138 ours, 0.0157668 torchmetrics: RandomState vs torch's global RNG).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from disentangle_metrics.features import FeatureExtractor, register_extractor


class Projection(FeatureExtractor):
    """uint8 [N, 3, 8, 8] -> relu(x / 255 @ P) with a fixed random P [192, D]."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.feature_dim = dim
        self.register_buffer("P", torch.randn(192, dim, generator=torch.Generator().manual_seed(0)) / 8)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.adaptive_avg_pool2d(images.float() / 255, 8)   # 8x8 already: the identity
        return torch.relu(x.flatten(1) @ self.P)


@register_extractor("bench-projection-2048")
def _p2048(weights=None, device=None):
    return Projection(2048)


@register_extractor("bench-projection-4096")
def _p4096(weights=None, device=None):
    return Projection(4096)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_case(impl: str, metric: str, num: int, batch: int, pr_compute: bool = True, cap: bool = False) -> dict:
    """One case in this process: build, feed ``num`` generated and ``num`` real images, compute."""
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(1)
    import torchmetrics  # noqa: F401  (imported in every case, so the baselines match)
    from disentangle_metrics.metrics import accumulate  # noqa: F401
    base = _rss_mb()          # before the metric object: its preallocated state counts
    if impl == "ours":
        from disentangle_metrics.metrics.accumulate import Accumulator
        name = {"fid": "fid50k_full@bench-projection-2048", "kid": "kid50k_full@bench-projection-2048",
                "pr": "pr50k3_full"}[metric]
        if metric == "pr":     # the PR row's extractor is VGG16 (no weights here): the 4096-d projection instead
            from disentangle_metrics.features import EXTRACTORS, list_extractors
            list_extractors()
            EXTRACTORS["vgg16-nvidia"] = _p4096
        acc = Accumulator([name], device="cpu", max_features=num if cap else None)

        def feed(x: torch.Tensor, real: bool) -> None:
            acc.update(x, real=real)
        finish = acc.compute
    else:
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance
        m = (FrechetInceptionDistance(feature=Projection(2048)) if metric == "fid"
             else KernelInceptionDistance(feature=Projection(2048), subsets=100, subset_size=1000))

        def feed(x: torch.Tensor, real: bool) -> None:
            m.update(x, real=real)
        finish = m.compute
    t0 = time.perf_counter()
    for i in range(0, num, batch):
        n = min(batch, num - i)
        feed((torch.rand(n, 3, 8, 8, generator=g) * 255).to(torch.uint8), False)
        feed((torch.rand(n, 3, 8, 8, generator=g) * 200 + 20).to(torch.uint8), True)
    fed = _rss_mb()
    t1 = time.perf_counter()
    if metric == "pr" and not pr_compute:
        return {"impl": impl + ("+cap" if cap else ""), "metric": metric, "num": num, "value": None, "peak_after_updates_mb": round(fed - base),
                "peak_mb": None, "update_s": round(t1 - t0, 1), "compute_s": None}
    out = finish()
    value = out[0].value if isinstance(out, list) else float(out[0] if isinstance(out, tuple) else out)
    return {"impl": impl + ("+cap" if cap else ""), "metric": metric, "num": num, "value": value, "peak_after_updates_mb": round(fed - base),
            "peak_mb": round(_rss_mb() - base), "update_s": round(t1 - t0, 1),
            "compute_s": round(time.perf_counter() - t1, 1)}


def main() -> None:
    """Run every case in a fresh process and print a table (and write --out)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--num", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--out", default=None)
    ap.add_argument("--pr-compute-max", type=int, default=10_000,
                    help="compute PR only up to this count (50k x 50k 4096-d distances take hours on one CPU thread)")
    ap.add_argument("--case", default=None, help=argparse.SUPPRESS)   # impl:metric, run in this process
    a = ap.parse_args()
    if a.case:
        impl, metric = a.case.split(":")
        cap = impl.endswith("+cap")
        print(json.dumps(run_case(impl.replace("+cap", ""), metric, a.num, a.batch,
                                  pr_compute=a.num <= a.pr_compute_max, cap=cap)))
        return
    rows = []
    # ours+cap: max_features=num (rows in one buffer, read in place at compute)
    for case in ("ours:fid", "torchmetrics:fid", "ours:kid", "ours+cap:kid", "torchmetrics:kid", "ours:pr",
                 "ours+cap:pr"):
        p = subprocess.run([sys.executable, "-m", "benchmarks.bench_accumulator", "--case", case, "--num", str(a.num),
                            "--batch", str(a.batch), "--pr-compute-max", str(a.pr_compute_max)],
                           capture_output=True, text=True)
        if p.returncode:
            raise SystemExit(f"{case} failed:\n{p.stderr[-2000:]}")
        rows.append(json.loads(p.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{r['impl']:>12} {r['metric']:>3}  peak +{str(r['peak_mb']):>6} MB "
              f"(after updates +{r['peak_after_updates_mb']:>6})"
              f"  update {r['update_s']:>6} s  compute {str(r['compute_s']):>6} s  value {r['value']}", flush=True)
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
