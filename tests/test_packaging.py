"""Issue 24, packaging: the wheel installs only the project's own top-level names (``cli/`` goes in as
``disentangle_metrics_cli``), holds every folder of Python files, and its ``dmetrics`` runs from it."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# source folder -> installed top-level name
SOURCES = {"disentangle_metrics": "disentangle_metrics", "reference_models": "reference_models",
           "cli": "disentangle_metrics_cli"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built from a clean copy (a stale ``build/`` would add files that are gone)."""
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools in this environment")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for f in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / f, src / f)
    for d in SOURCES:
        shutil.copytree(REPO / d, src / d, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    (whl,) = (tmp / "dist").glob("*.whl")
    return whl


def test_the_wheel_installs_only_the_projects_top_level_names(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if ".dist-info/" not in n}
    assert top == set(SOURCES.values())


def test_the_wheel_holds_every_python_file_and_data_file(wheel):
    """Catches a folder missing from pyproject.toml's explicit package list."""
    names = set(zipfile.ZipFile(wheel).namelist())
    want = set()
    for d, installed in SOURCES.items():
        for p in (REPO / d).rglob("*"):
            if "__pycache__" in p.parts or not p.is_file() or p.suffix not in (".py", ".pt", ".json"):
                continue
            want.add(installed + "/" + p.relative_to(REPO / d).as_posix())
    assert sorted(want - names) == []


def test_the_console_script_is_the_installed_cli(wheel):
    z = zipfile.ZipFile(wheel)
    (ep,) = [n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt")]
    cfg = configparser.ConfigParser()
    cfg.read_string(z.read(ep).decode())
    assert dict(cfg["console_scripts"]) == {"dmetrics": "disentangle_metrics_cli.main:main"}


def test_dmetrics_runs_from_the_unpacked_wheel_without_a_cli_package(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = ("import sys; sys.argv = ['dmetrics', 'tables', '--help']\n"
             "from disentangle_metrics_cli.main import main\n"
             "import disentangle_metrics_cli.demo as demo, reference_models.tables\n"
             "assert demo.DEMO_GENERATOR.is_dir(), demo.DEMO_GENERATOR\n"
             "assert reference_models.tables.__file__.startswith(%r)\n"
             "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'cli')\n"
             "assert not bad, bad\n"
             "main()\n") % str(site)
    # run outside the checkout, the unpacked wheel first on the path
    res = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS="1"))
    assert res.returncode == 0 and "--scale" in res.stdout, res.stdout + res.stderr


def test_cli_modules_import_each_other_relatively():
    """``cli/`` is ``cli`` in the checkout and ``disentangle_metrics_cli`` when installed: only relative
    imports resolve under both names."""
    bad = [f"{p.name}:{i}" for p in sorted((REPO / "cli").glob("*.py"))
           for i, line in enumerate(p.read_text().splitlines(), 1)
           if re.match(r"\s*(from\s+cli(\.|\s)|import\s+cli(\.|\s|$))", line)]
    assert bad == []
