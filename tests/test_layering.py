"""The package's layers import only downwards, and no module imports itself back through others.

Layers, lowest first (README "Layout"): ``_core`` < ``data`` < ``functional`` < ``generators`` <
``features`` < ``metrics`` < ``api`` and the package ``__init__``. A module may import from its own
layer or a lower one; ``disentangle_metrics`` never imports ``reference_models`` or ``cli``.
"""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "disentangle_metrics"
LAYERS = ["_core", "data", "functional", "generators", "features", "metrics", "api", "__init__"]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path) -> set[str]:
    """Absolute names of the package's modules that ``path`` imports (function-level imports included)."""
    me = module_name(path, root)
    is_pkg = path.name == "__init__.py"
    pkg = root.name
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = me.split(".") if is_pkg else me.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] in (pkg, "reference_models", "cli"):
                for alias in node.names:     # `from . import x` imports the module x
                    sub = f"{mod}.{alias.name}"
                    exists = (root.parent / sub.replace(".", "/")).with_suffix(".py").exists() or \
                        (root.parent / sub.replace(".", "/") / "__init__.py").exists()
                    out.add(sub if exists else mod)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] in (pkg, "reference_models", "cli"))
    out.discard(me)
    return out


def layer_of(module: str, pkg: str) -> int:
    parts = module.split(".")
    if parts[0] != pkg:
        return len(LAYERS)        # reference_models, cli: above everything
    return LAYERS.index("__init__" if len(parts) == 1 else parts[1])


def problems(root: Path) -> list[str]:
    """Upward imports and import cycles among the modules of the package at ``root``."""
    pkg = root.name
    graph = {module_name(p, root): imports_of(p, root) for p in sorted(root.rglob("*.py"))}
    found = []
    for mod, deps in graph.items():
        for dep in sorted(deps):
            if layer_of(dep, pkg) > layer_of(mod, pkg):
                found.append(f"upward import: {mod} -> {dep}")
    # a package's __init__ re-exporting its own modules is the package, not a cycle
    edges = {m: {d for d in deps if d in graph and not m.startswith(d + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                found.append("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    return found


def test_the_package_imports_only_downwards_and_without_cycles():
    assert problems(PKG) == []


def test_every_module_sits_in_a_layer():
    pkg = PKG.name
    for p in PKG.rglob("*.py"):
        mod = module_name(p, PKG)
        parts = mod.split(".")
        assert len(parts) == 1 or parts[1] in LAYERS, f"{mod} is in no layer of {LAYERS}"
        assert layer_of(mod, pkg) < len(LAYERS)


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "disentangle_metrics"
    for rel, text in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return root


@pytest.mark.parametrize("files,expected", [
    ({"__init__.py": "", "_core/__init__.py": "", "_core/device.py": "from ..metrics import image\n",
      "metrics/__init__.py": "", "metrics/image.py": "from .._core import device\n"}, "upward import"),
    ({"__init__.py": "", "functional/__init__.py": "", "functional/a.py": "def f():\n    from . import b\n",
      "functional/b.py": "from .a import f\n"}, "import cycle"),
    ({"__init__.py": "", "features/__init__.py": "", "features/x.py": "import reference_models.build\n"},
     "upward import"),
])
def test_a_planted_back_edge_is_caught(tmp_path, files, expected):
    found = problems(_plant(tmp_path, files))
    assert any(expected in f for f in found), found
