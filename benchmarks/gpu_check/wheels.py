"""Wheels for the GPU machine, which has no package registry: ``python -m benchmarks.gpu_check.wheels``
(``make gpu-wheels``) downloads them into ``.whl/`` (git-ignored) for Python 3.12 on x86-64 Linux.

That machine has Python 3.12, torch 2.11, torchvision 0.26, numpy, scipy, scikit-learn, pandas,
click, tqdm, pillow, pytest and matplotlib; the project needs one more package at run time, lpips,
and its tests two more, pytorch-fid and torch-fidelity (all pure Python; their own dependencies are
all there). This module imports nothing outside the standard
library, so any ``python3`` with pip can run it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

# lpips: run time (PPL's LPIPS-VGG). pytorch-fid, torch-fidelity: test time only, so that a GPU-marked
# test in a file that imports them (the FID parity tests do) can still be collected there.
WHEELS: tuple[str, ...] = ("lpips==0.1.4", "pytorch-fid==0.3.0", "torch-fidelity==0.4.0")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
DEST = ".whl"

INSTALL_THERE = ("python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade "
                 "--target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:.")


def download_command(dest: str = DEST, python: str = "python3") -> list[str]:
    """The pip command that fetches :data:`WHEELS` as binary wheels for CPython 3.12 on manylinux x86-64."""
    cmd = [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp"]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    return cmd + ["-d", dest, *WHEELS]


def main(argv: list[str] | None = None) -> int:
    """Download the wheels and list what ``dest`` then holds; returns pip's exit code."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=f"On the GPU machine, in the repository root:\n  {INSTALL_THERE}")
    ap.add_argument("--dest", default=DEST, help="folder for the wheels (default %(default)s, git-ignored)")
    ap.add_argument("--print", action="store_true", help="print the commands instead of running them")
    a = ap.parse_args(argv)
    cmd = download_command(a.dest, sys.executable)
    if a.print:
        print(" ".join(cmd))
        print(INSTALL_THERE)
        return 0
    rc = subprocess.call(cmd)
    found = sorted(Path(a.dest).glob("*.whl"))
    print(f"{a.dest}: {', '.join(p.name for p in found) or 'no wheels'}")
    if rc == 0:
        print(f"carry {a.dest} to the GPU machine and run there, in the repository root:\n  {INSTALL_THERE}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
