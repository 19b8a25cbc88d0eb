"""Run several metrics on one generated side; the image-only ones share one pass.

``score(G, ["fid50k", "kid50k", "ppl_wend"], reference=..., num_samples=...)``: the names are
those of :func:`~.registry.resolve_name` (aliases such as ``fid10k`` included); options are
:class:`~.._core.options.ScoreOptions` fields. FID, KID, precision/recall and IS rows asked with the same
overrides run through :func:`~.image_metrics.compute` together (each image generated once,
features computed once per extractor); every other metric runs alone. ``G`` may be a folder,
zip or ``.npz`` of generated images for the image-only metrics.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, Iterator, Sequence, Union

from . import image as IM
from ..generators.sources import is_image_array, is_image_path
from .._core.options import ScoreOptions
from .registry import get_metric, resolve_name
from .._core.results import MetricResult

Outcome = Union[MetricResult, Exception]


def _image_row(base: str) -> Any:
    return IM.TABLE.get(base) or (IM.FID50K if base == "fid50k" else None)


def score_iter(G: Any, names: Sequence[str], opts: ScoreOptions) -> Iterator[tuple[str, Outcome]]:
    """(name, result or the exception it raised) per name, in order of the names' groups.

    One metric failing does not stop the others; an unknown name raises KeyError at once.
    """
    resolved = [(n, *resolve_name(n)) for n in names]
    images_only = is_image_path(G) or is_image_array(G) or type(G).__name__ == "ImageSource"
    groups: dict[tuple, list[tuple[str, Any]]] = {}
    singles: list[tuple[str, str, dict]] = []
    for name, base, over in resolved:
        row = _image_row(base)
        if row is not None:
            groups.setdefault(tuple(sorted(over.items())), []).append((name, row))
        else:
            singles.append((name, base, over))
    for over, members in groups.items():
        try:
            results = IM.compute_outcomes(G, [row for _, row in members], replace(opts, **dict(over)))
        except Exception as exc:   # a request-level guard: every member fails with it
            for name, _ in members:
                yield name, exc
            continue
        for (name, _), res in zip(members, results):   # a row's own failure (its weights) is its own
            yield name, res
    for name, base, over in singles:
        if images_only:
            yield name, ValueError(f"{name} needs a generator (it samples latents); {G} holds images only. "
                                   "Image-only metrics: fid*, kid*, pr*, is*")
            continue
        try:
            yield name, get_metric(base)(G, replace(opts, **over))
        except Exception as exc:
            yield name, exc


def score(G: Any, metrics: Sequence[str], **options: Any) -> list[MetricResult]:
    """Results of ``metrics`` on ``G`` (generator or generated images); raises the first failure.

    ``options`` are :class:`~.._core.options.ScoreOptions` fields (``reference``, ``num_samples``,
    ``num_real``, ``mirror``, ``device``, ``seed``, ``weights``, ``progress`` ...).
    """
    known = {f.name for f in fields(ScoreOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"score() got unknown options {unknown}; ScoreOptions fields: {sorted(known)}")
    options.setdefault("progress", False)
    opts = ScoreOptions(**options)
    out = []
    for name, res in score_iter(G, list(metrics), opts):
        if isinstance(res, Exception):
            raise res
        out.append(res)
    return out
