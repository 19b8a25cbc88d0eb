"""``inception-v3-tf``: the paper's FID feature extractor.

features(u) = pool3(Inception(((resize_tf1(u, 299) - 128) / 128)))  in R^2048, with ``u`` uint8
NCHW of any size, ``resize_tf1`` TensorFlow 1.x bilinear (see :mod:`.tf_resize`) and the FID
variant of Inception-v3 (see :mod:`.inception_net`).

Two weight formats load:

- pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth`` (a state_dict with torchvision's key
  layout; torch-fidelity's file has the same keys), loaded with ``weights_only=True``;
- NVIDIA's TorchScript translation ``inception-2015-12-05.pt`` (stylegan2-ada-pytorch), called as
  ``module(u, return_features=True)``; it does its own resize and normalisation.

The format is detected from the file, not its name.
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
from .inception_net import FIDInceptionV3
from .tf_resize import resize_bilinear_tf1

PYTORCH_FID_WEIGHTS = "inception-2015-12-05-pytorch-fid"
NVIDIA_WEIGHTS = "inception-2015-12-05-nvidia"
INPUT_SIZE = 299
FEATURE_DIM = 2048


class InceptionV3TF(FeatureExtractor):
    """FID Inception-v3 in PyTorch: uint8 [N, 3, H, W] -> float32 [N, 2048]."""

    feature_dim = FEATURE_DIM
    input_description = "uint8 NCHW RGB, any size; resized to 299x299 with TF 1.x bilinear, then (x - 128) / 128"

    def __init__(self, net: FIDInceptionV3, channels_last: bool = False) -> None:
        super().__init__()
        self.net = net
        self.channels_last = channels_last
        if channels_last:
            self.net.to(memory_format=torch.channels_last)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """TF1 resize to 299, (x - 128) / 128, Inception pool3."""
        dev = next(self.net.parameters()).device
        x = images.to(dev, non_blocking=True).to(torch.float32)
        x = resize_bilinear_tf1(x, (INPUT_SIZE, INPUT_SIZE))
        x = (x - 128) / 128
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x).float()


class TorchScriptExtractor(FeatureExtractor):
    """A TorchScript feature network called as ``module(u, return_features=True)`` (NVIDIA's format)."""

    feature_dim = FEATURE_DIM
    input_description = "uint8 NCHW RGB, any size (the TorchScript module resizes and normalises)"

    def __init__(self, module: torch.jit.ScriptModule, device: torch.device) -> None:
        super().__init__()
        self.module = module
        self.device = device

    def features(self, images: torch.Tensor) -> torch.Tensor:
        out = self.module(images.to(self.device, non_blocking=True), return_features=True)
        if out.ndim != 2 or out.shape[1] != self.feature_dim:
            raise ValueError(f"TorchScript extractor returned shape {tuple(out.shape)}, expected [N, {self.feature_dim}]")
        return out.float()


def is_torchscript(path: Union[str, os.PathLike]) -> bool:
    """True when ``path`` is a torch.jit.save archive (it holds ``constants.pkl`` and ``code/``)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except zipfile.BadZipFile:
        return False
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


_IGNORED_KEYS = ("fc.weight", "fc.bias", "AuxLogits.")  # the classifier heads FID does not use


def load_inception_state_dict(net: FIDInceptionV3, path: Union[str, os.PathLike]) -> None:
    """Load a pytorch-fid/torch-fidelity state_dict into ``net``; errors name the file and the keys."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable PyTorch state_dict ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}); the file may be truncated: download it again") from exc
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: expected a state_dict (dict of tensors), got {type(sd).__name__}")
    sd = {k: v for k, v in sd.items() if not k.startswith(_IGNORED_KEYS) and not k.endswith("num_batches_tracked")}
    expected = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
    missing, unexpected = sorted(expected - set(sd)), sorted(set(sd) - expected)
    if missing or unexpected:
        raise ValueError(f"{path} is not an Inception-v3 FID state_dict: {len(missing)} missing keys "
                         f"{missing[:3]}, {len(unexpected)} unexpected keys {unexpected[:3]}")
    try:
        net.load_state_dict(sd, strict=False)
    except RuntimeError as exc:
        raise ValueError(f"{path}: tensor shapes do not match the FID Inception-v3: {exc}") from exc


def _resolve(weights: Union[str, os.PathLike, None], allow_hash_mismatch: bool) -> tuple[Path, str, str]:
    """(path, registered name, sha256) of the weights to load.

    Without an explicit file: pytorch-fid's file wherever the resolution order finds it, else
    NVIDIA's TorchScript file wherever found (``$DMETRICS_WEIGHTS_DIR``, the cache), else
    pytorch-fid's download or the missing-file error. ``allow_hash_mismatch`` holds on every path.
    """
    if weights is None:
        for name in (PYTORCH_FID_WEIGHTS, NVIDIA_WEIGHTS):
            found = next((p for p in W.candidate_paths(W.get_spec(name)) if p.is_file()), None)
            if found is not None:
                return _identify(found, allow_hash_mismatch)
        try:
            path = W.resolve(PYTORCH_FID_WEIGHTS, allow_hash_mismatch=allow_hash_mismatch)
        except W.MissingWeightsError as exc:
            nv = W.get_spec(NVIDIA_WEIGHTS)
            raise W.MissingWeightsError(f"{exc}\n  NVIDIA's TorchScript Inception ({nv.filename}, {nv.url}) is used "
                                        "instead when it is found in those folders.") from None
        return path, PYTORCH_FID_WEIGHTS, W.sha256_of(path)
    p = Path(weights)
    if not p.is_file():
        raise W.MissingWeightsError(f"Inception weights file {p} does not exist")
    return _identify(p, allow_hash_mismatch)


def _identify(p: Path, allow_hash_mismatch: bool) -> tuple[Path, str, str]:
    """The format from the file's content, not its name; then the hash check of that registered file."""
    name = NVIDIA_WEIGHTS if is_torchscript(p) else PYTORCH_FID_WEIGHTS
    return p, name, W.verify(W.get_spec(name), p, allow_hash_mismatch)


@register_extractor("inception-v3-tf")
def build_inception_v3_tf(weights: Union[str, os.PathLike, None] = None, device: Optional[torch.device] = None,
                          allow_hash_mismatch: bool = False, channels_last: Optional[bool] = None,
                          fuse_bn: bool = True) -> FeatureExtractor:
    """Build the FID Inception from pytorch-fid's state_dict or NVIDIA's TorchScript file.

    ``fuse_bn`` folds batch norms into the convolutions and merges each block's 1x1 heads;
    ``channels_last`` (default True) picks the NHWC convolution kernels, faster on CPU (about
    1.5x measured here) and CUDA. Both are exact rewrites in float32: features move by float
    round-off only (max 6e-5 absolute on features of magnitude ~1, vs pytorch-fid, measured with
    random calibrated weights; the unfused, non-channels_last network matches bit for bit).
    """
    device = torch.device(device or "cpu")
    path, name, digest = _resolve(weights, allow_hash_mismatch)
    if name == NVIDIA_WEIGHTS:
        ext: FeatureExtractor = TorchScriptExtractor(torch.jit.load(str(path), map_location=device).eval(), device)
    else:
        net = FIDInceptionV3()
        load_inception_state_dict(net, path)
        net.eval()
        if fuse_bn:
            net.fuse()
        ext = InceptionV3TF(net.to(device), channels_last=True if channels_last is None else channels_last)
    ext.weights_name, ext.weights_sha256 = name, digest
    return ext
