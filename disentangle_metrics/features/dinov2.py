"""DINOv2 ViT-L/14 feature extractors (1024-d class token), one per reference preprocessing.

Both load the official ``dinov2_vitl14_pretrain.pth`` into :class:`.dinov2_net.DinoV2ViT` and
differ only in how uint8 images become the 224x224 network input ``x``:

- ``dinov2-vitl14`` (NVlabs/edm2 ``calculate_metrics.py``, ``DINOv2Detector`` resize_mode 'torch',
  the FD_DINOv2 the diffusion papers report):
  ``x = (F.interpolate(u.float(), (224, 224), mode='bicubic', antialias=True) / 255 - mean) / std``,
  no clamping or rounding after the resize;
- ``dinov2-vitl14-pil`` (layer6ai-labs/dgm-eval ``models/dinov2.py``; also edm2's resize_mode 'pil'):
  per image ``PIL.Image.resize((224, 224), BICUBIC)`` on the uint8 RGB image (aspect not kept),
  ``ToTensor`` (/255 in float32), ``Normalize(mean, std)``;

with ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225). A third mode, 'tf1'
(not registered under a name yet), is torch-fidelity's ``dinov2-vit-l-14``: TF 1.x bilinear resize
of the float image to 224 without antialias, then ``(x - 255 mean) / (255 std)``. The modes give
different features, so their statistics never mix (the extractor name is in every stats file).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
import torch.nn.functional as F

from .._core import weights as W
from . import FeatureExtractor, register_extractor
from .dinov2_net import DinoV2ViT, official_shapes
from .tf_resize import resize_bilinear_tf1

DINOV2_TORCH = "dinov2-vitl14"
DINOV2_PIL = "dinov2-vitl14-pil"
DINOV2_TF1 = "dinov2-vitl14-tf1"   # torch-fidelity's dinov2-vit-l-14 (TF1 bilinear resize)
WEIGHTS_NAME = "dinov2-vitl14-pretrain"
INPUT_SIZE = 224
FEATURE_DIM = 1024
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE_MODES = ("torch", "pil", "tf1")


def resize_torch_bicubic(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """EDM2's resize: ``F.interpolate(u.float(), (size, size), mode='bicubic', antialias=True)``, values in [0, 255]-ish."""
    return F.interpolate(images.to(torch.float32), size=(size, size), mode="bicubic", antialias=True)


