"""Perceptual distances for PPL: a small registry of name -> builder.

A distance is a callable ``(img0, img1) -> d`` taking two image batches [N, 3, H, W] with values in
[-1, 1] and returning one distance per pair, shape [N]. Builders take the device, the dtype and the
explicit weight paths and return a :class:`Distance`, which also records the sha256 of every weight
file it read (so a results file says exactly which network produced the number).

Registered here:

- ``lpips-vgg`` (the default): LPIPS v0.1 with a VGG16 trunk, from the ``lpips`` package. The trunk is
  torchvision's VGG16 (``vgg16-torchvision`` in the weights registry, loaded from our resolver so
  torchvision never downloads); the five linear layers are the ``lpips`` package's shipped
  ``weights/v0.1/vgg.pth``. Input is [-1, 1]; the package's ScalingLayer maps it to the trunk's
  normalisation. d = sum_l mean_hw( w_l . (f0_l/|f0_l| - f1_l/|f1_l|)^2 ).
- ``lpips-vgg-nvidia``: NVIDIA's TorchScript ``vgg16.pt`` (stylegan2-ada-pytorch), called as
  stylegan2-ada-pytorch calls it: input (x + 1) * 255 / 2, ``resize_images=False, return_lpips=True``,
  which returns per-image feature vectors whose squared difference summed over features is LPIPS.

How the default relates to the paper: the TF code feeds (x + 1) * 255 / 2 to
``vgg16_zhang_perceptual.pkl``, NVIDIA's conversion of the same LPIPS v0.1 VGG model (Zhang et al.'s
linear weights on a VGG16 trunk); ``vgg16.pt`` is the PyTorch translation of that pickle. The
``lpips`` package expects [-1, 1] and rescales internally, so the pixel range is handled on both
sides. What may differ (not verifiable offline here, see docs/ppl.md): NVIDIA's notice credits the
VGG16 trunk to Simonyan & Zisserman's release while the ``lpips`` package uses torchvision's VGG16
weights, and the two input normalisations are each network's own; feature normalisation
(x / (|x| + 1e-10)), the spatial mean and the sum over the five layers are the same.

Lookup of other names (another module may register e.g. ``testbed-lpips``): a name not registered
yet is looked up, in order, in the modules declared with :func:`declare_lazy`, in the entry point
group ``disentangle_metrics.distances``, and, for names of the form ``package.module:name``, by
importing ``package.module`` (which must register ``package.module:name`` or define ``name`` as a
builder).
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Mapping, Optional, Protocol

import torch

from .._core import weights as W

DEFAULT_DISTANCE = "lpips-vgg"
ENTRY_POINT_GROUP = "disentangle_metrics.distances"   # the plug-in group name published in 0.1, kept

DistanceFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Distance:
    """A built perceptual distance: ``fn(img0, img1) -> [N]`` on [-1, 1] images, plus provenance."""

    name: str
    fn: DistanceFn
    weights: dict[str, str] = field(default_factory=dict)   # weights name -> sha256 of the file read
    description: str = ""

    def __call__(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        return self.fn(img0, img1)


class DistanceBuilder(Protocol):
    def __call__(self, device: torch.device, dtype: torch.dtype, weight_paths: Mapping[str, str],
                 allow_hash_mismatch: bool) -> Distance: ...


@dataclass(frozen=True)
class DistanceSpec:
    """A registered distance: its name, builder and a one-line description."""

    name: str
    builder: DistanceBuilder
    description: str


DISTANCES: dict[str, DistanceSpec] = {}
_LAZY: dict[str, str] = {}          # distance name -> module that registers it on import


def register_distance(name: str, description: str = "") -> Callable[[DistanceBuilder], DistanceBuilder]:
    """Decorator registering a distance builder under ``name``."""
    def wrap(builder: DistanceBuilder) -> DistanceBuilder:
        if name in DISTANCES and DISTANCES[name].builder is not builder:
            raise ValueError(f"distance {name!r} is already registered")
        DISTANCES[name] = DistanceSpec(name, builder, description)
        return builder
    return wrap


def declare_lazy(name: str, module: str) -> None:
    """Declare that importing ``module`` registers the distance ``name`` (imported on first use)."""
    _LAZY[name] = module


def get_distance_spec(name: str) -> DistanceSpec:
    """The spec registered as ``name``, importing the module that provides it when needed."""
    if name in DISTANCES:
        return DISTANCES[name]
    if name in _LAZY:
        importlib.import_module(_LAZY[name])
    if name not in DISTANCES:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == name:
                builder = ep.load()
                if name not in DISTANCES:   # the module may register itself on import
                    register_distance(name)(builder)
    if name not in DISTANCES and ":" in name:
        mod_name, _, attr = name.partition(":")
        mod = importlib.import_module(mod_name)
        if name not in DISTANCES and callable(getattr(mod, attr, None)):
            register_distance(name)(getattr(mod, attr))
    if name not in DISTANCES:
        known = sorted(set(DISTANCES) | set(_LAZY))
        raise KeyError(f"unknown PPL distance {name!r}; known: {', '.join(known)}. Register one with "
                       "disentangle_metrics.metrics.distances.register_distance, or pass a callable (img0, img1) -> [N].")
    return DISTANCES[name]


def build_distance(name: str = DEFAULT_DISTANCE, *, device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32, weight_paths: Optional[Mapping[str, str]] = None,
                   allow_hash_mismatch: bool = False) -> Distance:
    """Build the registered distance ``name`` on ``device``.

    ``weight_paths`` maps registered weight names (e.g. ``vgg16-torchvision``) to explicit files;
    others are found by :func:`disentangle_metrics._core.weights.resolve`.
    """
    spec = get_distance_spec(name)
    dist = spec.builder(torch.device(device), dtype, dict(weight_paths or {}), allow_hash_mismatch)
    if dist.name != name:
        raise ValueError(f"distance builder for {name!r} returned a distance named {dist.name!r}")
    return dist


def list_distances() -> list[str]:
    """Names of the registered (and lazily declared) distances."""
    return sorted(set(DISTANCES) | set(_LAZY))


# --------------------------------------------------------------------------------------------
# LPIPS-VGG from the lpips package

# torchvision's vgg16.features indices -> the lpips package's slices (relu1_2, relu2_2, relu3_3,
# relu4_3, relu5_3): features[0:4] -> slice1, [4:9] -> slice2, [9:16] -> slice3, [16:23] -> slice4,
# [23:30] -> slice5; the lpips slices keep torchvision's module indices as names.
_LPIPS_SLICE_BOUNDS = (0, 4, 9, 16, 23, 30)


def _lpips_slice_of(index: int) -> int:
    for k in range(5):
        if _LPIPS_SLICE_BOUNDS[k] <= index < _LPIPS_SLICE_BOUNDS[k + 1]:
            return k + 1
    raise ValueError(f"torchvision vgg16 feature index {index} is not part of LPIPS's trunk (0..29)")


def lpips_trunk_state_dict(vgg16_state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a torchvision vgg16 state_dict (``features.N.weight``) to ``lpips.LPIPS.net`` keys."""
    out = {}
    for key, value in vgg16_state_dict.items():
        parts = key.split(".")
        if parts[0] != "features":
            continue                     # classifier.*: LPIPS uses the convolutional trunk only
        idx = int(parts[1])
        if idx >= _LPIPS_SLICE_BOUNDS[-1]:
            continue
        out[f"slice{_lpips_slice_of(idx)}.{idx}.{parts[2]}"] = value
    return out


