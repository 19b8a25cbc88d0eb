"""Issue 23's input cases, run through the CLI on one code tree: the before/after table of its closing note.

Each case builds a small folder, zip or array of 32x32 images in a temporary folder and runs
``dmetrics compare`` (FID with the bundled ``testbed`` extractor, so no downloaded weights are needed)
on it, next to the clean set it should equal. Run it once on the code before issue 23 and once on
today's, with ``--code`` naming the tree (a git worktree) whose ``cli`` and ``disentangle_metrics``
are imported:

    git worktree add /tmp/before 927e4ff
    python benchmarks/issue23_cases.py --code /tmp/before > before.md
    python benchmarks/issue23_cases.py --code . > after.md

Printed: one Markdown row per case with the command and the last meaningful line of its output (the
FID line, or the error). FID values are only comparable within one run (the test-bed extractor's
weights differ between versions).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

N = 300


def images(seed: int, n: int = N, res: int = 32) -> np.ndarray:
    """uint8 [n, res, res, 3]: smooth colour blobs plus noise (a distribution the test-bed net separates)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:res, 0:res] / res
    out = np.empty((n, res, res, 3), np.float64)
    for i in range(n):
        cx, cy, r = rng.uniform(0.2, 0.8, 2).tolist() + [rng.uniform(0.1, 0.4)]
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        col = rng.uniform(0, 1, 3)
        out[i] = blob[..., None] * col + 0.1 * rng.standard_normal((res, res, 3)) + 0.2
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def write_folder(path: Path, arr: np.ndarray, fmt: str = "png", mode: str = "RGB") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(arr):
        im = Image.fromarray(a)
        if mode == "L":
            im = im.convert("L")
        elif mode == "I;16":
            g = np.asarray(im.convert("L")).astype(np.uint16) * 257        # the 8-bit value in both bytes
            im = Image.frombytes("I;16", g.shape[::-1], g.astype("<u2").tobytes())
        im.save(path / f"{i:05d}.{fmt}")
    return path


def build(tmp: Path) -> list[tuple[str, str, list[str]]]:
    """(case, what it should equal, compare arguments) per case; the clean twin comes first."""
    gen, ref = images(1), images(2)
    write_folder(tmp / "ref", ref)
    clean = write_folder(tmp / "gen", gen)
    hidden = write_folder(tmp / "gen_hidden", gen)
    write_folder(hidden / ".ipynb_checkpoints", images(9, 100))
    Image.fromarray(images(8, 1)[0]).save(hidden / ".thumb.png")
    gray8 = write_folder(tmp / "gray8", gen, mode="L")
    gray16 = write_folder(tmp / "gray16", gen, mode="I;16")
    mixed = write_folder(tmp / "mixed", gen[:150])
    write_folder(tmp / "mixed_bmp", gen[150:], fmt="bmp")
    for f in (tmp / "mixed_bmp").iterdir():
        shutil.move(str(f), mixed / f"b{f.name}")
    np.save(tmp / "unit.npy", (gen > 127).astype(np.uint8))          # [0, 1] floats cast to uint8
    with open(tmp / "GEN.NPZ", "wb") as f:                            # np.savez would append .npz
        np.savez(f, x=gen)
    np.savez(tmp / "two.npz", a=gen, b=ref)
    z = tmp / "gen_hidden.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(hidden.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(hidden).as_posix())
    R = str(tmp / "ref")
    return [
        ("clean folder (the value the others should give)", "-", [str(clean), R]),
        ("1. hidden `.ipynb_checkpoints/` and `.thumb.png` in the folder", "clean", [str(hidden), R]),
        ("1. the same, first 300 images (`--num 300`)", "clean", [str(hidden), R, "--num", "300"]),
        ("1. the same folder as a zip", "clean", [str(z), R]),
        ("2. 8-bit gray PNGs (reference for the next row)", "-", [str(gray8), R]),
        ("2. the same images as 16-bit gray PNGs (`I;16`)", "8-bit gray", [str(gray16), R]),
        ("3. uint8 array holding only 0/1", "refused", [str(tmp / "unit.npy"), R]),
        ("4. 150 PNG + 150 BMP", "clean (300 images)", [str(mixed), R]),
        ("5. `--out` under a regular file (unwritable)", "refused before compute",
         [str(clean), R, "--out", str(tmp / "unit.npy" / "r.jsonl")]),
        ("6. `.NPZ` in upper case", "clean", [str(tmp / "GEN.NPZ"), R]),
        ("9. `.npz` with two arrays, `--array-key a`", "clean", [str(tmp / "two.npz"), R, "--array-key", "a"]),
    ]


def last_line(out: str, failed: bool) -> str:
    keep = [ln.strip() for ln in out.splitlines() if ln.strip() and not ln.startswith(("  ", "\t"))]
    keys = ("Error", "error", "refus", "fid") if failed else ("fid", "Error", "error", "refus")
    for key in keys:
        hits = [ln for ln in keep if (ln.startswith(key) if key == "fid" else key in ln)]
        if hits:
            return hits[-1]
    return keep[-1] if keep else "(no output)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--code", default=".", help="the code tree to import cli/ and disentangle_metrics/ from")
    args = ap.parse_args()
    code = Path(args.code).resolve()
    env = dict(os.environ, PYTHONPATH=str(code), OMP_NUM_THREADS="1")
    tmp = Path(tempfile.mkdtemp(prefix="issue23_"))
    print(f"code: {code} (git {subprocess.run(['git', '-C', str(code), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()})\n")
    print("| case | should equal | command | output |\n|---|---|---|---|")
    for case, want, cargs in build(tmp):
        cmd = [sys.executable, "-c", "from cli.main import main; main()", "compare", *cargs,
               "--extractor", "testbed", "--device", "cpu", "--no-progress"]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=str(code), env=env, timeout=600)
        shown = "dmetrics compare " + " ".join(a.replace(str(tmp) + "/", "") for a in cargs)
        line = last_line(p.stdout + "\n" + p.stderr, p.returncode != 0).replace(str(tmp) + "/", "").replace("|", "\\|")
        fid = [ln.strip() for ln in p.stdout.splitlines() if ln.startswith("fid")]
        if p.returncode and fid and fid[-1] != line:
            line = f"{fid[-1]}, then {line}"
        print(f"| {case} | {want} | `{shown}` | {line[:260]} (exit {p.returncode}) |", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
