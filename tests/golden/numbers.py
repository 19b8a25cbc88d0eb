"""Golden numbers: every registered metric at small counts, recorded before the package is restructured.

Issue 24 moves every module of ``disentangle_metrics``; these values must stay bit-identical through the
move. Each case runs one registered metric through :func:`disentangle_metrics.score` on the embedded
generator (``reference_models/pretrained/mini-f-mixing90``) against the procedural test bed, with the
test-bed networks, or with random weights of the exact Inception / VGG16 architectures where the paper's
networks are needed. ``python -m tests.golden.numbers --record`` rewrites ``golden.json``; the test
(``tests/test_golden_numbers.py``) recomputes and compares ``repr`` of every float.

Every case runs with one torch thread so that reductions happen in one order on any machine.
"""

from __future__ import annotations

import argparse
import os
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).with_name("golden.json")
GENERATOR = Path(__file__).resolve().parents[2] / "reference_models" / "pretrained" / "mini-f-mixing90"


@dataclass(frozen=True)
class Case:
    """One registered metric with the options it runs under (``weights``: names of random weight files)."""

    metric: str
    options: dict[str, Any] = field(default_factory=dict)
    weights: tuple[str, ...] = ()
    slow: bool = False


TESTBED = {"reference": "testbed", "extractor": "testbed"}

CASES: tuple[Case, ...] = (
    Case("fid50k", {**TESTBED, "num_samples": 200, "num_real": 200}),
    Case("fid50k_full", {**TESTBED, "num_samples": 200, "num_real": 160}),
    Case("kid50k", {**TESTBED, "num_samples": 120, "num_real": 120}),
    Case("kid50k_full", {**TESTBED, "num_samples": 120, "num_real": 100}),
    Case("pr50k3", {"reference": "testbed", "num_samples": 40, "num_real": 40}, ("vgg16-nvidia",)),
    Case("pr50k3_full", {"reference": "testbed", "num_samples": 40, "num_real": 30}, ("vgg16-nvidia",)),
    Case("pr50k3@vgg16-torchvision", {"reference": "testbed", "num_samples": 40, "num_real": 40},
         ("vgg16-torchvision",)),
    Case("pr50k3_full@vgg16-torchvision", {"reference": "testbed", "num_samples": 12, "num_real": 10},
         ("vgg16-torchvision",)),
    Case("is50k", {"num_samples": 20}, ("inception-v3-tf",)),
    Case("kid50k_full@inception", {"reference": "testbed", "num_samples": 24, "num_real": 24},
         ("inception-v3-tf",)),
    Case("ppl_zfull", {"distance": "testbed-lpips", "num_samples": 32}),
    Case("ppl_zend", {"distance": "testbed-lpips", "num_samples": 32}),
    Case("ppl_wfull", {"distance": "testbed-lpips", "num_samples": 32}),
    Case("ppl_wend", {"distance": "testbed-lpips", "num_samples": 32}),
    Case("ppl_wend@lpips-vgg", {"num_samples": 8}, ("vgg16-torchvision",)),
    Case("ppl_zfull@ada", {"num_samples": 8}, ("vgg16-nvidia",)),
    Case("ppl_zend@ada", {"num_samples": 8}, ("vgg16-nvidia",)),
    Case("ppl_wfull@ada", {"num_samples": 8}, ("vgg16-nvidia",)),
    Case("ppl_wend@ada", {"num_samples": 8}, ("vgg16-nvidia",)),
    Case("ppl2_wend", {"num_samples": 8}, ("vgg16-nvidia",)),
    Case("ls", {"classifier": "testbed", "num_samples": 1200, "num_keep": 600, "resamples": 4}),
    Case("fid50k@inception", {"reference": "testbed", "num_samples": 2100, "num_real": 2100},
         ("inception-v3-tf",), slow=True),
)


