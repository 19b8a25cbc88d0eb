"""VGG16 feature extractors for precision and recall (4096-d).

- ``vgg16-nvidia`` (the metric's own network): NVIDIA's TorchScript ``vgg16.pt``, called exactly as
  stylegan2-ada-pytorch's ``pr50k3`` calls it, ``module(u, return_features=True)`` on uint8 NCHW
  images on the device (confirmed in its metrics/metric_utils.py and precision_recall.py). What the
  module does inside (resize to 224, normalisation, which fully connected layer) is its own code
  and is not re-implemented here, so whatever it computes is what this extractor returns. Its
  sha256 (b437eb09...) is the one genforce's perceptual_model.py checks for this URL; NVIDIA
  publishes none.
- ``vgg16-torchvision`` (a substitute, only under its own name, ``pr50k3@vgg16-torchvision``):
  torchvision's ImageNet VGG16 ``vgg16-397923af.pth`` as torch-fidelity's ``vgg16`` extractor
  uses it for ``prc``: u uint8 -> TensorFlow 1.x bilinear resize to 224 -> (u - 255 mean) /
  (255 std) with ImageNet's mean/std -> conv trunk -> adaptive avg pool 7 -> fc1 -> ReLU -> fc2 ->
  ReLU (``fc2_relu``). Not the same network as NVIDIA's: its numbers are not the paper's.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Optional, Union

import torch

from .._core import weights as W
from . import FeatureExtractor, register_extractor
from .tf_resize import resize_bilinear_tf1

NVIDIA_VGG16 = "vgg16-nvidia"
TORCHVISION_VGG16 = "vgg16-torchvision"
FEATURE_DIM = 4096
INPUT_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class NvidiaVGG16(FeatureExtractor):
    """NVIDIA's TorchScript vgg16.pt: ``module(u8, return_features=True)`` -> [N, 4096]."""

    feature_dim = FEATURE_DIM
    input_description = "uint8 NCHW RGB, any size (the TorchScript module resizes and normalises)"

    def __init__(self, module: torch.jit.ScriptModule, device: torch.device) -> None:
        super().__init__()
        self.module, self.device = module, device

    def features(self, images: torch.Tensor) -> torch.Tensor:
        out = self.module(images.to(self.device, non_blocking=True), return_features=True)
        if out.ndim != 2 or out.shape[1] != self.feature_dim:
            raise ValueError(f"vgg16.pt returned shape {tuple(out.shape)} for return_features=True, "
                             f"expected [N, {self.feature_dim}]: is this NVIDIA's stylegan2-ada vgg16.pt?")
        return out.float()


class TorchvisionVGG16(FeatureExtractor):
    """torchvision VGG16 fc2 + ReLU features, torch-fidelity's ``vgg16`` recipe: uint8 -> [N, 4096]."""

    feature_dim = FEATURE_DIM
    input_description = "uint8 NCHW RGB, any size; TF 1.x bilinear to 224, ImageNet mean/std"

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.trunk, self.pool = net.features, net.avgpool
        self.head = torch.nn.Sequential(*list(net.classifier.children())[:4])   # fc1, ReLU, Dropout, fc2
        self.register_buffer("mean", 255 * torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", 255 * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.mean.device, non_blocking=True).to(torch.float32)
        x = resize_bilinear_tf1(x, (INPUT_SIZE, INPUT_SIZE))
        x = (x - self.mean) / self.std
        x = self.pool(self.trunk(x)).flatten(1)
        return torch.relu(self.head(x))


def _is_torchscript(path: Path) -> bool:
    from .inception import is_torchscript
    return is_torchscript(path)


@register_extractor(NVIDIA_VGG16)
def build_vgg16_nvidia(weights: Union[str, os.PathLike, None] = None, device: Optional[torch.device] = None,
                       allow_hash_mismatch: bool = False) -> FeatureExtractor:
    """NVIDIA's vgg16.pt (resolved from the weights registry unless ``weights`` is a path)."""
    device = torch.device(device or "cpu")
    path = W.resolve(NVIDIA_VGG16, weights, allow_hash_mismatch=allow_hash_mismatch)
    if not _is_torchscript(path):
        raise ValueError(f"{path} is not a TorchScript archive; {NVIDIA_VGG16} needs NVIDIA's vgg16.pt "
                         f"({W.get_spec(NVIDIA_VGG16).url})")
    ext = NvidiaVGG16(torch.jit.load(str(path), map_location=device).eval(), device)
    ext.weights_name, ext.weights_sha256 = NVIDIA_VGG16, W.sha256_of(path)
    return ext


@register_extractor(TORCHVISION_VGG16)
def build_vgg16_torchvision(weights: Union[str, os.PathLike, None] = None, device: Optional[torch.device] = None,
                            allow_hash_mismatch: bool = False) -> FeatureExtractor:
    """torchvision's ImageNet VGG16 state_dict, loaded with ``weights_only=True``."""
    import torchvision
    device = torch.device(device or "cpu")
    path = W.resolve(TORCHVISION_VGG16, weights, allow_hash_mismatch=allow_hash_mismatch)
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable PyTorch state_dict ({type(exc).__name__}); "
                         "the file may be truncated: download it again") from exc
    net = torchvision.models.vgg16(weights=None)
    try:
        net.load_state_dict(sd)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{path} is not a torchvision vgg16 state_dict: {str(exc).splitlines()[0]}") from exc
    ext = TorchvisionVGG16(net.eval()).to(device)
    ext.weights_name, ext.weights_sha256 = TORCHVISION_VGG16, W.sha256_of(path)
    return ext
