"""Step ``gpu_tests``: every GPU-marked test of ``tests/``, with one outcome per test.

The files that mention ``pytest.mark.gpu`` are run with ``pytest -m gpu`` (only those files: the
others may import packages the GPU machine lacks, such as pytorch-fid). Outcomes come from the
JUnit XML, or, when pytest was killed at its budget, from its verbose log. Without CUDA the tests
skip (tests/conftest.py) and are reported as 'skipped: no CUDA'.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Optional

from .plan import sizes_for
from .record import Recorder, env_with_repo, run_bounded, tail

REPO = Path(__file__).resolve().parents[2]

_VERBOSE = re.compile(r"^(\S+::\S+)\s+(PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)\b(.*)$")
_MARK = re.compile(r"\bpytest\.mark\.gpu\b|\bmark\.gpu\b")


def gpu_test_files(tests_dir: Path) -> list[Path]:
    """The test files that carry the ``gpu`` mark, sorted."""
    return sorted(p for p in tests_dir.glob("test_*.py") if _MARK.search(p.read_text(encoding="utf-8")))


def _skip_label(message: str) -> str:
    return "skipped: no CUDA" if "CUDA" in message else f"skipped: {message.strip()[:120]}"


def parse_junit(path: Path) -> list[dict[str, Any]]:
    """One {'id', 'outcome', 'seconds', 'message'} per test case of a pytest JUnit XML file."""
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        cls, name = case.get("classname", ""), case.get("name", "")
        mod, _, rest = cls.partition(".") if cls.startswith("tests.") else ("", "", cls)
        parts = rest.split(".")
        # classname 'tests.test_x' or 'tests.test_x.TestClass' -> node id 'tests/test_x.py[::TestClass]::name'
        node = f"tests/{parts[0]}.py" + "".join(f"::{p}" for p in parts[1:]) if mod else cls
        outcome, msg = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, msg = ("failed" if child.tag == "failure" else "error"), child.get("message", "")
            elif child.tag == "skipped":
                msg = child.get("message", "")
                outcome = _skip_label(msg)
        out.append(dict(id=f"{node}::{name}" if name else node, outcome=outcome,
                        seconds=float(case.get("time", 0) or 0), message=msg[:300]))
    return out


def parse_verbose(log_text: str) -> list[dict[str, Any]]:
    """Outcomes from ``pytest -v`` lines (used when pytest was killed before writing its XML)."""
    out = []
    for line in log_text.splitlines():
        m = _VERBOSE.match(line.strip())
        if m:
            word, rest = m.group(2), m.group(3)
            outcome = _skip_label(rest) if word == "SKIPPED" else word.lower()
            out.append(dict(id=m.group(1), outcome=outcome, seconds=None, message=rest.strip()[:300]))
    return out


def run_gpu_tests(repo: Path, which: str, rec: Recorder, tmp: Path, budget: float) -> bool:
    """Run the GPU-marked tests within ``budget`` seconds; True when none failed or errored.

    ``which``: 'all' files with GPU tests, or 'smallest' (one file: the smoke mode checks the path).
    """
    listed = gpu_test_files(repo / "tests")
    files = listed if which == "all" else sorted(listed, key=lambda p: p.stat().st_size)[:1]
    rec.put(files_listed=[str(p.relative_to(repo)) for p in listed], files=[str(p.relative_to(repo)) for p in files])
    junit, log = tmp / "junit.xml", tmp / "pytest.log"
    cmd = [sys.executable, "-m", "pytest", "-v", "-m", "gpu", "-p", "no:cacheprovider",
           "--continue-on-collection-errors", f"--junitxml={junit}", *[str(p) for p in files]]
    rc, secs = run_bounded(cmd, budget - 10, cwd=repo, env=env_with_repo(repo), log=log)
    tests = parse_junit(junit) if junit.is_file() else parse_verbose(log.read_text(errors="replace"))
    counts: dict[str, int] = {}
    for t in tests:
        counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
    bad = [t for t in tests if t["outcome"] in ("failed", "error")]
    rec.put(pytest_rc=rc, pytest_killed=rc is None, seconds=secs, tests=tests, counts=counts,
            log_tail=tail(log, 3000) if (bad or rc not in (0,)) else "")
    return rc == 0 and not bad and bool(tests)


def main(argv: Optional[list[str]] = None) -> None:
    """The step's process (the arguments of :mod:`.steps`, which it does not import: no torch here)."""
    import argparse
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("steps", nargs=1, choices=["gpu_tests"])
    ap.add_argument("--mode", choices=("paper", "smoke"), required=True)
    ap.add_argument("--device", required=True)
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--budget", action="append", default=[], metavar="STEP=SECONDS")
    a = ap.parse_args(argv)
    budget = float(dict(b.partition("=")[::2] for b in a.budget).get("gpu_tests", 120))
    rec = Recorder(a.out_dir / "gpu_tests.json")
    rec.put(step="gpu_tests", mode=a.mode, device=a.device)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-tests-") as tmp:
        ok = run_gpu_tests(REPO, sizes_for(a.mode).gpu_test_files, rec, Path(tmp), budget)
    rec.put(done=True, ok=ok, wall_s=time.perf_counter() - t0)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
