"""KID, precision/recall and IS: our statistics against torch-fidelity and stylegan2-ada-pytorch's loops.

One run, the same feature arrays for every implementation, runs interleaved (ours, theirs, ours,
...) and the best of ``--repeats`` kept per implementation, so the ratios hold on a machine whose
load changes; plus PR's peak memory (resident set size of a fresh process) against torch-fidelity's
full distance matrices.

    python -m benchmarks.bench_suite --out benchmarks/results/suite_cpu.json          # CPU, ~5 min
    python -m benchmarks.bench_suite --device cuda --kid-n 50000 --pr-n 50000 ...    # GPU

stylegan2-ada-pytorch's loops are transcribed in tests/_sg2ada_formulas.py (single process). Its PR
casts features to float16 and computes float16 distances; float16 matrix products are emulated
(slow) on a CPU, so on the CPU its loop is timed with float32 features ("sg2ada-loop-f32": the same
loop and the same four distance sets); ``--sg2ada-fp16`` times it as written as well.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from disentangle_metrics._core.device import resolve_device, sync
from disentangle_metrics.functional.inception_score import inception_score_from_logits
from disentangle_metrics.functional.kid import kid_from_features
from disentangle_metrics.functional.precision_recall import precision_recall_from_features
from tests import _sg2ada_formulas as sg2


def _features(n: int, d: int, shift: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(n, d, generator=g) + shift)      # non-negative, like pool/fc features


def _best(fns: dict, repeats: int, device: torch.device) -> tuple[dict, dict]:
    times = {k: [] for k in fns}
    values = {}
    for _ in range(repeats):
        for k, fn in fns.items():
            sync(device)
            t = time.perf_counter()
            values[k] = fn()
            sync(device)
            times[k].append(time.perf_counter() - t)
    return {k: min(v) for k, v in times.items()}, values


def bench_kid(args, dev) -> dict:
    from torch_fidelity.metric_kid import kid_features_to_metric
    x, y = _features(args.kid_n, 2048, 0.0, 1), _features(args.kid_n, 2048, 0.05, 2)
    xd, yd = x.to(dev), y.to(dev)
    xn, yn = x.numpy(), y.numpy()
    s = args.kid_subsets

    def sg2ada():
        np.random.seed(0)
        return sg2.kid(xn, yn, num_subsets=s, max_subset_size=1000)
    fns = {"ours": lambda: kid_from_features(xd, yd, num_subsets=s, seed=0, device=dev).mean,
           "torch-fidelity": lambda: kid_features_to_metric(x, y, kid_subsets=s, kid_subset_size=1000, rng_seed=0,
                                                            verbose=False)["kernel_inception_distance_mean"],
           "sg2ada-loop": sg2ada}
    t, v = _best(fns, args.repeats, dev)
    return dict(n=args.kid_n, dim=2048, subsets=s, subset_size=1000, seconds=t, values=v)


def bench_pr(args, dev) -> dict:
    from torch_fidelity.metric_prc import calculate_precision_recall_full
    x, y = _features(args.pr_n, 4096, 0.0, 3), 1.02 * _features(args.pr_n, 4096, 0.02, 4)
    xd, yd = x.to(dev), y.to(dev)
    bs = args.pr_block
    fns = {"ours": lambda: precision_recall_from_features(xd, yd, row_batch_size=bs, device=dev).precision,
           "ours-f32": lambda: precision_recall_from_features(xd, yd, row_batch_size=bs, feature_dtype=None,
                                                              device=dev).precision,
           "torch-fidelity": lambda: calculate_precision_recall_full(xd, yd, 3, bs)[0],
           "sg2ada-loop-f32": lambda: _sg2ada_pr_f32(xd, yd, bs)}
    if args.sg2ada_fp16 or dev.type == "cuda":
        fns["sg2ada-loop"] = lambda: sg2.precision_recall(xd, yd, 3, bs, bs)[0]
    t, v = _best(fns, args.repeats, dev)
    return dict(n=args.pr_n, dim=4096, block=bs, seconds=t, values=v)


def _sg2ada_pr_f32(x, y, bs):
    # the transcribed loop with its float16 casts replaced by float32 (CPU float16 products are emulated)
    orig = torch.Tensor.to

    def to32(self, *a, **k):
        if a and a[0] is torch.float16:
            a = (torch.float32,) + a[1:]
        return orig(self, *a, **k)
    torch.Tensor.to = to32
    try:
        return sg2.precision_recall(x, y, 3, bs, bs)[0]
    finally:
        torch.Tensor.to = orig


def bench_is(args, dev) -> dict:
    from torch_fidelity.metric_isc import isc_features_to_metric
    g = torch.Generator().manual_seed(5)
    logits = 4 * torch.randn(args.is_n, 1008, generator=g)
    probs = torch.softmax(logits, 1).numpy()
    ld = logits.to(dev)
    pd = torch.from_numpy(probs).to(dev)
    # torch-fidelity starts from logits, stylegan2-ada from the detector's probabilities: ours from each
    fns = {"ours": lambda: inception_score_from_logits(ld, num_splits=10).mean,
           "ours-probs": lambda: inception_score_from_logits(probs=pd, num_splits=10).mean,
           "torch-fidelity": lambda: isc_features_to_metric(ld, splits=10, shuffle=False)["inception_score_mean"],
           "sg2ada-loop": lambda: sg2.inception_score(probs, num_splits=10)[0]}
    t, v = _best(fns, args.repeats, dev)
    return dict(n=args.is_n, classes=1008, seconds=t, values=v)


_MEM_SCRIPT = """
import sys, torch
n, d, which = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
g = torch.Generator().manual_seed(0)
x = torch.randn(n, d, generator=g); y = torch.randn(n, d, generator=g) + 0.1
def hwm():   # peak resident set size since the last reset, MB
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
open("/proc/self/clear_refs", "w").write("5")   # reset the peak: imports and inputs do not count
base = hwm()
if which == "ours":
    from disentangle_metrics.functional.precision_recall import precision_recall_from_features
    r = precision_recall_from_features(x, y, row_batch_size=2048, device="cpu"); p = r.precision
