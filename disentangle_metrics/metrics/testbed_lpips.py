"""``testbed-lpips``: an LPIPS-style PPL distance on the test-bed classifier's activations (offline stand-in).

For images x0, x1 in [-1, 1] (any square size, resized to 32x32 as in
:func:`disentangle_metrics.features.testbed_net.resize_square`), with f_l(x) [C_l, H_l, W_l] the
classifier's activation maps (l = 1..5: the 32x32 input layer, the 16, 8 and 4 block outputs and
the 4x4 conv) and n(v) = v / (||v||_2 + 1e-10) over channels at each pixel,

    d(x0, x1) = sum_l  mean_{h, w}  sum_c ( n(f_l(x0))[c, h, w] - n(f_l(x1))[c, h, w] )^2

i.e. LPIPS v0.1 with uniform (all-one) linear weights instead of learned ones. Every layer term lies
in [0, 4], so d lies in [0, 20]. Numbers are comparable only with each other, never with LPIPS-VGG;
PPL names carry the distance (``ppl_wend@testbed-lpips``).
"""

from __future__ import annotations

from typing import Mapping

import torch

from .distances import Distance, register_distance
from ..features.testbed_net import WEIGHTS_NAME, TestbedClassifier, load_testbed_classifier

NAME = "testbed-lpips"
EPS = 1e-10


def unit_normalize(f: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Each spatial feature vector of ``f`` [N, C, H, W] divided by (its L2 norm over channels + eps)."""
    return f / (f.square().sum(dim=1, keepdim=True).sqrt() + eps)


class TestbedLPIPS(torch.nn.Module):
    """d(x0, x1) of the module docstring; both batches go through the network in one call."""

    __test__ = False

    def __init__(self, classifier: TestbedClassifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        if img0.shape != img1.shape:
            raise ValueError(f"testbed-lpips compares images of one shape, got {tuple(img0.shape)} and {tuple(img1.shape)}")
        n = img0.shape[0]
        total = torch.zeros(n, dtype=torch.float32, device=img0.device)
        for f in self.classifier.activations(torch.cat([img0, img1])):
            f = unit_normalize(f)
            total = total + (f[:n] - f[n:]).square().sum(dim=1).mean(dim=(1, 2))
        return total.to(img0.dtype)


@register_distance(NAME, "LPIPS-style distance on the shipped test-bed classifier's activations (uniform weights)")
def build_testbed_lpips(device: torch.device, dtype: torch.dtype, weight_paths: Mapping[str, str],
                        allow_hash_mismatch: bool) -> Distance:
    """``testbed-lpips`` on ``device``; the network runs in float32 whatever ``dtype`` (see testbed_classifier)."""
    clf = load_testbed_classifier(weight_paths.get(WEIGHTS_NAME), device=device, allow_hash_mismatch=allow_hash_mismatch)
    return Distance(name=NAME, fn=TestbedLPIPS(clf), weights={WEIGHTS_NAME: clf.sha256},
                    description="LPIPS-style, uniform weights, on the test-bed classifier (32x32)")
