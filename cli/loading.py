"""Turn a GENERATOR argument of the CLI into a protocol generator.

GENERATOR is one of:
- a checkpoint of ``reference_models`` (a folder with ``config.json`` + ``model.pt``, or a training
  checkpoint ``.pt``), loaded with ``torch.load(weights_only=True)``: no code runs;
- ``package.module:factory``: a Python callable returning a generator (called without arguments);
- a foreign pickle (``.pkl``, or a ``.pt`` that needs code to unpickle): refused unless
  ``trust_pickle=True`` (``--trust-pickle``), because unpickling runs arbitrary code.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any

import torch

from disentangle_metrics.protocol import as_generator


class UntrustedPickleError(RuntimeError):
    """A pickle that would run code was given without --trust-pickle."""


def _refuse(path: Path, why: str) -> UntrustedPickleError:
    return UntrustedPickleError(
        f"{path} is a pickle that runs code when loaded ({why}). Unpickling a file from an untrusted "
        "source can execute anything. Convert it to a state_dict + JSON checkpoint "
        "(`dmetrics convert-official` for NVIDIA's StyleGAN pickles), or, if you trust the file, "
        "pass --trust-pickle.")


def load_generator(spec: str, trust_pickle: bool = False, device: str | torch.device = "cpu") -> Any:
    """Load the generator named by ``spec`` (see module docstring) and return it in eval mode."""
    G = as_generator(load_object(spec, trust_pickle=trust_pickle))
    if isinstance(G, torch.nn.Module):
        G = G.to(device).eval().requires_grad_(False)
    return G


def load_object(spec: str, trust_pickle: bool = False) -> Any:
    """Load a non-generator network (e.g. an attribute classifier) named like a GENERATOR argument.

    ``testbed`` (when no file or folder of that name exists) is the shipped test-bed attribute
    classifier, :func:`disentangle_metrics.testbed_classifier.load_testbed_classifier`.
    """
    path = Path(spec)
    if spec == "testbed" and not path.exists():
        from disentangle_metrics.testbed_classifier import load_testbed_classifier
        return load_testbed_classifier()
    if not path.exists() and ":" in spec:
        return _from_factory(spec)
    if not path.exists():
        raise FileNotFoundError(f"{spec!r}: no such file or folder, and not of the form package.module:factory")
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
    if path.suffix in (".pkl", ".pickle"):
        with open(path, "rb") as f:
            obj = pickle.load(f)  # stylegan2-ada's .pkl files are plain pickles
    else:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, dict):
        for key in ("G_ema", "Gs", "g_ema", "G"):  # stylegan2-ada / rosinality conventions
            if key in obj:
                return obj[key]
    return obj
