"""What a result was computed from: the generator's file hashes and adapter, and the resume key.

A result line must identify its generator by content, not by the argument string ("ckpt"): the
sha256 of the checkpoint file(s) (``config.json`` and ``model.pt`` of a folder, or the one file),
or, for a ``package.module:factory`` generator, the sha256 of its ``state_dict`` (names, dtypes,
shapes and bytes of every tensor); a folder of images (generated samples, or a dataset reference) by
the sha256 of its content listing (each image's relative name, size and modification time, as the
dataset statistics cache keys it). ``score --resume`` skips a metric whose key
(metric, generator sha256, configuration, library version) is already in the results file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, Optional

import torch

from disentangle_metrics._core.results import _jsonable
from disentangle_metrics._core.weights import sha256_of

# ScoreOptions fields that do not change the numbers (where and how visibly they are computed)
_NOT_CONFIG = ("device", "progress", "keep_samples")
_HASH_LIMIT = 256 << 20   # reference files up to this size are identified by sha256 (stats files: ~32 MiB)


def state_dict_sha256(module: torch.nn.Module) -> str:
    """sha256 over the sorted state_dict: each key, dtype, shape and the tensor's bytes."""
    h = hashlib.sha256()
    for key, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def folder_listing_sha256(path: Path) -> str:
    """sha256 of an image folder's content listing: (relative name, size, mtime) of every image."""
    from disentangle_metrics.data.images import FolderSource
    blob = json.dumps(FolderSource(path).listing(), separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def generator_provenance(spec: str, G: Any, wrapped: Any = None) -> dict[str, Any]:
    """``{'spec', 'files', 'sha256', 'adapter'}`` of the generator loaded from ``spec``.

    ``files`` maps each checkpoint file read to its sha256 (empty for a factory); ``sha256`` is the
    one file's hash, a hash over a folder's files, or the state_dict hash of a factory's module
    (None when the generator is no ``torch.nn.Module``); ``adapter`` is ``module.Class`` of the
    object the metrics call (an adapter of :func:`~disentangle_metrics.generators.protocol.as_generator`, or
    the generator's own class).
    """
    path = Path(spec)
    files: dict[str, str] = {}
    if path.is_dir():
        # the two files load_checkpoint reads (a folder may also hold logs and a training config)
        files = {name: sha256_of(path / name) for name in ("config.json", "model.pt") if (path / name).is_file()}
    elif path.is_file():
        files = {path.name: sha256_of(path)}
    if len(files) == 1:
        digest: Optional[str] = next(iter(files.values()))
    elif files:
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()
    elif isinstance(G, torch.nn.Module):
        digest = state_dict_sha256(G)
    elif path.is_dir() and isinstance(G, (str, Path)):   # a folder of generated images
        digest = folder_listing_sha256(path)
    else:
        digest = None
    adapter = f"{type(G).__module__}.{type(G).__qualname__}"
    return {"spec": spec, "files": files, "sha256": digest, "adapter": adapter}


def request_config(metric: str, opts: Any, classifier_spec: Optional[str]) -> dict[str, Any]:
    """The requested metric and every ScoreOptions field that changes its numbers, JSON-able."""
    cfg = {}
    for f in dataclasses.fields(opts):
        if f.name in _NOT_CONFIG:
            continue
        v = getattr(opts, f.name)
        cfg[f.name] = classifier_spec if f.name == "classifier" else v
    ref = cfg.get("reference")
    if isinstance(ref, str) and Path(ref).is_file():
        # a stats file by content, so a recomputed file counts as new; a large image array by size and time
        st = Path(ref).stat()
        cfg["reference_id"] = sha256_of(ref) if st.st_size <= _HASH_LIMIT else f"{st.st_size} bytes, mtime {st.st_mtime_ns}"
    elif isinstance(ref, str) and Path(ref).is_dir():   # an image folder: added, removed or touched images count
        cfg["reference_id"] = f"listing {folder_listing_sha256(Path(ref))}"
    return {"metric": metric, "options": _jsonable(cfg)}


def resume_key(request: dict[str, Any], generator_sha256: Optional[str], library_version: str) -> str:
    """sha256 of (requested metric and configuration, generator sha256, library version)."""
    blob = json.dumps({"request": request, "generator": generator_sha256, "version": library_version},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
