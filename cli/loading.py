"""Turn a GENERATOR argument of the CLI into a protocol generator.

GENERATOR is one of:
- a checkpoint of ``reference_models`` (a folder with ``config.json`` + ``model.pt``, or a training
  checkpoint ``.pt``), loaded with ``torch.load(weights_only=True)``: no code runs;
- ``package.module:factory``: a Python callable returning a generator (called without arguments);
- a foreign pickle (``.pkl``, or a ``.pt`` that needs code to unpickle): refused unless
  ``trust_pickle=True`` (``--trust-pickle``), because unpickling runs arbitrary code. Such files
  need their authors' code importable: ``code_path`` (``--code-path DIR``, prepended to
  ``sys.path``) or ``PYTHONPATH``. stylegan2-ada-pytorch / StyleGAN3 snapshots (``G_ema``) come
  back as their ``Generator`` and are adapted (``as_generator``); rosinality's training
  checkpoints (``g_ema`` state_dict + ``args``) are rebuilt with rosinality's ``model.Generator``.

Which route fits which file is read from the pickle's opcodes (no code runs) and named in the
refusal message.
"""

from __future__ import annotations

import importlib
import pickle
import pickletools
import re
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterable, Optional

import torch

from disentangle_metrics.generators.protocol import as_generator


# Top-level modules a foreign pickle may need, the repository they come from and how to get them.
NVIDIA_REPOS = "NVlabs/stylegan2-ada-pytorch or NVlabs/stylegan3"
KNOWN_MODULES = {
    "torch_utils": NVIDIA_REPOS, "dnnlib": NVIDIA_REPOS, "training": NVIDIA_REPOS, "legacy": NVIDIA_REPOS,
    "model": "rosinality/stylegan2-pytorch", "op": "rosinality/stylegan2-pytorch",
}
PIP_MODULES = {"requests": "requests (NVIDIA's dnnlib imports it)", "scipy": "scipy", "psutil": "psutil"}
# Modules NVIDIA's code imports that come from setuptools, not from a package of their own name:
# torch_utils/ops/conv2d_gradfix.py and grid_sample_gradfix.py (StyleGAN3) import pkg_resources,
# which setuptools 81 and later no longer ship; dnnlib/util.py imports distutils, which Python 3.12
# removed (setuptools provides it).
SETUPTOOLS_MODULES = {
    "pkg_resources": "NVIDIA's torch_utils/ops/conv2d_gradfix.py and grid_sample_gradfix.py import it; "
                     "setuptools 81 and later no longer ship it",
    "distutils": "NVIDIA's dnnlib/util.py imports it; Python 3.12 removed it and setuptools provides it",
}
SETUPTOOLS_FIX = 'pip install "setuptools<81"'

ROUTES = (
    "Which route fits which file: NVIDIA's StyleGAN (v1) TensorFlow pickles (dnnlib.tflib): "
    "`dmetrics convert-official PKL --out DIR`, no code runs; stylegan2-ada-pytorch / StyleGAN3 pickles "
    f"(torch_utils.persistence): --trust-pickle --code-path <a clone of {NVIDIA_REPOS}>; rosinality's "
    "stylegan2-pytorch checkpoints (.pt with g_ema): --trust-pickle --code-path <a clone of rosinality/stylegan2-pytorch>. "
    "See the README section \"Scoring a stylegan2-ada / StyleGAN3 / rosinality checkpoint\".")


class UntrustedPickleError(RuntimeError):
    """A pickle that would run code was given without --trust-pickle."""


class MissingCodeError(ModuleNotFoundError):
    """A trusted pickle needs a module that is not importable."""


def pickle_kind(path: Path) -> str:
    """What a pickle holds, from its opcodes alone (nothing is executed): a short description."""
    names = set(_pickle_strings(path))
    joined = " ".join(names)
    if "dnnlib.tflib" in joined:
        return "an NVIDIA TensorFlow pickle (dnnlib.tflib): StyleGAN v1 ones convert with `dmetrics convert-official`"
    if "torch_utils" in joined or any(n.startswith(("training.networks", "training.training_loop")) for n in names):
        return f"a stylegan2-ada-pytorch / StyleGAN3 pickle (torch_utils.persistence): needs {NVIDIA_REPOS}"
    if "g_ema" in names:
        return "a rosinality stylegan2-pytorch checkpoint (g_ema): needs rosinality/stylegan2-pytorch"
    return "a pickle of unknown origin"


