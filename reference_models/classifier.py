"""Attribute classifier: the discriminator architecture with one logit per attribute.

NVIDIA's 40 CelebA-HQ classifiers (``celebahq-classifier-NN-*.pkl``) are each such a network
with a single logit at 256x256; the linear-separability metric turns a logit l into the
probabilities softmax([l, -l]). Inputs are float images in [-1, 1] at exactly the classifier's
resolution (the metric, not the classifier, box-downsamples larger images).
"""

from __future__ import annotations

import torch

from .configs import ClassifierConfig
from .discriminator import Discriminator
from .layers import leaky_relu, minibatch_stddev


class AttributeClassifier(Discriminator):
    """images [N, C, R, R] in [-1, 1] -> logits [N, num_attributes]."""

    kind = "classifier"

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__(cfg)
        self.num_attributes = cfg.num_attributes

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Logits [N, num_attributes]."""
        return self.head(self.trunk(images)[-1])[1]

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate activations [N, nf(0)] (512 at the official widths): the output of Dense0
        after its leaky ReLU, i.e. what the last dense layer reads."""
        return self.head(self.trunk(images)[-1])[0]

    def activations(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Intermediate feature maps, one per resolution, after each leaky ReLU: fromRGB at R, the
        output of each block (R/2 .. 4), then the 4x4 conv (after minibatch stddev when enabled)."""
        feats = self.trunk(images)
        x = feats[-1]
        if self.cfg.mbstd_group_size > 1:
            x = minibatch_stddev(x, self.cfg.mbstd_group_size, self.cfg.mbstd_num_features)
        return feats + [leaky_relu(self.conv4(x))]
