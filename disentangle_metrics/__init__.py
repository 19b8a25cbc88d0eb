"""disentangle_metrics: the StyleGAN paper's metrics (FID, perceptual path length, linear separability)."""

__version__ = "0.1.0"

from .protocol import (  # noqa: E402
    Generator, GeneratorValidationError, NoMappingError, ProtocolError, as_generator, has_mapping,
    validate_generator,
)
from .results import MetricResult  # noqa: E402

__all__ = ["Generator", "GeneratorValidationError", "NoMappingError", "ProtocolError", "MetricResult",
           "as_generator", "has_mapping", "validate_generator", "__version__"]
