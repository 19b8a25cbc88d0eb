"""Running feature statistics: count, sum and sum of outer products, in float64 on the device.

    mu = s / n,   sigma = (S - n mu mu^T) / (n - 1)      (np.cov's N - 1 denominator)

with s = sum_i x_i and S = sum_i x_i x_i^T. The sums add, so statistics computed in pieces
(batches, processes, files) merge exactly: :meth:`FeatureStats.merge` and
:meth:`FeatureStats.all_reduce_` (torch.distributed). Saved as ``.npz`` with pytorch-fid's keys
``mu`` and ``sigma`` plus ``num`` (which makes a loaded file mergeable again).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

from .._core.results import atomic_write_bytes


class FeatureStats:
    """Accumulates features [N, D] in float64 on ``device``; see the module docstring."""

    def __init__(self, dim: int, device: Union[str, torch.device] = "cpu") -> None:
        self.dim = int(dim)
        self.device = torch.device(device)
        self.count = 0
        self.sum = torch.zeros(self.dim, dtype=torch.float64, device=self.device)
        self.outer = torch.zeros(self.dim, self.dim, dtype=torch.float64, device=self.device)
        self.info: dict[str, object] = {}   # provenance: extractor, weights hash, dataset, cache file
        # (mu, sigma) exactly as loaded from a file: returned unchanged until the sums change,
        # so a file's statistics do not pick up round-off from the sums round trip.
        self._loaded: Optional[tuple[torch.Tensor, torch.Tensor]] = None

    def update(self, features: torch.Tensor) -> "FeatureStats":
        """Add a batch of features [N, D] (any float dtype, any device: moved here)."""
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ValueError(f"features must be [N, {self.dim}], got {tuple(features.shape)}")
        x = features.to(device=self.device, dtype=torch.float64)
        if not torch.isfinite(x).all():
            raise ValueError("features contain NaN or inf: the feature extractor or its input is broken")
        self._loaded = None
        self.count += x.shape[0]
        self.sum += x.sum(0)
        self.outer.addmm_(x.T, x)
        return self

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Add ``other``'s sums to this one (in place) and return self."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge statistics of dimension {other.dim} into {self.dim}")
        if not (self.count_known and other.count_known):
            raise ValueError("cannot merge statistics whose sample count is unknown (a stats file without 'num', "
                             "e.g. from pytorch-fid): recompute them with `dmetrics stats`")
        self._loaded = None
        self.count += other.count
        self.sum += other.sum.to(self.device)
        self.outer += other.outer.to(self.device)
        return self

    def all_reduce_(self) -> "FeatureStats":
        """Sum count, sum and outer products over all torch.distributed ranks; no-op when not initialised."""
        from .._core import distributed
        if distributed.info().world_size == 1:
            return self
        n = torch.tensor([self.count], dtype=torch.float64, device=self.device)
        for t in (n, self.sum, self.outer):
            distributed.all_reduce_sum_(t)
        self.count = int(round(float(n.item())))
        self._loaded = None
        return self

    def _need(self, k: int) -> None:
        if self.count < k:
            raise ValueError(f"need at least {k} feature vectors, have {self.count}")

    def mean(self) -> torch.Tensor:
        """mu = s / n, float64 [D]."""
        self._need(1)
        return self._loaded[0] if self._loaded is not None else self.sum / self.count

    def cov(self) -> torch.Tensor:
        """sigma = (S - n mu mu^T) / (n - 1), float64 [D, D] (np.cov's unbiased estimate)."""
        self._need(2)
        if self._loaded is not None:
            return self._loaded[1]
        mu = self.mean()
        return (self.outer - self.count * torch.outer(mu, mu)) / (self.count - 1)

    def to_numpy(self) -> tuple[np.ndarray, np.ndarray]:
        """(mu, sigma) as float64 numpy arrays."""
        return self.mean().cpu().numpy(), self.cov().cpu().numpy()

    def save(self, path: Union[str, os.PathLike], **extra: object) -> None:
        """Write ``mu``, ``sigma``, ``num`` (and string ``extra`` fields) to an ``.npz``, atomically."""
        reserved = {"mu", "sigma", "num"} & set(extra)
        if reserved:
            raise ValueError(f"extra fields {sorted(reserved)} clash with the statistics' own keys")
        mu, sigma = self.to_numpy()
        buf = io.BytesIO()
        np.savez(buf, mu=mu, sigma=sigma, num=np.int64(self.count), **{k: np.asarray(str(v)) for k, v in extra.items()})
        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def from_mean_cov(cls, mu: np.ndarray, sigma: np.ndarray, num: int,
                      device: Union[str, torch.device] = "cpu") -> "FeatureStats":
        """Rebuild the sums from (mu, sigma, n): s = n mu, S = (n - 1) sigma + n mu mu^T."""
        mu_t = torch.as_tensor(np.asarray(mu), dtype=torch.float64, device=device)
        sig_t = torch.as_tensor(np.asarray(sigma), dtype=torch.float64, device=device)
        st = cls(mu_t.shape[0], device)
        st.count = int(num)
        st.sum = mu_t * num
        st.outer = sig_t * (num - 1) + num * torch.outer(mu_t, mu_t)
        st._loaded = (mu_t, sig_t)
        return st

    @classmethod
    def load(cls, path: Union[str, os.PathLike], device: Union[str, torch.device] = "cpu") -> "FeatureStats":
        """Read a stats ``.npz`` (ours or pytorch-fid's: ``mu`` and ``sigma``; ``num`` optional).

        Without ``num`` (pytorch-fid files) the count is unknown; it is set to 2, enough for
        :meth:`mean` and :meth:`cov` to return the stored values, and :attr:`count_known` is False.
        """
        mu, sigma, num = read_stats_file(path)
        st = cls.from_mean_cov(mu, sigma, num if num is not None else 2, device)
        st.count_known = num is not None
        st.info = read_stats_info(path)
        return st

    count_known: bool = True


def read_stats_file(path: Union[str, os.PathLike]) -> tuple[np.ndarray, np.ndarray, Optional[int]]:
    """(mu, sigma, num or None) from a stats ``.npz``; errors name the file and what is wrong."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"statistics file {path} does not exist; create it with `dmetrics stats DATASET --out {path}`")
    if not zipfile.is_zipfile(path):   # else numpy answers with a hint about allow_pickle
        raise ValueError(f"{path}: not a .npz statistics file (not a zip archive); recreate it with `dmetrics stats`")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable .npz statistics file ({type(exc).__name__}: {exc}); "
                         "recreate it with `dmetrics stats`") from exc
    if not {"mu", "sigma"} <= set(arrays):
        raise ValueError(f"{path}: a statistics file needs arrays 'mu' and 'sigma', found {sorted(arrays)}")
    mu, sigma = np.asarray(arrays["mu"], np.float64), np.asarray(arrays["sigma"], np.float64)
    num = int(arrays["num"]) if "num" in arrays else None
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{path}: mu {mu.shape} and sigma {sigma.shape} do not form D and [D, D]")
    return mu, sigma, num


def read_stats_info(path: Union[str, os.PathLike]) -> dict[str, str]:
    """The string fields saved beside ``mu``/``sigma`` (extractor, weights hash, dataset...)."""
    with np.load(path, allow_pickle=False) as f:
        return {k: str(f[k]) for k in f.files if k not in ("mu", "sigma", "num") and f[k].dtype.kind == "U"}


def is_stats_file(path: Union[str, os.PathLike]) -> bool:
    """True when ``path`` is a ``.npz`` of feature statistics (``mu`` and ``sigma``), False for anything else
    (a dataset); a ``.npz`` that is no zip archive is an error naming the file, never numpy's pickle hint."""
    p = Path(path)
    if p.suffix.lower() != ".npz" or not p.is_file():
        return False
    if not zipfile.is_zipfile(p):
        raise ValueError(f"{p} is not a .npz file (not a zip archive): pass a stats file written by "
                         "`dmetrics stats` or a dataset")
    with np.load(p, allow_pickle=False) as f:
        return {"mu", "sigma"} <= set(f.files)