def _pickle_strings(path: Path, limit: int = 200_000) -> Iterable[str]:
    """Module names and short strings of a pickle (a torch zip file: its data.pkl), up to ``limit`` opcodes."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                member = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                data = zf.read(member) if member else b""
        else:
            data = path.read_bytes()
        for i, (op, arg, _pos) in enumerate(pickletools.genops(data)):
            if i >= limit:
                break
            if isinstance(arg, str) and len(arg) < 200:
                yield arg.split(" ")[0] if op.name == "GLOBAL" else arg
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile):
        return  # a malformed or exotic pickle: its kind is then reported as unknown


def _refuse(path: Path, why: str) -> UntrustedPickleError:
    return UntrustedPickleError(
        f"{path} is a pickle that runs code when loaded ({why}); it looks like {pickle_kind(path)}. Unpickling a "
        "file from an untrusted source can execute anything: pass --trust-pickle only if you trust it. " + ROUTES)


def _missing_code(path: Path, exc: ModuleNotFoundError) -> MissingCodeError:
    top = (exc.name or "").split(".")[0]
    if top in SETUPTOOLS_MODULES:   # the user's clone is fine: their code needs an older setuptools
        return MissingCodeError(f"{path} needs the module {top!r}, which this environment lacks "
                                f"({SETUPTOOLS_MODULES[top]}): {SETUPTOOLS_FIX}")
    if top in PIP_MODULES:
        return MissingCodeError(f"{path} needs the Python package {PIP_MODULES[top]}, which is not installed: "
                                f"pip install {top}")
    repo = KNOWN_MODULES.get(top)
    where = f"it belongs to {repo}" if repo else f"the file looks like {pickle_kind(path)}"
    return MissingCodeError(
        f"{path} needs the module {exc.name!r} to load ({where}). Clone that repository and pass "
        "--code-path DIR (its root folder), or put it on PYTHONPATH. " + ROUTES)


def add_code_path(code_path: Optional[Iterable[str]]) -> None:
    """Prepend each folder of ``code_path`` to ``sys.path`` (the CLI's --code-path), refusing missing ones."""
    for d in reversed(list(code_path or ())):
        p = Path(d)
        if not p.is_dir():
            raise FileNotFoundError(f"--code-path {d}: no such folder (give the root of a clone of the generator's "
                                    "repository, e.g. stylegan2-ada-pytorch/)")
        if str(p.resolve()) not in sys.path:
            sys.path.insert(0, str(p.resolve()))


def resolve_generator_spec(spec: str) -> tuple[str, Optional[str]]:
    """(what to load, a note saying why, or None) for a GENERATOR argument.

    A ``dmetrics train`` run folder (``config.json`` of the run beside ``latest.pt`` and
    ``snapshot-*.pt``) stands for its latest state, ``latest.pt`` (else its newest snapshot); the
    note names the file. A folder with a ``config.json`` but none of a checkpoint's weight files is
    refused with a message naming the files that could be meant, unless it holds images (then it is
    a folder of generated images, see :func:`disentangle_metrics.generators.sources.is_image_path`). Any other
    spec is returned unchanged.
    """
    path = Path(spec)
    if not path.is_dir() or not (path / "config.json").is_file() or (path / "model.pt").is_file():
        return spec, None
    from reference_models.train.run_folder import list_snapshots
    from reference_models.train.state import LATEST
    snapshots = list_snapshots(path)
    if (path / LATEST).is_file():
        chosen = path / LATEST
    elif snapshots:
        chosen = snapshots[-1][1]
    else:
        from disentangle_metrics.generators.sources import is_image_path
        if is_image_path(path):
            return spec, None
        files = sorted(f.name for f in path.iterdir() if f.suffix in (".pt", ".pkl", ".pickle"))
        which = (f"pass one of its files instead: {', '.join(str(path / f) for f in files[:5])}" if files else
                 "pass the checkpoint folder (config.json + model.pt), a checkpoint .pt file, or a folder of images")
        raise FileNotFoundError(f"{spec}: holds config.json but no model.pt, latest.pt, snapshot-*.pt or images, so it "
                                f"is neither a checkpoint folder, a `dmetrics train` run folder nor a samples folder; "
                                f"{which}")
    return str(chosen), (f"{spec} is a `dmetrics train` run folder: scoring its latest checkpoint {chosen} "
                         "(pass a snapshot-*.pt file to score another)")


def load_generator(spec: str, trust_pickle: bool = False, device: str | torch.device = "cpu",
                   code_path: Optional[Iterable[str]] = None) -> Any:
    """Load the generator named by ``spec`` (see module docstring) and return it in eval mode."""
    add_code_path(code_path)
    G = as_generator(load_object(spec, trust_pickle=trust_pickle))
    if isinstance(G, torch.nn.Module):
        G = G.to(device).eval().requires_grad_(False)
    return G


def load_object(spec: str, trust_pickle: bool = False) -> Any:
    """Load a non-generator network (e.g. an attribute classifier) named like a GENERATOR argument.

    ``testbed`` (when no file or folder of that name exists) is the shipped test-bed attribute
    classifier, :func:`disentangle_metrics.features.testbed_net.load_testbed_classifier`.
    """
    path = Path(spec)
    if spec == "testbed" and not path.exists():
        from disentangle_metrics.features.testbed_net import load_testbed_classifier
        return load_testbed_classifier()
    if not path.exists() and ":" in spec:
        return _from_factory(spec)
    if not path.exists():
        raise FileNotFoundError(f"{spec!r}: no such file or folder, and not of the form package.module:factory")
    resolved, _note = resolve_generator_spec(spec)   # callers that print or record the note resolve first
    path = Path(resolved)
    if path.suffix in (".pkl", ".pickle"):
        if not trust_pickle:
            raise _refuse(path, "a .pkl file")
        return _from_pickle(path)
    return _from_checkpoint(path, trust_pickle)


def _from_factory(spec: str) -> Any:
    mod_name, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"generator factory {spec!r}: cannot import module {mod_name!r} ({exc})") from exc
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AttributeError(f"generator factory {spec!r}: module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj() if callable(obj) and not hasattr(obj, "synthesis") else obj


def _from_checkpoint(path: Path, trust_pickle: bool) -> Any:
    try:
        from reference_models import load_checkpoint
    except ImportError as exc:
        raise RuntimeError(f"{path}: loading reference_models checkpoints needs the reference_models package ({exc})") from exc
    try:
        return load_checkpoint(path)
    except pickle.UnpicklingError as exc:
        # weights_only=True refused the file: it contains code objects, i.e. it is a foreign pickle.
        if not trust_pickle:
            raise _refuse(path, f"torch.load(weights_only=True) refused it: {str(exc).splitlines()[0]}") from None
        return _from_pickle(path)


def _from_pickle(path: Path) -> Any:
    # Only reached after the user said --trust-pickle: both readers below execute code from the file.
    try:
        if path.suffix in (".pkl", ".pickle"):
            with open(path, "rb") as f:
                obj = pickle.load(f)  # stylegan2-ada's .pkl files are plain pickles
        else:
            obj = torch.load(path, map_location="cpu", weights_only=False)
    except ModuleNotFoundError as exc:
        raise _missing_code(path, exc) from None
    if isinstance(obj, dict):
        for key in ("G_ema", "Gs", "g_ema", "G"):  # stylegan2-ada / rosinality conventions
            if key in obj:
                net = obj[key]
                if isinstance(net, Mapping) and all(isinstance(v, torch.Tensor) for v in net.values()):
                    return _build_rosinality(path, net, obj.get("args"))
                return net
    return obj


def _build_rosinality(path: Path, state: Mapping[str, torch.Tensor], args: Any) -> Any:
    """rosinality's ``model.Generator`` rebuilt from a training checkpoint's ``g_ema`` state_dict."""
    try:
        model = importlib.import_module("model")
    except ModuleNotFoundError as exc:
        raise _missing_code(path, exc) from None
    if not hasattr(model, "Generator"):
        raise MissingCodeError(f"{path}: the module 'model' on the path ({getattr(model, '__file__', '?')}) has no "
                               "Generator; --code-path must point at a clone of rosinality/stylegan2-pytorch")
    styles = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r"style\.(\d+)\.weight", k)))
    convs = {int(m.group(1)) for k in state if (m := re.fullmatch(r"convs\.(\d+)\.conv\.weight", k))}
    if not styles or not convs:
        raise ValueError(f"{path}: g_ema is not a rosinality stylegan2 Generator state_dict (no style.N / convs.N keys)")
    size = int(getattr(args, "size", 2 ** (len(convs) // 2 + 2)))
    style_dim = int(getattr(args, "latent", state[f"style.{styles[0]}.weight"].shape[1]))
    n_mlp = int(getattr(args, "n_mlp", len(styles)))
    cm = getattr(args, "channel_multiplier", None)
    if cm is None:
        cm = state["convs.6.conv.weight"].shape[1] // 256 if "convs.6.conv.weight" in state else 2
    G = model.Generator(size, style_dim, n_mlp, channel_multiplier=int(cm))
    G.load_state_dict(state)
    return G
