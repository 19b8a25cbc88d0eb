"""disentangle_metrics: the StyleGAN paper's metrics (FID, perceptual path length, linear separability)
and the stylegan2-ada-pytorch / torch-fidelity suite (KID, precision/recall, Inception Score).

    import disentangle_metrics as dm
    dm.fid(G, "ffhq.zip"); dm.kid(G, "ffhq.zip"); dm.precision_recall("samples/", "ffhq.zip")
    dm.inception_score(G); dm.ppl(G, space="w", sampling="end"); dm.separability(G, classifier)
    dm.score(G, ["fid50k", "kid50k", "pr50k3", "is50k"], reference="ffhq.zip")   # one shared pass

``dm.fid``, ``dm.kid``, ``dm.precision_recall``, ``dm.inception_score``, ``dm.ppl`` and
``dm.separability`` are the submodules of those names made callable: calling one calls the API
function (:mod:`.api`, :func:`.ppl.ppl`, :func:`.separability.separability`), while
``from disentangle_metrics.fid import fid`` and ``import disentangle_metrics.fid`` keep working
(a package attribute cannot be both a function and a submodule: importing the submodule
replaces the attribute).
"""

__version__ = "0.1.0"

import types  # noqa: E402

from .protocol import (  # noqa: E402
    Generator, GeneratorValidationError, NoMappingError, ProtocolError, as_generator, has_mapping,
    validate_generator,
)
from .results import MetricResult  # noqa: E402

# public name -> (module, attribute), resolved lazily by __getattr__
_LAZY = {
    "score": ("scoring", "score"),
    "kid_from_features": ("kid", "kid_from_features"),
    "precision_recall_from_features": ("precision_recall", "precision_recall_from_features"),
    "inception_score_from_logits": ("inception_score", "inception_score_from_logits"),
    "frechet_distance": ("frechet", "frechet_distance"),
    "open_source": ("sources", "open_source"), "GeneratorSource": ("sources", "GeneratorSource"),
    "ImageSource": ("sources", "ImageSource"), "FeatureStats": ("stats", "FeatureStats"),
    "dataset_stats": ("dataset_stats", "dataset_stats"), "build_extractor": ("features", "build_extractor"),
    "list_extractors": ("features", "list_extractors"), "list_metrics": ("registry", "list_metrics"),
    "ScoreOptions": ("registry", "ScoreOptions"), "read_results": ("results", "read_results"),
    "append_result": ("results", "append_result"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{mod}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'disentangle_metrics' has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """A module that, called, calls the function its ``__api__ = (module, name)`` names."""

    def __call__(self, *args, **kwargs):
        import importlib
        mod, attr = self.__api__
        return getattr(importlib.import_module(f"{__name__}.{mod}"), attr)(*args, **kwargs)


def _make_callable(name: str, api: tuple[str, str]) -> None:
    import importlib
    module = importlib.import_module(f"{__name__}.{name}")
    module.__class__ = _CallableModule
    module.__api__ = api


for _name, _api in {"fid": ("api", "fid"), "kid": ("api", "kid"), "precision_recall": ("api", "precision_recall"),
                    "inception_score": ("api", "inception_score"), "ppl": ("ppl", "ppl"),
                    "separability": ("separability", "separability")}.items():
    _make_callable(_name, _api)
del _name, _api

__all__ = ["fid", "kid", "precision_recall", "inception_score", "ppl", "separability", "Generator", "GeneratorValidationError", "NoMappingError", "ProtocolError", "MetricResult",
           "as_generator", "has_mapping", "validate_generator", "__version__", *_LAZY]
