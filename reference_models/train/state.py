"""Training checkpoints: one ``.pt`` file readable with ``torch.load(weights_only=True)``.

Layout (a plain dict of tensors, numbers, strings, lists and dicts -- no pickled code)::

    {"format_version": 1,
     "G": record, "G_ema": record, "D": record,        # reference_models.network_record(...)
     "G_opt": TFAdam.state_dict(), "D_opt": TFAdam.state_dict(),   # torch.optim.Adam's layout + beta powers
     "rng": {"torch_cpu": ByteTensor, "torch_cuda": [ByteTensor, ...]},
     "progress": {"nimg", "step", "prev_lod", "skipped_steps", "consecutive_skips", "wall_time_s",
                  "next_tick_nimg", "next_ckpt_nimg", "next_metrics_nimg"},
     "train_config": TrainConfig.to_dict()}

so ``reference_models.load_checkpoint(path)`` returns G_ema (``key='G'``/``'D'`` for the others).
The file is written to a temporary name in the same folder, flushed to disk, then renamed over
the target: a run killed at any moment leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import network_record
from .config import TrainConfig

FORMAT_VERSION = 1
LATEST = "latest.pt"


class ResumeError(ValueError):
    """A training checkpoint cannot be resumed; the message says why and what to do."""


def rng_state() -> dict[str, Any]:
    """torch's global RNG states (CPU and every CUDA device) as tensors."""
    cuda = [s for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else []
    return {"torch_cpu": torch.get_rng_state(), "torch_cuda": cuda}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` saved (CUDA states only where CUDA is present)."""
    torch.set_rng_state(state["torch_cpu"])
    if state.get("torch_cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])


def training_state(G: torch.nn.Module, G_ema: torch.nn.Module, D: torch.nn.Module, G_opt: torch.optim.Optimizer,
                   D_opt: torch.optim.Optimizer, cfg: TrainConfig, progress: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint dict of the module docstring (tensors moved to the CPU)."""
    return {"format_version": FORMAT_VERSION, "G": network_record(G), "G_ema": network_record(G_ema),
            "D": network_record(D), "G_opt": _cpu(G_opt.state_dict()), "D_opt": _cpu(D_opt.state_dict()),
            "rng": rng_state(), "progress": dict(progress), "train_config": cfg.to_dict()}


def _cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cpu(v) for v in obj]
    return obj


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_training_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training checkpoint (weights only, on the CPU), checking its layout."""
    path = Path(path)
    if not path.is_file():
        raise ResumeError(f"{path}: no training checkpoint to resume from (the run folder has no {LATEST}); "
                          "start without --resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ResumeError(f"{path}: refuses to load with weights_only=True ({str(exc).splitlines()[0]}); "
                          "it was not written by this trainer") from None
    except (RuntimeError, EOFError, OSError) as exc:
        raise ResumeError(f"{path}: unreadable ({str(exc).splitlines()[0]}); it is corrupt or truncated: "
                          "resume from an earlier snapshot-*.pt (copy it to latest.pt)") from None
    missing = [k for k in ("G", "G_ema", "D", "G_opt", "D_opt", "rng", "progress", "train_config") if k not in state]
    if missing:
        raise ResumeError(f"{path}: not a training checkpoint of this trainer (missing {', '.join(missing)})")
    if state.get("format_version", 1) > FORMAT_VERSION:
        raise ResumeError(f"{path}: checkpoint format {state['format_version']} is newer than this trainer ({FORMAT_VERSION})")
    return state


def check_resumable(state: dict[str, Any], cfg: TrainConfig, source: str) -> None:
    """Raise :class:`ResumeError` when ``cfg`` differs from the checkpoint's run-defining fields."""
    try:
        saved = TrainConfig.from_dict(state["train_config"], source=source)
    except (TypeError, ValueError) as exc:
        raise ResumeError(f"{source}: its training config is invalid ({exc})") from None
    diff = cfg.mismatches(saved)
    if diff:
        raise ResumeError(f"{source}: cannot resume: this checkpoint belongs to a different run ("
                          + "; ".join(diff) + "). Use the same preset and options, or a new --out folder.")
