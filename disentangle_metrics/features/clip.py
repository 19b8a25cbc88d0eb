"""CLIP ViT-L/14@336px image embeddings as CMMD computes them (extractor ``clip-vitl14-336``).

CMMD (google-research ``cmmd/``, Jayasumana et al. 2024), read in its source:

- ``io_util._center_crop_and_resize``: PIL image -> centre crop to a square of side l = min(w, h)
  at top = (h - l) // 2, left = (w - l) // 2 -> ``im.resize((336, 336), resample=Image.BICUBIC)``
  (PIL's bicubic, antialiased when shrinking; the result is uint8 again);
- ``np.asarray(im).astype(np.float32)``, then ``/ 255.0`` (float32);
- ``embedding._clip_preprocess``: ``jax.image.resize`` to 336 bicubic, here an identity (the
  images are already 336 x 336, and Keys' cubic weights at integer offsets are exactly 1 and 0),
  then scenic's ``normalize_image``: (x - mean) / std with OpenAI's CLIP mean/std;
- scenic's CLIP ``encode_image(normalize=True)``: the ViT image tower with OpenAI's weights
  (``ViT-L-14-336px.pt``, converted from OpenAI's TorchScript file), then x / |x|.

So this extractor returns unit-length 768-d float32 embeddings of uint8 NCHW images of any size.
Cropping and PIL resizing run on the CPU per image (skipped when an image is already 336 x 336,
where PIL's resize returns a copy); the network runs on the extractor's device.
"""

from __future__ import annotations

import os
from typing import Optional, Union

import numpy as np
import torch
from PIL import Image

from .._core import weights as W
from . import FeatureExtractor, register_extractor
from .clip_net import VIT_L14_336, VisionTransformer, load_visual, read_openai_archive

CLIP_VITL14_336 = "clip-vitl14-336"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)     # OpenAI CLIP / scenic IMAGE_MEAN
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)     # OpenAI CLIP / scenic IMAGE_STD


def cmmd_crop_resize(images: torch.Tensor, size: int = VIT_L14_336.resolution) -> torch.Tensor:
    """CMMD's ``_center_crop_and_resize`` on uint8 [N, 3, H, W]: centre square crop, PIL bicubic to
    ``size`` x ``size``; returns uint8 [N, 3, size, size] (on the CPU when a resize was needed)."""
    n, c, h, w = images.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = images[:, :, top:top + side, left:left + side]
    if side == size:            # PIL's resize to the same size is a copy
        return crop
    arr = crop.permute(0, 2, 3, 1).cpu().numpy()
    out = np.stack([np.asarray(Image.fromarray(a).resize((size, size), resample=Image.Resampling.BICUBIC))
                    for a in arr])
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


class CLIPImageEmbedding(FeatureExtractor):
    """uint8 [N, 3, H, W] -> unit-length CLIP image embeddings [N, output_dim] (CMMD's pipeline)."""

    input_description = ("uint8 NCHW RGB, any size; centre crop to a square, PIL bicubic to 336, /255, "
                         "CLIP mean/std; embeddings scaled to unit length")

    def __init__(self, net: VisionTransformer) -> None:
        super().__init__()
        self.net = net
        self.feature_dim = net.config.output_dim
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1))

    def normalised_input(self, images: torch.Tensor) -> torch.Tensor:
        """The float32 tensor the network sees: (crop_resize(u) / 255 - mean) / std."""
        x = cmmd_crop_resize(images, self.net.config.resolution)
        x = x.to(self.mean.device, non_blocking=True).to(torch.float32) / 255
        return (x - self.mean) / self.std

    def features(self, images: torch.Tensor) -> torch.Tensor:
        e = self.net(self.normalised_input(images))
        return e / e.norm(dim=-1, keepdim=True)          # scenic's encode_image(normalize=True)


def load_clip_archive(path: Union[str, os.PathLike], expect=VIT_L14_336) -> VisionTransformer:
    """The float32 image tower of an OpenAI CLIP TorchScript file; ``expect`` as :func:`~.clip_net.load_visual`."""
    return load_visual(read_openai_archive(path), expect=expect, source=str(path))


@register_extractor(CLIP_VITL14_336)
def build_clip_vitl14_336(weights: Union[str, os.PathLike, None] = None, device: Optional[torch.device] = None,
                          allow_hash_mismatch: bool = False) -> FeatureExtractor:
    """OpenAI's ViT-L-14-336px.pt (resolved from the weights registry unless ``weights`` is a path);
    the file must hold exactly ViT-L/14@336's ``visual.*`` keys and shapes."""
    device = torch.device(device or "cpu")
    path = W.resolve(CLIP_VITL14_336, weights, allow_hash_mismatch=allow_hash_mismatch)
    ext = CLIPImageEmbedding(load_clip_archive(path, expect=VIT_L14_336)).to(device)
    ext.weights_name, ext.weights_sha256 = CLIP_VITL14_336, W.sha256_of(path)
    return ext
