"""disentangle_metrics: the StyleGAN paper's metrics (FID, perceptual path length, linear separability)
and the stylegan2-ada-pytorch / torch-fidelity suite (KID, precision/recall, Inception Score).

    import disentangle_metrics as dm
    dm.fid(G, "ffhq.zip"); dm.kid(G, "ffhq.zip"); dm.precision_recall("samples/", "ffhq.zip")
    dm.inception_score(G); dm.ppl(G, space="w", sampling="end"); dm.separability(G, "testbed")
    dm.score(G, ["fid50k", "kid50k", "pr50k3", "is50k"], reference="ffhq.zip")   # one shared pass

Every name here is a plain function or class (:mod:`.api`). The package is layered, each layer
importing only from those below it (``tests/test_layering.py`` holds it to that):

    _core       device, distributed, sampling, results, weights, options, version
    data        image sets (folders, zips, arrays), labels, the procedural test bed
    functional  pure statistics on arrays: Frechet, KID, precision/recall, IS, intervals, SVM
    generators  the generator protocol, adapters, conditioning, sources of images, precision guard
    features    extractors (each with its preprocessing), the one pass over image sets, real-side caches
    metrics     the registry, the metric rows (FID/KID/PR/IS one shared pass), PPL, separability
    api         the public functions below
"""

from ._core.version import __version__
from ._core.results import MetricResult, read_results, append_result, results_dataframe
from ._core.options import ScoreOptions
from .generators.protocol import (
    Generator, GeneratorValidationError, NoMappingError, ProtocolError, as_generator, has_mapping, validate_generator,
)
from .api import (
    Accumulator, fid, kid, precision_recall, inception_score, ppl, separability, score,
    frechet_distance, kid_from_features, precision_recall_from_features, inception_score_from_logits,
    prdc_from_features, cmmd_from_embeddings, open_source, GeneratorSource, ImageSource, FeatureStats, dataset_stats, build_extractor, list_extractors,
    list_metrics,
)

__all__ = [
    "__version__", "Accumulator", "fid", "kid", "precision_recall", "inception_score", "ppl", "separability", "score",
    "frechet_distance", "kid_from_features", "precision_recall_from_features", "inception_score_from_logits",
    "prdc_from_features", "cmmd_from_embeddings", "MetricResult", "read_results", "append_result", "results_dataframe", "ScoreOptions",
    "Generator", "GeneratorValidationError", "NoMappingError", "ProtocolError", "as_generator", "has_mapping",
    "validate_generator", "open_source", "GeneratorSource", "ImageSource", "FeatureStats", "dataset_stats",
    "build_extractor", "list_extractors", "list_metrics",
]