def resize_pil_bicubic(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """dgm-eval's resize: each uint8 RGB image through ``PIL.Image.resize((size, size), BICUBIC)``.

    Returns uint8 [N, 3, size, size] on the CPU (PIL works there; the caller moves it).
    """
    import PIL.Image
    hwc = images.permute(0, 2, 3, 1).cpu().numpy()
    out = np.stack([np.asarray(PIL.Image.fromarray(im, "RGB").resize((size, size), PIL.Image.Resampling.BICUBIC))
                    for im in hwc])
    return torch.from_numpy(out).permute(0, 3, 1, 2)


class DINOv2Extractor(FeatureExtractor):
    """uint8 [N, 3, H, W] -> DINOv2 class token [N, 1024].

    ``resize``: 'torch' (EDM2), 'pil' (dgm-eval) or 'tf1' (torch-fidelity); see the module docstring.
    """

    feature_dim = FEATURE_DIM

    def __init__(self, net: DinoV2ViT, resize: str) -> None:
        super().__init__()
        if resize not in RESIZE_MODES:
            raise ValueError(f"DINOv2 resize mode {resize!r} is not one of {RESIZE_MODES}")
        self.net, self.resize = net, resize
        self.input_description = "uint8 NCHW RGB, any size; " + {
            "torch": "torch bicubic+antialias to 224 (EDM2), /255, ImageNet mean/std",
            "pil": "PIL bicubic to 224 per image (dgm-eval), /255, ImageNet mean/std",
            "tf1": "TF 1.x bilinear to 224 (torch-fidelity), ImageNet mean/std times 255"}[resize]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        # torch-fidelity passes 255 * m as Python floats: rounded to float32 once, not 255 * float32(m)
        self.register_buffer("mean255", torch.tensor([255 * m for m in IMAGENET_MEAN]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std255", torch.tensor([255 * s for s in IMAGENET_STD]).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> the normalised float32 network input [N, 3, 224, 224] on the extractor's device."""
        dev = self.mean.device
        if self.resize == "tf1":
            x = resize_bilinear_tf1(images.to(dev, non_blocking=True).to(torch.float32), (INPUT_SIZE, INPUT_SIZE))
            return (x - self.mean255) / self.std255
        if self.resize == "torch":
            x = resize_torch_bicubic(images.to(dev, non_blocking=True)) / 255
        else:
            x = resize_pil_bicubic(images).to(dev, non_blocking=True).to(torch.float32) / 255
        return (x - self.mean) / self.std

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Preprocess, then the class token after the final LayerNorm."""
        return self.net(self.preprocess(images)).float()


def load_dinov2_state_dict(path: Union[str, os.PathLike]) -> dict[str, torch.Tensor]:
    """The official checkpoint's tensors as float32; a ValueError names the file and what is wrong.

    Keys and shapes must be exactly the official ViT-L/14 set (the hub loads with ``strict=True``).
    A zip-format file is memory-mapped, so loading does not hold a second 1.2 GB copy.
    """
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable PyTorch state_dict ({type(exc).__name__}); "
                         "the file may be truncated: download it again") from exc
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: expected a state_dict (dict of tensors), got {type(sd).__name__}")
    want = official_shapes()
    missing, unexpected = sorted(set(want) - set(sd)), sorted(set(sd) - set(want))
    if missing or unexpected:
        raise ValueError(f"{path} is not the DINOv2 ViT-L/14 state_dict (dinov2_vitl14_pretrain.pth): "
                         f"{len(missing)} missing keys {missing[:3]}, {len(unexpected)} unexpected keys {unexpected[:3]}")
    bad = [f"{k} {tuple(v.shape)} != {want[k]}" for k, v in sd.items() if tuple(v.shape) != want[k]]
    if bad:
        raise ValueError(f"{path}: tensor shapes differ from DINOv2 ViT-L/14: {'; '.join(bad[:3])}")
    return {k: v.float() for k, v in sd.items()}   # the hub copies into float32 parameters


def build_dinov2(resize: str, weights: Union[str, os.PathLike, None] = None, device: Optional[torch.device] = None,
                 allow_hash_mismatch: bool = False) -> DINOv2Extractor:
    """DINOv2 ViT-L/14 from the registered file (or ``weights``) with the given preprocessing."""
    device = torch.device(device or "cpu")
    path: Path = W.resolve(WEIGHTS_NAME, weights, allow_hash_mismatch=allow_hash_mismatch)
    sd = load_dinov2_state_dict(path)
    with torch.device("meta"):   # no 304M-parameter random init only to overwrite it
        net = DinoV2ViT()
    net.load_state_dict(sd, strict=True, assign=True)
    ext = DINOv2Extractor(net, resize).to(device)
    ext.weights_name, ext.weights_sha256 = WEIGHTS_NAME, W.sha256_of(path)
    return ext


@register_extractor(DINOV2_TORCH)
def build_dinov2_vitl14(weights: Union[str, os.PathLike, None] = None, device: Optional[torch.device] = None,
                        allow_hash_mismatch: bool = False) -> FeatureExtractor:
    """EDM2's FD_DINOv2 extractor: torch bicubic with antialias to 224."""
    return build_dinov2("torch", weights, device, allow_hash_mismatch)


@register_extractor(DINOV2_PIL)
def build_dinov2_vitl14_pil(weights: Union[str, os.PathLike, None] = None, device: Optional[torch.device] = None,
                            allow_hash_mismatch: bool = False) -> FeatureExtractor:
    """dgm-eval's extractor: PIL bicubic to 224 per image."""
    return build_dinov2("pil", weights, device, allow_hash_mismatch)


@register_extractor(DINOV2_TF1)
def build_dinov2_vitl14_tf1(weights: Union[str, os.PathLike, None] = None, device: Optional[torch.device] = None,
                            allow_hash_mismatch: bool = False) -> FeatureExtractor:
    """torch-fidelity's ``dinov2-vit-l-14`` input: TF 1.x bilinear to 224, no antialias."""
    return build_dinov2("tf1", weights, device, allow_hash_mismatch)
