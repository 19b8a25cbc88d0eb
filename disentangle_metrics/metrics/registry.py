"""The metric registry: each metric a short named function on the shared sampling utility.

A metric function takes the generator and a :class:`ScoreOptions` and returns a
:class:`~disentangle_metrics._core.results.MetricResult`. Names follow stylegan2-ada-pytorch's
(``fid50k``, ``ppl_wend``, ...); a metric computed with a non-standard network carries it in its
name (``fid50k@testbed``) so it cannot be mistaken for the paper's number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .._core.options import ScoreOptions
from .._core.results import MetricResult


MetricFn = Callable[[Any, ScoreOptions], MetricResult]
METRICS: dict[str, MetricFn] = {}


@dataclass(frozen=True)
class MetricInfo:
    """What ``dmetrics metrics`` prints about a metric."""

    what: str                 # what it computes (one line, with its formula's name)
    num_gen: str              # generated samples by default
    num_real: str = "-"       # real images by default ('-': none)
    needs: str = "generator"  # 'images' (a generator or a folder/zip/.npz of its images), 'generator' (latents), ...
    anchor: str = ""          # whose code defines it


METRIC_INFO: dict[str, MetricInfo] = {}


def register_metric(name: str, info: Optional[MetricInfo] = None) -> Callable[[MetricFn], MetricFn]:
    """Decorator: register ``fn`` under ``name`` (with its description ``info``)."""
    def wrap(fn: MetricFn) -> MetricFn:
        if name in METRICS:
            raise ValueError(f"metric {name!r} is registered twice")
        METRICS[name] = fn
        if info is not None:
            METRIC_INFO[name] = info
        return fn
    return wrap


def get_metric(name: str) -> MetricFn:
    """The registered metric ``name``, or an alias of one (:func:`resolve_name`); KeyError listing the known names."""
    base, overrides = resolve_name(name)
    fn = METRICS[base]
    if not overrides:
        return fn

    def with_overrides(G: Any, opts: ScoreOptions) -> MetricResult:
        from dataclasses import replace
        return fn(G, replace(opts, **overrides))
    with_overrides.__doc__ = fn.__doc__
    return with_overrides


# counted names: the count, k for thousands, then (precision/recall kinds) the neighbourhood size, so the
# count's digits are taken lazily there: pr403 is 40 samples with k = 3
_COUNTED = re.compile(r"^(?:(fid|kid|is|cmmd|fd_dinov2_)(\d+)(k?)()|(prdc|pr)(\d+?)(k?)([35]))(_full)?(?:@(.+))?$")
_NHOOD = {"pr": "3", "prdc": "5"}   # the k in the name (pr50k3, prdc50k5)
_ALIASES = {"ls_z": "ls", "ls_w": "ls"}   # ls computes both spaces in one run (values ls_z, ls_w)


def resolve_name(name: str) -> tuple[str, dict[str, Any]]:
    """(registered name, ScoreOptions overrides) for ``name``.

    Accepts the registered names, the names results carry: a sample count other than 50k
    (``fid10k``, ``kid2500_full``, ``pr10k3``, ``is10k``: num_samples), an extractor suffix on FID/KID
    (``fid50k@testbed``: extractor), a distance suffix on PPL (``ppl_wend@testbed-lpips``: distance),
    and ``ls_z`` / ``ls_w`` (both come from ``ls``).
    """
    _load_builtin_metrics()
    if name in METRICS:
        return name, {}
    if name in _ALIASES:
        return _ALIASES[name], {}
    head, at, tag = name.partition("@")
    if at and head.startswith("ppl") and head in METRICS:     # ppl_wend@testbed-lpips: the distance
        return head, {"distance": tag}
    m = _COUNTED.match(name)
    if m:
        g = m.groups()
        kind, digits, k, three = g[0:4] if g[0] else g[4:8]
        full, ext = g[8], g[9]
        count = int(digits) * (1000 if k else 1)
        base = f"{kind}50k{three}{full or ''}"
        overrides: dict[str, Any] = {} if count == 50_000 else {"num_samples": count}
        if ext is not None and f"{base}@{ext}" in METRICS:
            base = f"{base}@{ext}"
        elif ext is not None and kind in ("fid", "kid"):
            overrides["extractor"] = ext
        elif ext is not None:
            base = ""
        if base in METRICS and three == _NHOOD.get(kind, ""):
            return base, overrides
    raise KeyError(f"unknown metric {name!r}; known: {', '.join(sorted(METRICS)) or '(none)'} "
                   "(also: another count as fid10k or kid10k_full, fid50k@EXTRACTOR, ppl_wend@DISTANCE, ls_z, ls_w)")


def list_metrics() -> list[str]:
    """Names of all registered metrics."""
    _load_builtin_metrics()
    return sorted(METRICS)


def metric_info(name: str) -> Optional[MetricInfo]:
    """The description of registered metric ``name`` (None when it registered none)."""
    _load_builtin_metrics()
    base, _ = resolve_name(name)
    if base.startswith("ppl_") and base.endswith("@ada"):
        base = "ppl2_wend"
    return METRIC_INFO.get(base) or _BUILTIN_INFO.get(base if not base.startswith("ppl_") else "ppl_*")


# Descriptions of the metrics registered before MetricInfo existed (ppl.py, separability.py).
_BUILTIN_INFO = {
    "ppl_*": MetricInfo("perceptual path length: E[d(G(lerp/slerp(t)), G(...(t + eps))) / eps^2], LPIPS-VGG, "
                        "1st/99th percentile filter", "100k", "-", "generator (latents)",
                        "NVlabs/stylegan metrics/perceptual_path_length.py"),
    "ppl2_wend": MetricInfo("stylegan2-ada-pytorch's path length in W, end points, no crop, their vgg16.pt LPIPS "
                            "(ppl_*@ada: their legacy variants)", "50k", "-", "generator (latents)",
                            "stylegan2-ada-pytorch metrics/perceptual_path_length.py"),
    "ls": MetricInfo("linear separability: 2 ** sum_attr H(classifier label | linear-SVM prediction); values ls_z, ls_w",
                     "200k (keep 100k)", "-", "generator (latents) + attribute classifier",
                     "NVlabs/stylegan metrics/linear_separability.py"),
}


def _load_builtin_metrics() -> None:
    # Importing the metric modules registers them; done lazily so `import disentangle_metrics` stays light.
    import importlib
    for mod in ("image", "ppl", "separability"):
        try:
            importlib.import_module(f"disentangle_metrics.metrics.{mod}")
        except ModuleNotFoundError as exc:
            if exc.name != f"disentangle_metrics.metrics.{mod}":
                raise
