"""Checks on the repository itself: a merge must never leave conflict markers behind."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tracked_text_files():
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / f for f in out.splitlines() if f.endswith((".py", ".md", ".toml", ".txt", ".json", ".cfg"))
            or f in ("Makefile", ".ci/run")]


def test_no_merge_conflict_markers():
    bad = []
    for path in _tracked_text_files():
        if not path.is_file():
            continue
        for no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if line.startswith(("<<<<<<< ", ">>>>>>> ")) or line == "=======":
                bad.append(f"{path.relative_to(ROOT)}:{no}")
    assert not bad, "merge conflict markers left in: " + ", ".join(bad)