def write_weights(root: Path) -> dict[str, str]:
    """Random weights of the exact architectures (Inception-v3 in pytorch-fid's layout, torchvision VGG16)
    and NVIDIA-style TorchScript VGG16 stand-in, written under ``root``; name -> path."""
    import torch
    import torchvision

    from disentangle_metrics.features.random_weights import write_random_inception_weights
    from tests.suite_helpers import VGGStandIn, write_scripted

    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    vgg = root / "vgg16-random.pth"
    torch.save(torchvision.models.vgg16(weights=None).state_dict(), vgg)
    return {"inception-v3-tf": str(write_random_inception_weights(root / "random_inception.pth", seed=0)),
            "vgg16-torchvision": str(vgg),
            "vgg16-nvidia": write_scripted(VGGStandIn(), root / "vgg16.pt")}


def _plain(value: Any) -> Any:
    """JSON-safe copy: floats as repr strings (so equality is bit equality), NaN included."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return _plain(value.item())
    return value


def run_case(case: Case, weights: dict[str, str]) -> dict[str, Any]:
    """Run one case; the names, values and intervals of its results, floats as repr strings."""
    import torch

    import disentangle_metrics as dm
    from cli.loading import load_generator

    metric, ext = case.metric, None
    head, at, tag = metric.partition("@")
    if tag in ("inception", "lpips-vgg"):    # a golden-case label, not a registry suffix
        metric, ext = head, tag
    options = dict(case.options)
    if ext == "inception":
        options["extractor"] = "inception-v3-tf"
    if options.get("classifier") == "testbed":
        from cli.loading import load_object
        options["classifier"] = load_object("testbed")
    options["weights"] = {name: weights[name] for name in case.weights}
    options["allow_hash_mismatch"] = bool(case.weights)   # random weights of the registered architectures
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        G = load_generator(str(GENERATOR))
        results = dm.score(G, [metric], device="cpu", seed=0, progress=False, **options)
    finally:
        torch.set_num_threads(threads)
    return {r.metric: {"value": _plain(r.value), "values": _plain(dict(r.values)), "intervals": _plain(dict(r.intervals))}
            for r in results}


def _cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, else platform.processor())."""
    import platform
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment() -> dict:
    """What the bits depend on beyond the code: CPU kernels differ in rounding between torch builds and
    between CPUs (the same build dispatches AVX2 or AVX-512 kernels)."""
    import platform

    import numpy
    import torch
    env = {"torch": torch.__version__, "numpy": numpy.__version__, "machine": platform.machine(),
           "cpu": f"{_cpu_model()}; {torch.backends.cpu.get_cpu_capability()}"}
    if "OMP_NUM_THREADS" in os.environ:     # oneDNN picks other convolution kernels for another thread pool
        env["OMP_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"]
    return env


def environment_key() -> str:
    """:func:`environment` as one string (the key of a machine's extra record)."""
    return json.dumps(environment(), sort_keys=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--record", action="store_true", help="rewrite golden.json")
    p.add_argument("--weights-dir", default="/tmp/golden-weights")
    p.add_argument("--only", nargs="*", default=None, help="these cases only (default: every case but the slow ones)")
    p.add_argument("--slow", action="store_true", help="the slow cases too")
    p.add_argument("--record-here", action="store_true",
                   help="add this machine's bits under '_by_environment' (the primary record is kept): the test "
                        "is then bit-exact here too")
    a = p.parse_args()
    weights = write_weights(Path(a.weights_dir))
    cases = tuple(c for c in CASES if (c.metric in a.only if a.only is not None else a.slow or not c.slow))
    for case in cases:      # one case at a time, recorded as it finishes
        got = run_case(case, weights)
        print(json.dumps({case.metric: got}, indent=1), flush=True)
        if a.record or a.record_here:
            old = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
            if a.record:
                old[case.metric] = got
                old.setdefault("_environment", {})[case.metric] = environment()
            else:
                old.setdefault("_by_environment", {}).setdefault(environment_key(), {})[case.metric] = got
            GOLDEN.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