else:
    from torch_fidelity.metric_prc import calculate_precision_recall_full
    p = calculate_precision_recall_full(x, y, 3, 10000)[0]
print(base, hwm(), p)
"""


def bench_pr_memory(args) -> dict:
    out = {}
    for n in args.mem_n:
        for which in ("ours", "torch-fidelity"):
            r = subprocess.run([sys.executable, "-c", _MEM_SCRIPT, str(n), "64", which], capture_output=True, text=True,
                               check=True, cwd=Path(__file__).resolve().parents[1])
            base, peak, p = r.stdout.split()
            out[f"{which}@{n}"] = dict(peak_rss_mb=float(peak), before_mb=float(base),
                                       growth_mb=float(peak) - float(base), precision=float(p),
                                       one_full_matrix_mb=n * n * 4 / 2 ** 20)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--kid-n", type=int, default=5000)
    ap.add_argument("--kid-subsets", type=int, default=10, help="per-subset work is constant: 10 stand for 100")
    ap.add_argument("--pr-n", type=int, default=4000)
    ap.add_argument("--pr-block", type=int, default=2000)
    ap.add_argument("--is-n", type=int, default=50_000)
    ap.add_argument("--mem-n", type=int, nargs="*", default=[10_000, 20_000])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--sg2ada-fp16", action="store_true", help="also time stylegan2-ada's float16 PR loop as written")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch and BLAS threads for every implementation (1: on a shared, oversubscribed CPU two "
                         "threads are often much slower than one)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    dev = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits
    threadpool_limits(args.threads)
    res = dict(device=str(dev), torch=torch.__version__, threads=torch.get_num_threads(), machine=platform.processor(),
               kid=bench_kid(args, dev), pr=bench_pr(args, dev), inception_score=bench_is(args, dev))
    if args.mem_n and dev.type == "cpu":
        res["pr_memory"] = bench_pr_memory(args)
    for k in ("kid", "pr", "inception_score"):
        s = res[k]["seconds"]
        res[k]["speedup_vs"] = {name: s[name] / s["ours"] for name in s if not name.startswith("ours")}
        if "ours-probs" in s:
            res[k]["speedup_vs"]["sg2ada-loop"] = s["sg2ada-loop"] / s["ours-probs"]   # both from probabilities
        print(f"{k:16s} " + "  ".join(f"{n} {t:.3f}s" for n, t in s.items()) + "  | ours is "
              + ", ".join(f"{r:.2f}x vs {n}" for n, r in res[k]["speedup_vs"].items()))
    for k, m in res.get("pr_memory", {}).items():
        print(f"pr memory {k:22s} peak RSS {m['peak_rss_mb']:.0f} MB (+{m['growth_mb']:.0f} MB; one full {k.split('@')[1]}^2 "
              f"float32 matrix is {m['one_full_matrix_mb']:.0f} MB)")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
