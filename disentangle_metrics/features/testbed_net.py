"""The shipped test-bed attribute classifier, loaded from its TorchScript file (no reference_models needed).

The file ``assets/testbed_classifier.pt`` (weights name ``testbed-classifier``) is the TorchScript
export of a small :class:`reference_models.AttributeClassifier` trained on the procedural test bed
(``scripts/train_testbed_classifier.py``; accuracy in docs/testbed_classifier.md). It takes float
images in [-1, 1] at 32x32; :class:`TestbedClassifier` brings any square input to 32x32 first with
:func:`resize_square`:

- larger, size a multiple of 32 (e.g. 64, 128, 1024): box filter, the mean of each k x k block
  (what the paper's separability code does to reach its classifiers' resolution);
- larger, other sizes: area interpolation (``adaptive_avg_pool2d``, averaging windows of varying size);
- smaller: bilinear upsampling (``align_corners=False``).

The network always runs in float32 (the dtype casts of its layers were fixed when it was traced);
results come back in the input's dtype.

Used by the ``testbed`` FID feature extractor (:mod:`.features.testbed`), the ``testbed-lpips``
PPL distance (:mod:`.testbed_lpips`) and ``--classifier testbed`` of the ``ls`` metric.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from .._core import weights as W

WEIGHTS_NAME = "testbed-classifier"
META_FILE = "meta.json"
META_FORMAT = "disentangle_metrics.testbed_classifier/1"   # the format tag of the shipped export: a name, kept as written


def resize_square(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Float images [N, C, H, H] -> [N, C, R, R] with the filters of the module docstring."""
    if images.ndim != 4 or images.shape[2] != images.shape[3]:
        raise ValueError(f"the test-bed classifier needs square NCHW images, got shape {tuple(images.shape)}")
    n, c, h, _ = images.shape
    if h == resolution:
        return images
    if h > resolution and h % resolution == 0:
        k = h // resolution
        return images.reshape(n, c, resolution, k, resolution, k).mean(dim=(3, 5))
    if h > resolution:
        return F.adaptive_avg_pool2d(images, resolution)
    return F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False)


class TestbedClassifier(torch.nn.Module):
    """Attribute classifier of the test bed: float images [N, 3, H, H] in [-1, 1] (any H) -> logits [N, A].

    ``features`` gives the penultimate activations [N, feature_dim]; ``activations`` the feature
    maps, one per resolution (32, 16, 8, 4, and the 4x4 conv). ``attribute_names`` lists the
    logits' attributes (the ``ls`` metric reads it), ``sha256`` identifies the file loaded.
    """

    __test__ = False
    metric_tag = "testbed"   # metrics scored with it are named ls@testbed, never the paper's ls

    def __init__(self, module: torch.jit.ScriptModule, meta: dict, sha256: str, path: Path) -> None:
        super().__init__()
        self.module = module
        self.meta = meta
        self.sha256 = sha256
        self.path = path
        self.attribute_names: list[str] = list(meta["attribute_names"])
        self.resolution: int = int(meta["resolution"])
        self.feature_dim: int = int(meta["feature_dim"])
        self.activation_channels: list[int] = [int(c) for c in meta["activation_channels"]]

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or not images.is_floating_point():
            raise TypeError("the test-bed classifier takes float images in [-1, 1]; convert uint8 with x / 127.5 - 1")
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"the test-bed classifier needs images [N, 3, H, H], got shape {tuple(images.shape)}")
        return resize_square(images.to(torch.float32), self.resolution)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits [N, A]; a positive logit means the attribute is present."""
        return self.module(self._prepare(images)).to(images.dtype)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate activations [N, feature_dim] (float32)."""
        return self.module.features(self._prepare(images))

    def activations(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Intermediate feature maps (float32), from the 32x32 input layer down to the 4x4 conv."""
        return list(self.module.activations(self._prepare(images)))


def load_testbed_classifier(path: Optional[str | os.PathLike] = None, device: torch.device | str = "cpu",
                            allow_hash_mismatch: bool = False) -> TestbedClassifier:
    """Load the shipped classifier (or the TorchScript file ``path``), hash-checked, in eval mode on ``device``."""
    p = W.resolve(WEIGHTS_NAME, path, allow_hash_mismatch=allow_hash_mismatch)
    extra = {META_FILE: ""}
    try:
        with warnings.catch_warnings():
            # torch 2.x marks TorchScript deprecated; the archive format is what we ship, not the user's choice
            warnings.filterwarnings("ignore", message=r"`torch\.jit\.load` is deprecated", category=FutureWarning)
            module = torch.jit.load(str(p), map_location=torch.device(device), _extra_files=extra)
    except RuntimeError as exc:
        raise ValueError(f"{p}: not a TorchScript archive ({str(exc).splitlines()[0]}); re-create it with "
                         "scripts/train_testbed_classifier.py --from-checkpoint ...") from None
    try:
        meta = json.loads(extra[META_FILE] or "null")
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: its {META_FILE} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise ValueError(f"{p}: not a test-bed classifier export (no {META_FILE} of format {META_FORMAT}); "
                         "write one with reference_models.classifier_export")
    module.eval()
    clf = TestbedClassifier(module, meta, W.sha256_of(p), Path(p))
    return clf.eval().requires_grad_(False)
