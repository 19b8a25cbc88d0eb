"""Held-out accuracy of the shipped test-bed classifier, per attribute, as a Markdown table.

    python scripts/eval_testbed_classifier.py [--num 5000] [--start 3000000000] [--weights FILE]

Loads the TorchScript file through disentangle_metrics (as the metrics do), renders test bed
images ``start .. start+num-1`` (never used in training: training indices stay below 10^9 and its
validation set starts at 10^9) at 32x32 and at 64x64, and reports per-attribute accuracy of
``logit > 0`` against the labels for both (64x64 images are box-downsampled by the loader).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from disentangle_metrics.data.testbed import TestbedConfig, render, sample_attributes  # noqa: E402
from disentangle_metrics.features.testbed_net import load_testbed_classifier  # noqa: E402


def accuracy(clf, cfg: TestbedConfig, start: int, num: int, batch: int = 500) -> np.ndarray:
    correct = 0
    for s in range(start, start + num, batch):
        idx = np.arange(s, min(s + batch, start + num))
        with torch.no_grad():
            pred = (clf(render(cfg, idx).float() / 127.5 - 1) > 0).numpy()
        correct = correct + (pred == sample_attributes(cfg, idx)).sum(0)
    return correct / num


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=5000)
    ap.add_argument("--start", type=int, default=3_000_000_000)
    ap.add_argument("--weights", default=None, help="another export (hash not checked)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    clf = load_testbed_classifier(args.weights, allow_hash_mismatch=args.weights is not None)
    base = TestbedConfig()
    acc = {r: accuracy(clf, base.replace(resolution=r), args.start, args.num) for r in (32, 64)}
    pos = sample_attributes(base, np.arange(args.start, args.start + args.num)).mean(0)
    print(f"held-out images {args.start} .. {args.start + args.num - 1} (default TestbedConfig), "
          f"file sha256 {clf.sha256[:16]}...\n")
    print("| attribute | accuracy, rendered at 32 | accuracy, rendered at 64 -> box 32 | positives |")
    print("|---|---:|---:|---:|")
    for k, name in enumerate(clf.attribute_names):
        print(f"| {name} | {acc[32][k]:.4f} | {acc[64][k]:.4f} | {pos[k]:.3f} |")
    print(f"| **mean** | {acc[32].mean():.4f} | {acc[64].mean():.4f} | |")
    print(f"| **min** | {acc[32].min():.4f} | {acc[64].min():.4f} | |")


if __name__ == "__main__":
    main()