def _lpips_lin_path() -> Path:
    import lpips
    return Path(lpips.__file__).resolve().parent / "weights" / "v0.1" / "vgg.pth"


class _LPIPSDistance(torch.nn.Module):
    """lpips.LPIPS's v0.1 forward with both images in one trunk call (one batch of 2N instead of two of N).

    d = sum_l mean_hw( lin_l( (f0_l / (|f0_l| + 1e-10) - f1_l / (|f1_l| + 1e-10))^2 ) ), as lpips computes it.
    """

    def __init__(self, net: torch.nn.Module) -> None:
        import lpips
        super().__init__()
        self.net = net
        self.normalize = lpips.normalize_tensor     # x / (|x|_channels + 1e-10)

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        n = img0.shape[0]
        feats = self.net.net(self.net.scaling_layer(torch.cat([img0, img1])))
        total = torch.zeros([n], device=img0.device, dtype=img0.dtype)
        for f, lin in zip(feats, self.net.lins):
            f = self.normalize(f)
            total = total + lin(f[:n].sub(f[n:]).square()).mean(dim=(1, 2, 3))
        return total


@register_distance("lpips-vgg", "LPIPS v0.1 VGG16 (lpips package; trunk = torchvision vgg16-397923af.pth)")
def build_lpips_vgg(device: torch.device, dtype: torch.dtype, weight_paths: Mapping[str, str],
                    allow_hash_mismatch: bool) -> Distance:
    """LPIPS-VGG of the ``lpips`` package with its trunk from the weights registry."""
    import lpips

    trunk_path = W.resolve("vgg16-torchvision", weight_paths.get("vgg16-torchvision"),
                           allow_hash_mismatch=allow_hash_mismatch)
    vgg_sd = torch.load(trunk_path, map_location="cpu", weights_only=True)
    missing = [f"features.{i}.{p}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
               for p in ("weight", "bias") if f"features.{i}.{p}" not in vgg_sd]
    if missing:
        raise ValueError(f"{trunk_path} is not a torchvision vgg16 state_dict: missing {', '.join(missing[:4])}"
                         f"{' ...' if len(missing) > 4 else ''}")
    # pnet_rand=True: build the trunk without torchvision's download; we load it just below. lpips
    # passes torchvision's legacy `pretrained=False`, whose deprecation warning is not for our users.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Arguments other than a weight enum", category=UserWarning)
        warnings.filterwarnings("ignore", message="The parameter 'pretrained' is deprecated", category=UserWarning)
        net = lpips.LPIPS(net="vgg", version="0.1", pnet_rand=True, verbose=False)
    net.net.load_state_dict(lpips_trunk_state_dict(vgg_sd), strict=True)
    lin_path = _lpips_lin_path()
    lin_sd = torch.load(lin_path, map_location="cpu", weights_only=True)
    # lpips loads its linear layers with strict=False; make sure they really arrived.
    for key, value in lin_sd.items():
        if not torch.equal(net.state_dict()[key], value):
            raise RuntimeError(f"lpips did not load its linear weights {key} from {lin_path}")
    net = net.eval().requires_grad_(False).to(device=device, dtype=dtype)
    return Distance(
        name="lpips-vgg", fn=_LPIPSDistance(net),
        weights={"vgg16-torchvision": W.sha256_of(trunk_path), "lpips-vgg-lin-v0.1": W.sha256_of(lin_path)},
        description="LPIPS v0.1 VGG16 (lpips package)")


