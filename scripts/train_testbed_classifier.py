"""Reproduce the shipped test-bed classifier: train it, then write both shipped files.

The shipped network is one run of this script with its defaults (docs/testbed_classifier.md):

    python scripts/train_testbed_classifier.py
    python scripts/train_testbed_classifier.py --from-checkpoint reference_models/pretrained/testbed_classifier  # export only

Outputs: ``reference_models/pretrained/testbed_classifier/`` (reference_models checkpoint:
config.json + model.pt, plus training.json and accuracy.md) and
``disentangle_metrics/assets/testbed_classifier.pt`` (the TorchScript export that
disentangle_metrics loads). Print the export's sha256 and put it into the ``testbed-classifier``
WeightSpec of disentangle_metrics/weights.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from disentangle_metrics.data.testbed import TestbedConfig  # noqa: E402
from reference_models.classifier_data import TestbedData  # noqa: E402
from reference_models.classifier_training import ClassifierTrainConfig, train_classifier, write_outputs  # noqa: E402

CHECKPOINT_DIR = ROOT / "reference_models" / "pretrained" / "testbed_classifier"
EXPORT_PATH = ROOT / "disentangle_metrics" / "assets" / "testbed_classifier.pt"
#: The shipped network: 32x32 input, narrow widths (fromRGB 16, blocks 16->32->64->64, dense 64).
SHIPPED = ClassifierTrainConfig(resolution=32, steps=24000, batch_size=32, lr=2e-3, fmap_base=256, fmap_max=64,
                                eval_every=800, seed=0)
#: Both ways a 32x32 test bed image arises: rendered at 32 (the mini-scale generator's data) and
#: rendered at the default 64 then box-downsampled.
RENDER_RESOLUTIONS = (32, 64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=SHIPPED.steps)
    ap.add_argument("--out", type=Path, default=CHECKPOINT_DIR)
    ap.add_argument("--export", type=Path, default=EXPORT_PATH)
    ap.add_argument("--from-checkpoint", type=Path, default=None, help="skip training: export this checkpoint")
    ap.add_argument("--num-validation", type=int, default=2000)
    ap.add_argument("--init-from", default=None, help="continue training this checkpoint folder")
    ap.add_argument("--lr", type=float, default=SHIPPED.lr)
    args = ap.parse_args()
    torch.set_num_threads(1)   # the build machine is shared; one core keeps timings comparable
    if args.from_checkpoint is None:
        cfg = ClassifierTrainConfig(**{**SHIPPED.__dict__, "steps": args.steps, "lr": args.lr, "init_from": args.init_from})
        data = TestbedData(TestbedConfig(), list(TestbedConfig().attribute_names), cfg.resolution,
                           RENDER_RESOLUTIONS, num_validation=args.num_validation)
        result = train_classifier(cfg, data, log=lambda m: print(time.strftime("%H:%M:%S"), m, flush=True))
        write_outputs(result, cfg, args.out, data.describe(), threshold=0.95)
        print(f"trained in {result.train_time_s:.0f} s; checkpoint in {args.out}", flush=True)
        src = args.out
    else:
        src = args.from_checkpoint
    from reference_models.classifier_export import export_torchscript
    digest = export_torchscript(src, args.export)
    print(f"TorchScript export {args.export} ({args.export.stat().st_size} bytes) sha256 {digest}")


if __name__ == "__main__":
    main()
