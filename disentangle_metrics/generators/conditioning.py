"""Conditioning labels for conditional generators (``c_dim > 0``), drawn per sample.

stylegan2-ada-pytorch's metrics give every generated image the label of a uniformly drawn image
of the training set (``dataset.get_label(np.random.randint(len(dataset)))``): the labels follow
the dataset's label distribution. Here the same is done with a seeded draw per sample:

- ``labels=`` a labelled dataset (or its label table): label of row ``floor(u_i * M)`` of the M
  labels, with u_i ~ U[0, 1) from the seed of ``(seed, Stream.LABEL, i)``;
- no dataset: a one-hot class drawn uniformly over the ``c_dim`` classes, ``floor(u_i * c_dim)``;
- ``class_label=k``: the one-hot class k for every sample.

Label tables are read from stylegan2-ada's ``dataset.json`` (``{"labels": [[file, label], ...]}``
in a dataset folder or zip; integer labels become one-hot vectors of length ``max + 1``, as their
``get_label`` does, float vectors stay as they are), from a ``.npy`` (int [M] or float [M, c_dim])
or from an array.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from .._core import sampling

DATASET_JSON = "dataset.json"


@dataclass(frozen=True)
class LabelPolicy:
    """How the conditioning vector of each sample is chosen; see the module docstring."""

    c_dim: int
    mode: str                                  # 'none' | 'class' | 'uniform' | 'dataset'
    class_label: Optional[int] = None
    table: Optional[np.ndarray] = None          # [M, c_dim] float32 (mode 'dataset')
    source: Optional[str] = None                # where the table came from

    def draw(self, seed: int, indices: Sequence[int] | range, device: torch.device | str = "cpu") -> torch.Tensor:
        """The labels [len(indices), c_dim] float32 of the given global sample indices."""
        n = len(indices)
        if self.mode == "none":
            return torch.zeros([n, 0], device=device)
        if self.mode == "class":
            return _one_hot(np.full(n, self.class_label), self.c_dim, device)
        u = sampling.rand(seed, np.asarray(indices), sampling.Stream.LABEL).numpy().astype(np.float64)
        if self.mode == "uniform":
            return _one_hot(np.minimum((u * self.c_dim).astype(np.int64), self.c_dim - 1), self.c_dim, device)
        rows = np.minimum((u * len(self.table)).astype(np.int64), len(self.table) - 1)
        return torch.from_numpy(np.ascontiguousarray(self.table[rows])).to(device)

    def describe(self) -> dict:
        """JSON-able description for results files."""
        if self.mode == "none":
            return {"policy": "none (unconditional)"}
        if self.mode == "class":
            return {"policy": "fixed class", "class_label": self.class_label, "c_dim": self.c_dim}
        if self.mode == "uniform":
            return {"policy": "uniform over classes", "c_dim": self.c_dim, "stream": "per-sample seed (seed, LABEL, i)"}
        return {"policy": "dataset label distribution", "source": self.source, "num_labels": int(len(self.table)),
                "c_dim": self.c_dim, "stream": "per-sample seed (seed, LABEL, i)"}


def _one_hot(classes: np.ndarray, c_dim: int, device: torch.device | str) -> torch.Tensor:
    out = torch.zeros([len(classes), c_dim])
    out[torch.arange(len(classes)), torch.as_tensor(classes, dtype=torch.long)] = 1
    return out.to(device)


def label_policy(c_dim: int, class_label: Optional[int] = None, labels: Any = None) -> LabelPolicy:
    """The :class:`LabelPolicy` for a generator with ``c_dim`` label dimensions.

    An unconditional generator (``c_dim == 0``) refuses ``class_label`` and ``labels``: they would
    be silently ignored otherwise.
    """
    c_dim = int(c_dim)
    if c_dim == 0:
        if class_label is not None or labels is not None:
            raise ValueError("the generator is unconditional (c_dim=0): drop --class-label / --labels")
        return LabelPolicy(0, "none")
    if class_label is not None and labels is not None:
        raise ValueError("pass either class_label (one fixed class) or labels (a labelled dataset), not both")
    if class_label is not None:
        k = int(class_label)
        if not 0 <= k < c_dim:
            raise ValueError(f"class_label {k} is out of range for a generator with c_dim={c_dim} (classes 0..{c_dim - 1})")
        return LabelPolicy(c_dim, "class", class_label=k)
    if labels is None:
        return LabelPolicy(c_dim, "uniform")
    table, source = load_label_table(labels, c_dim)
    return LabelPolicy(c_dim, "dataset", table=table, source=source)


def load_label_table(labels: Any, c_dim: int) -> tuple[np.ndarray, str]:
    """(table [M, c_dim] float32, description) from a dataset path, a ``dataset.json``, a ``.npy`` or an array."""
    if isinstance(labels, (str, os.PathLike)):
        p = Path(labels)
        if not p.exists():
            raise FileNotFoundError(f"labels {p}: no such file or folder (expected a dataset with {DATASET_JSON}, "
                                    "a dataset.json, or a .npy of labels)")
        if p.is_dir():
            j = p / DATASET_JSON
            if not j.is_file():
                raise FileNotFoundError(f"labels {p}: the folder has no {DATASET_JSON} (stylegan2-ada's dataset_tool "
                                        "writes it for labelled datasets)")
            raw, where = _labels_from_json(j.read_text(), str(j)), str(j)
        elif p.suffix.lower() == ".zip":
            with zipfile.ZipFile(p) as zf:
                if DATASET_JSON not in zf.namelist():
                    raise FileNotFoundError(f"labels {p}: the archive has no {DATASET_JSON}")
                raw, where = _labels_from_json(zf.read(DATASET_JSON).decode("utf-8"), f"{p}:{DATASET_JSON}"), f"{p}:{DATASET_JSON}"
        elif p.suffix.lower() == ".json":
            raw, where = _labels_from_json(p.read_text(), str(p)), str(p)
        elif p.suffix.lower() == ".npy":
            raw, where = np.load(p, allow_pickle=False), str(p)
        else:
            raise ValueError(f"labels {p}: unsupported file type; use a dataset folder or zip with {DATASET_JSON}, "
                             "a dataset.json or a .npy")
    else:
        raw = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        where = f"array {tuple(raw.shape)}"
    return _as_table(raw, c_dim, where), where


def _labels_from_json(text: str, where: str) -> np.ndarray:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc})") from exc
    entries = data.get("labels") if isinstance(data, dict) else None
    if not entries:
        raise ValueError(f"{where} has no labels (\"labels\" is missing or null): the dataset is unlabelled; "
                         "use --class-label or no labels (uniform over classes)")
    return np.asarray([lab for _fname, lab in entries])


def _as_table(raw: np.ndarray, c_dim: int, where: str) -> np.ndarray:
    if raw.ndim == 1 and np.issubdtype(raw.dtype, np.integer):
        if raw.min() < 0:
            raise ValueError(f"labels {where}: negative class index {int(raw.min())}")
        width = int(raw.max()) + 1      # stylegan2-ada's label_shape for integer labels
        if width != c_dim:
            raise ValueError(f"labels {where}: integer labels 0..{width - 1} give {width}-d one-hot vectors, but the "
                             f"generator has c_dim={c_dim}")
        table = np.zeros([len(raw), c_dim], np.float32)
        table[np.arange(len(raw)), raw] = 1
        return table
    if raw.ndim != 2 or raw.shape[1] != c_dim:
        raise ValueError(f"labels {where}: expected integer classes [M] or vectors [M, {c_dim}], got shape {raw.shape} "
                         f"dtype {raw.dtype}")
    if len(raw) == 0:
        raise ValueError(f"labels {where}: the table is empty")
    return raw.astype(np.float32)