# --------------------------------------------------------------------------------------------
# NVIDIA's TorchScript vgg16.pt


class _NvidiaLPIPS(torch.nn.Module):
    """stylegan2-ada-pytorch's call: features of [0, 255] images; LPIPS = sum of squared differences."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
        x = (torch.cat([img0, img1]) + 1) * (255 / 2)
        f0, f1 = self.net(x, resize_images=False, return_lpips=True).chunk(2)
        return (f0 - f1).square().sum(1)


@register_distance("lpips-vgg-nvidia", "LPIPS VGG16 as NVIDIA's TorchScript vgg16.pt (stylegan2-ada-pytorch)")
def build_lpips_vgg_nvidia(device: torch.device, dtype: torch.dtype, weight_paths: Mapping[str, str],
                           allow_hash_mismatch: bool) -> Distance:
    """NVIDIA's ``vgg16.pt`` TorchScript LPIPS, called with stylegan2-ada-pytorch's arguments."""
    path = W.resolve("vgg16-nvidia", weight_paths.get("vgg16-nvidia"), allow_hash_mismatch=allow_hash_mismatch)
    net = torch.jit.load(str(path), map_location=device).eval()
    net = net.to(dtype=dtype)
    return Distance(name="lpips-vgg-nvidia", fn=_NvidiaLPIPS(net), weights={"vgg16-nvidia": W.sha256_of(path)},
                    description="LPIPS VGG16 (NVIDIA TorchScript vgg16.pt)")


# Distances provided by other modules, imported on first use.
declare_lazy("testbed-lpips", "disentangle_metrics.metrics.testbed_lpips")
