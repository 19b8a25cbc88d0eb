"""``testbed``: FID features from the shipped test-bed attribute classifier (offline stand-in for Inception).

features(u) = penultimate( resize_32( u / 127.5 - 1 ) )  in R^D (D = 64 for the shipped network),

with ``u`` uint8 NCHW of any square size and ``resize_32`` the filter of
:func:`disentangle_metrics.features.testbed_net.resize_square` (box mean for multiples of 32).
FID numbers computed with it are only comparable with each other, never with the paper's
Inception-based FID; the metric name carries the extractor (``fid50k@testbed``).
"""

from __future__ import annotations

import os
from typing import Optional, Union

import torch

from .testbed_net import WEIGHTS_NAME, TestbedClassifier, load_testbed_classifier
from . import FeatureExtractor, register_extractor


class TestbedExtractor(FeatureExtractor):
    """uint8 [N, 3, H, H] -> float32 [N, D]: the test-bed classifier's penultimate activations."""

    __test__ = False
    input_description = "uint8 NCHW RGB, square, any size; x / 127.5 - 1, resized to 32x32 (box mean for multiples of 32)"
    weights_name = WEIGHTS_NAME

    def __init__(self, classifier: TestbedClassifier, device: torch.device) -> None:
        super().__init__()
        self.classifier = classifier
        self.device = device
        self.feature_dim = classifier.feature_dim
        self.weights_sha256 = classifier.sha256

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, non_blocking=True).to(torch.float32) / 127.5 - 1.0
        return self.classifier.features(x).float()


@register_extractor("testbed")
def build_testbed_extractor(weights: Union[str, os.PathLike, None] = None, device: Optional[torch.device] = None,
                            allow_hash_mismatch: bool = False) -> TestbedExtractor:
    """The ``testbed`` extractor; ``weights`` overrides the bundled TorchScript file."""
    dev = torch.device(device or "cpu")
    clf = load_testbed_classifier(weights, device=dev, allow_hash_mismatch=allow_hash_mismatch)
    return TestbedExtractor(clf, dev)
