"""``inception-v3-tf-logits``: the Inception Score's 1008 class logits, without the output bias.

logits(u) = pool3(u) @ W_fc^T  in R^1008, where ``pool3`` is the FID network of
:mod:`.inception` (same resize, normalisation and weights) and ``W_fc`` the 1008 x 2048 weight
of the 2015-12-05 graph's final layer; its bias is left out, as stylegan2-ada-pytorch's
``is50k`` (``no_output_bias=True``) and torch-fidelity's ``logits_unbiased`` leave it out.

Weight formats as for FID: pytorch-fid's state_dict (``fc.weight`` read from it) or NVIDIA's
TorchScript ``inception-2015-12-05.pt``, called ``module(u, no_output_bias=True)``, which returns
class probabilities; their logarithm is returned (a logit vector with the same softmax).
:meth:`InceptionLogits.pool_and_logits` gives the pool features too from the same forward
pass, so FID/KID and IS share one run of the network.
"""

from __future__ import annotations

import os
from typing import Optional, Union

import torch

from .._core import weights as W
from . import FeatureExtractor, check_uint8_images, register_extractor
from .inception import NVIDIA_WEIGHTS, InceptionV3TF, TorchScriptExtractor, build_inception_v3_tf

NUM_CLASSES = 1008
LOGITS_EXTRACTOR = "inception-v3-tf-logits"


class InceptionLogits(FeatureExtractor):
    """uint8 [N, 3, H, W] -> float32 logits [N, 1008] (no output bias)."""

    feature_dim = NUM_CLASSES
    input_description = "uint8 NCHW RGB, any size (as inception-v3-tf)"

    def __init__(self, pool: FeatureExtractor, fc_weight: Optional[torch.Tensor]) -> None:
        super().__init__()
        self.pool = pool
        self.nvidia = isinstance(pool, TorchScriptExtractor)
        if fc_weight is not None:
            self.register_buffer("fc_weight", fc_weight.to(torch.float32))

    def pool_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pool3 features [N, 2048], logits [N, 1008]); one Inception pass (two calls for NVIDIA's file)."""
        check_uint8_images(images, 3, type(self).__name__)
        if self.nvidia:
            ts = self.pool.module
            x = images.to(self.pool.device, non_blocking=True)
            return ts(x, return_features=True).float(), self._nvidia_logits(x)
        f = self.pool.features(images)
        return f, f @ self.fc_weight.T

    def _nvidia_logits(self, x: torch.Tensor) -> torch.Tensor:
        probs = self.pool.module(x, no_output_bias=True).float()
        if probs.ndim != 2 or probs.shape[1] != NUM_CLASSES:
            raise ValueError(f"inception-2015-12-05.pt returned shape {tuple(probs.shape)} for no_output_bias=True, "
                             f"expected [N, {NUM_CLASSES}]")
        return probs.log()

    def features(self, images: torch.Tensor) -> torch.Tensor:
        if self.nvidia:
            return self._nvidia_logits(images.to(self.pool.device, non_blocking=True))
        return self.pool.features(images) @ self.fc_weight.T


@register_extractor(LOGITS_EXTRACTOR)
def build_inception_logits(weights: Union[str, os.PathLike, None] = None, device: Optional[torch.device] = None,
                           allow_hash_mismatch: bool = False, **kwargs) -> FeatureExtractor:
    """The IS logits from the same files as ``inception-v3-tf`` (keyword options passed on to it)."""
    pool = build_inception_v3_tf(weights=weights, device=device, allow_hash_mismatch=allow_hash_mismatch, **kwargs)
    fc = None
    if pool.weights_name != NVIDIA_WEIGHTS:
        assert isinstance(pool, InceptionV3TF)
        path = weights if weights is not None else W.resolve(pool.weights_name)
        sd = torch.load(path, map_location="cpu", weights_only=True)
        fc = sd.get("fc.weight")
        if fc is None or tuple(fc.shape) != (NUM_CLASSES, 2048):
            raise ValueError(f"{path} has no 1008 x 2048 'fc.weight' (got {None if fc is None else tuple(fc.shape)}); "
                             "the Inception Score needs the full 2015-12-05 network (pytorch-fid's file has it)")
        fc = fc.to(torch.device(device or "cpu"))
    ext = InceptionLogits(pool, fc)
    ext.weights_name, ext.weights_sha256 = pool.weights_name, pool.weights_sha256
    return ext
