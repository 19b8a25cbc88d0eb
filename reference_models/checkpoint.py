"""Checkpoints of the reference networks: JSON config + state_dict, never pickled code.

Formats accepted by :func:`load_checkpoint` (all read with ``torch.load(weights_only=True)``):

1. A folder holding ``config.json`` and ``model.pt``. ``config.json`` is
   ``{"format_version": 1, "kind": "generator"|"discriminator"|"classifier", "config": {...}}``
   (the config dataclass fields); ``model.pt`` is the ``state_dict``.
2. A single ``.pt`` file holding one network *record*
   ``{"format_version": 1, "kind": ..., "config": {...}, "state_dict": {...}}``.
3. A training checkpoint ``.pt``: a dict whose values include records like (2), one per network,
   under the keys ``"G"``, ``"D"`` and ``"G_ema"`` (plus anything else the trainer keeps, e.g.
   optimiser states and counters). :func:`load_checkpoint` returns ``G_ema`` (or the network
   named by ``key=``). Trainers build the records with :func:`network_record`.

Records may omit ``format_version`` (taken as 1). A newer format version, an unknown kind, unknown
config fields, and missing or unexpected state_dict keys are errors that name the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import shutil
import tempfile
import typing
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from .classifier import AttributeClassifier
from .configs import ClassifierConfig, DiscriminatorConfig, GeneratorConfig, config_to_dict, make_config
from .discriminator import Discriminator
from .stylegan import StyleGenerator

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.pt"

KINDS: dict[str, tuple[type, type]] = {
    "generator": (GeneratorConfig, StyleGenerator),
    "discriminator": (DiscriminatorConfig, Discriminator),
    "classifier": (ClassifierConfig, AttributeClassifier),
}


class CheckpointError(ValueError):
    """A checkpoint cannot be read; the message names the file and how to fix it."""


def network_record(model: nn.Module) -> dict[str, Any]:
    """``{'format_version', 'kind', 'config', 'state_dict'}`` of a reference network (CPU tensors)."""
    kind = getattr(model, "kind", None)
    if kind not in KINDS or not hasattr(model, "cfg"):
        raise TypeError(f"{type(model).__name__} is not a reference_models network (no kind/cfg)")
    return {"format_version": FORMAT_VERSION, "kind": kind, "config": config_to_dict(model.cfg),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}


def save_checkpoint(model: nn.Module, folder: str | os.PathLike, extra_files: Optional[dict[str, str]] = None) -> Path:
    """Write ``folder/config.json`` and ``folder/model.pt`` atomically (temporary folder, then rename).

    An existing checkpoint folder at ``folder`` is replaced. ``extra_files`` (file name -> text, e.g. a
    training summary) are written into the same folder before it is renamed into place.
    """
    folder = Path(folder)
    rec = network_record(model)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)   # mkdtemp makes 0700; the checkpoint is an ordinary folder
    try:
        meta = {"format_version": rec["format_version"], "kind": rec["kind"], "config": rec["config"]}
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        torch.save(rec["state_dict"], tmp / WEIGHTS_FILE)
        for name, text in (extra_files or {}).items():
            if name in (CONFIG_FILE, WEIGHTS_FILE) or Path(name).name != name:
                raise ValueError(f"extra file name {name!r} must be a plain file name other than {CONFIG_FILE}/{WEIGHTS_FILE}")
            (tmp / name).write_text(text)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def load_checkpoint(path: str | os.PathLike, key: Optional[str] = None,
                    map_location: str | torch.device = "cpu") -> nn.Module:
    """Load a reference network from a checkpoint folder or ``.pt`` file; returned in eval mode.

    ``key`` picks a network of a training checkpoint (default ``"G_ema"``). A file that holds
    pickled code makes ``torch.load(weights_only=True)`` raise :class:`pickle.UnpicklingError`,
    which is passed on unchanged so callers can tell foreign pickles apart.
    """
    path = Path(path)
    if path.is_dir():
        cfg_path = path / CONFIG_FILE
        if not cfg_path.is_file():
            raise CheckpointError(f"{path}: not a checkpoint folder: {CONFIG_FILE} is missing (a checkpoint "
                                  f"folder holds {CONFIG_FILE} + {WEIGHTS_FILE}, written by save_checkpoint)")
        try:
            meta = json.loads(cfg_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{cfg_path}: corrupt JSON ({exc}); re-create the checkpoint") from None
        weights = path / WEIGHTS_FILE
        if not weights.is_file():
            raise CheckpointError(f"{path}: {WEIGHTS_FILE} is missing beside {CONFIG_FILE}; re-create the checkpoint")
        try:
            state = _torch_load(weights, map_location)
        except pickle.UnpicklingError as exc:
            # save_checkpoint never writes code into model.pt: a refusal here means a damaged file.
            raise CheckpointError(f"{weights}: not a state_dict written by save_checkpoint "
                                  f"({str(exc).splitlines()[0]}); the file is corrupt: re-create the checkpoint") from None
        if not isinstance(meta, dict) or not isinstance(state, dict):
            raise CheckpointError(f"{path}: {CONFIG_FILE} must hold a JSON object and {WEIGHTS_FILE} a state_dict")
        return model_from_record(dict(meta, state_dict=state), source=str(path))
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint file or folder")
    obj = _torch_load(path, map_location)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict (a network record or a training checkpoint), got {type(obj).__name__}")
    if "state_dict" in obj and "config" in obj:
        return model_from_record(obj, source=str(path))
    key = key or "G_ema"
    if key not in obj:
        nets = [k for k, v in obj.items() if isinstance(v, dict) and "state_dict" in v]
        raise CheckpointError(f"{path}: no network {key!r} in this training checkpoint; it holds "
                              f"{', '.join(nets) or 'no network records'} (keys: {', '.join(map(str, obj))})")
    return model_from_record(obj[key], source=f"{path}[{key!r}]")


def model_from_record(record: dict[str, Any], source: str = "<record>") -> nn.Module:
    """Build a network from a record (see module docstring) and load its weights strictly."""
    if not isinstance(record, dict) or "config" not in record or "state_dict" not in record:
        raise CheckpointError(f"{source}: a network record needs 'kind', 'config' and 'state_dict'")
    version = record.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{source}: checkpoint format version {version} is newer than this code supports "
                              f"({FORMAT_VERSION}); upgrade disentangle-metrics (reference_models) to read it")
    kind = record.get("kind", "generator")
    if kind not in KINDS:
        raise CheckpointError(f"{source}: unknown network kind {kind!r}; expected one of {', '.join(KINDS)}")
    cfg_cls, model_cls = KINDS[kind]
    if not isinstance(record["config"], dict):
        raise CheckpointError(f"{source}: 'config' must be a JSON object of {cfg_cls.__name__} fields, "
                              f"got {type(record['config']).__name__}")
    problems = config_problems(cfg_cls, record["config"])
    if problems:
        raise CheckpointError(f"{source}: invalid {kind} config: {'; '.join(problems)}. Fix config.json or "
                              "re-create the checkpoint with save_checkpoint")
    try:
        cfg = make_config(cfg_cls, dict(record["config"]))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{source}: invalid {kind} config: {exc}") from None
    model = model_cls(cfg)
    state = record["state_dict"]
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: the state_dict does not match the {kind} config: "
            + (f"missing keys {_few(missing)}" if missing else "")
            + ("; " if missing and unexpected else "")
            + (f"unexpected keys {_few(unexpected)}" if unexpected else "")
            + ". The weights belong to a different network: check config.json or re-convert the checkpoint.")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{source}: weights do not fit the {kind} config ({str(exc).strip()})") from None
    devices = {t.device for t in state.values() if isinstance(t, torch.Tensor)}
    if len(devices) == 1:
        model.to(devices.pop())
    return model.eval()


# Fields added to the configs after checkpoints were first written. Their defaults reproduce what
# older files meant (the official truncation defaults only feed run_official / mapping_official,
# and D_basic's down-sampling order), so a file without them is complete.
ADDED_LATER = frozenset({"truncation_psi", "truncation_cutoff", "downscale_after_act"})


def config_problems(cls: type, values: dict[str, Any]) -> list[str]:
    """Every missing field and every value of the wrong JSON type in ``values`` for dataclass ``cls``.

    All fields but :data:`ADDED_LATER` are required: a missing one would silently take its default
    (e.g. ``latent_size`` 512) and surface later as a confusing size mismatch. Unknown fields are
    left to ``make_config``.
    """
    hints = typing.get_type_hints(cls)
    out = []
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in values and f.name not in ADDED_LATER]
    if missing:
        out.append(f"missing field(s) {', '.join(missing)}")
    for name, v in values.items():
        if name in hints and not _json_fits(v, hints[name]):
            out.append(f"field {name!r} must be {_type_name(hints[name])}, got {type(v).__name__} {v!r}")
    return out


def _json_fits(v: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        return any(_json_fits(v, a) for a in typing.get_args(tp))
    if tp is type(None):
        return v is None
    if tp is bool:
        return isinstance(v, bool)
    if tp is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if tp is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if tp is str:
        return isinstance(v, str)
    if origin in (list, tuple):
        args = typing.get_args(tp)
        return isinstance(v, (list, tuple)) and (not args or all(_json_fits(x, args[0]) for x in v))
    return True   # a type this check does not know: the dataclass and the network decide


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is typing.Union:
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string"}.get(tp, str(tp).replace("typing.", ""))


def _few(keys: list[str], n: int = 6) -> str:
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")


def _torch_load(path: Path, map_location: str | torch.device) -> Any:
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise  # code inside: let the caller decide (cli.loading offers --trust-pickle)
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read this file as a PyTorch checkpoint ({str(exc).splitlines()[0]}); "
                              "it is corrupt or truncated: re-create or re-download it") from None
