"""Calibration of the KID and precision/recall intervals on Gaussian toys: the SE one run reports
against the spread over independent runs.

    python -m benchmarks.interval_calibration            # ~3 min on one (shared) CPU thread

Measured (2-core shared machine, seed 0): KID, N = 400 per side, 50 subsets, 300 draws:
m = 100 / 200 / 300: true SE 0.0401 / 0.0382 / 0.0397, ``subset_interval`` 0.0351 / 0.0280 / 0.0194,
``kid_interval`` (finite-population corrected) 0.0406 / 0.0396 / 0.0389. Precision / recall, 1000 vs
1000 in 8-d, k = 3, 200 draws: true SE 0.0090 / 0.0216, ``pr_interval`` (10 disjoint parts)
0.0093 / 0.0186, the probes' binomial SE with the manifold fixed (the earlier interval) 0.0067 /
0.0145; 2000 vs 2000 in 16-d, 100 draws: true SE 0.0184 / 0.0165, ``pr_interval`` 0.0133 / 0.0124,
manifold fixed 0.0098 / 0.0077. The whole run: 9 min with two other processes on the 2 cores.
"""

from __future__ import annotations

import numpy as np
import torch

from disentangle_metrics.functional.intervals import kid_interval, pr_interval, subset_interval
from disentangle_metrics.functional.kid import kid_from_features
from disentangle_metrics.functional.precision_recall import precision_recall_from_features, precision_recall_parts


def main() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    d, n = 16, 400
    for m in (100, 200, 300):
        vals, plain, fpc = [], [], []
        for r in range(300):
            x = rng.normal(0.0, 1.0, (n, d)).astype(np.float32)
            y = rng.normal(0.3, 1.0, (n, d)).astype(np.float32)
            k = kid_from_features(x, y, num_subsets=50, max_subset_size=m, seed=r, device="cpu")
            vals.append(k.mean)
            plain.append(subset_interval(k.subsets, k.subset_size, n).stderr)
            fpc.append(kid_interval(k.subsets, k.subset_size, n, n).stderr)
        print(f"KID N={n} m={m}: true SE {np.std(vals, ddof=1):.4g}, subset_interval {np.mean(plain):.4g}, "
              f"kid_interval {np.mean(fpc):.4g}")
    # precision / recall: two toys (8-d 1000 vs 1000; 16-d 2000 vs 2000), k = 3
    for d, n, shift, scale, draws in ((8, 1000, 0.3, 1.2, 200), (16, 2000, 0.5, 0.8, 100)):
        vals: dict[str, list] = {"precision": [], "recall": []}
        parts_se: dict[str, list] = {"precision": [], "recall": []}
        fixed_se: dict[str, list] = {"precision": [], "recall": []}
        for r in range(draws):
            x = rng.normal(0.0, 1.0, (n, d)).astype(np.float32)
            y = rng.normal(shift, scale, (n, d)).astype(np.float32)
            pr = precision_recall_from_features(x, y, device="cpu")
            parts = precision_recall_parts(x, y, device="cpu")
            for key in vals:
                v = getattr(pr, key)
                vals[key].append(v)
                parts_se[key].append(pr_interval(v, [getattr(q, key) for q in parts], n, n).stderr)
                fixed_se[key].append(np.sqrt(v * (1 - v) / n))   # probes' binomial SE, manifold held fixed
        for key in vals:
            print(f"{key:9s} {d}-d N={n}: {np.mean(vals[key]):.3f}, true SE {np.std(vals[key], ddof=1):.4f}, "
                  f"pr_interval {np.mean(parts_se[key]):.4f}, manifold fixed {np.mean(fixed_se[key]):.4f}")


if __name__ == "__main__":
    main()
