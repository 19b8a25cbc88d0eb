"""EDM2's reference statistics (``calculate_metrics.py ref``, e.g. dataset-refs/img512.pkl) as stats files.

EDM2 pickles ``{'num_images': n, 'fid': {'mu', 'sigma'}, 'fd_dinov2': {'mu', 'sigma'}}`` with
numpy float64 arrays, mu = s / n and sigma = (S - n mu mu^T) / (n - 1) (its float64 sums), the
same definition as :class:`..functional.stats.FeatureStats`. Each metric's (mu, sigma) becomes one
``.npz`` in the project's format, recording the extractor that reproduces EDM2's detector:

- ``fid`` -> ``inception-v3-tf`` (EDM2 loads NVIDIA's inception-2015-12-05, the same network),
- ``fd_dinov2`` -> ``dinov2-vitl14`` (EDM2's default resize_mode 'torch').

The pickle is read by :class:`NumpyOnlyUnpickler`, which rebuilds numpy arrays and refuses every
other global, so a hostile file cannot run code. The images' resolution is not in the pickle (pass
it, else 'unknown'); neither is mirroring, so no ``mirror`` field is written (no check applies).
"""

from __future__ import annotations

import importlib
import io
import os
import pickle
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from .._core.results import atomic_write_bytes
from ..functional.stats import FeatureStats

# EDM2 metric key -> (project extractor, feature dimension)
EDM2_METRICS: dict[str, tuple[str, int]] = {"fid": ("inception-v3-tf", 2048), "fd_dinov2": ("dinov2-vitl14", 1024)}

# The globals numpy's own array pickling names (_reconstruct: protocols 0-4, _frombuffer: protocol 5,
# scalar for numpy scalars), under numpy 1's and numpy 2's module spelling, and _codecs.encode, with
# which protocols 0-2 spell bytes (codecs.encode(str, 'latin1'): data in, data out).
_NUMPY_GLOBALS = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")}
_NUMPY_GLOBALS |= {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
                   ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler for plain containers of numpy arrays: any global beyond numpy's array rebuilders is refused."""

    def find_class(self, module: str, name: str) -> Any:
        """Resolve one of :data:`_NUMPY_GLOBALS`, or raise UnpicklingError naming the global."""
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}: an EDM2 reference pickle holds only "
                                         "dicts of numpy arrays")
        for mod in dict.fromkeys((module.replace("numpy.core", "numpy._core"), module)):   # numpy 2 renamed numpy.core
            try:
                return getattr(importlib.import_module(mod), name)
            except (ImportError, AttributeError):
                continue
        raise pickle.UnpicklingError(f"numpy global {module}.{name} is not available in this numpy")


Moments = dict[str, tuple[np.ndarray, np.ndarray]]   # metric -> (mu, sigma)


def read_edm2_reference(path: Union[str, os.PathLike]) -> tuple[Moments, Optional[int], list[str]]:
    """({metric: (mu, sigma)}, num_images or None, unknown keys) of an EDM2 reference ``.pkl``.

    Only the metrics of :data:`EDM2_METRICS` are returned; each must hold a finite 1-D ``mu`` of the
    extractor's dimension and a matching square ``sigma``, else a ValueError names the file and key.
    """
    try:
        with open(path, "rb") as f:
            data = NumpyOnlyUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise ValueError(f"{path}: not a readable EDM2 reference pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict) or not any(k in data for k in EDM2_METRICS):
        got = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: an EDM2 reference pickle is a dict with 'fid' and/or 'fd_dinov2', got {got}")
    out: Moments = {}
    for key, (ext, dim) in EDM2_METRICS.items():
        if key not in data:
            continue
        entry = data[key]
        if not isinstance(entry, dict) or not {"mu", "sigma"} <= set(entry):
            raise ValueError(f"{path}: '{key}' must be a dict with 'mu' and 'sigma'")
        mu, sigma = np.asarray(entry["mu"], np.float64), np.asarray(entry["sigma"], np.float64)
        if mu.shape != (dim,) or sigma.shape != (dim, dim):
            raise ValueError(f"{path}: '{key}' has mu {mu.shape} and sigma {sigma.shape}, expected ({dim},) and "
                             f"({dim}, {dim}) for {ext}")
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise ValueError(f"{path}: '{key}' holds NaN or inf")
        out[key] = (mu, sigma)
    num = data.get("num_images")
    if num is not None and (isinstance(num, bool) or int(num) != num or int(num) < 2):
        raise ValueError(f"{path}: num_images {num!r} is not an image count >= 2")
    unknown = sorted(str(k) for k in data if k not in EDM2_METRICS and k != "num_images")
    return out, (int(num) if num is not None else None), unknown


def convert_edm2_reference(path: Union[str, os.PathLike], out_dir: Union[str, os.PathLike],
                           resolution: Optional[int] = None) -> dict[str, Path]:
    """Write ``<out_dir>/<stem>.<extractor>.npz`` for each metric of the pickle; returns {metric: file}.

    Each file holds ``mu``, ``sigma``, ``num`` (when the pickle has num_images), ``extractor``,
    ``image_resolution`` (``resolution`` or 'unknown') and ``dataset`` (the source pickle), so
    ``--reference`` accepts it for runs with that extractor and refuses it for any other.
    """
    stats, num, _ = read_edm2_reference(path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for key, (mu, sigma) in stats.items():
        ext = EDM2_METRICS[key][0]
        info = {"extractor": ext, "image_resolution": str(int(resolution)) if resolution else "unknown",
                "dataset": f"EDM2 reference {Path(path).name} ('{key}')",
                "note": "converted from EDM2 calculate_metrics.py statistics; mirroring unknown"}
        dest = out_dir / f"{Path(path).stem}.{ext}.npz"
        if num is not None:
            FeatureStats.from_mean_cov(mu, sigma, num).save(dest, **info)
        else:   # count unknown: written without 'num', as pytorch-fid's files are (loadable, not mergeable)
            buf = io.BytesIO()
            np.savez(buf, mu=mu, sigma=sigma, **{k: np.asarray(v) for k, v in info.items()})
            atomic_write_bytes(dest, buf.getvalue())
        written[key] = dest
    return written
