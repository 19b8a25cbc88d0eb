"""Registry and resolution of the pretrained files the metrics need.

Resolution order for a registered file (first hit wins):

1. an explicit ``path`` argument;
1b. for files shipped inside the package (``WeightSpec.bundled``), that copy;
2. ``$DMETRICS_WEIGHTS_DIR/<file name>``;
3. the cache directory, ``$XDG_CACHE_HOME/disentangle_metrics/weights`` (default
   ``~/.cache/disentangle_metrics/weights``);
4. for torchvision files, torch hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``);
5. a download into the cache directory when a network is reachable and ``DMETRICS_OFFLINE`` is not
   set (written to a temporary file, sha256-verified, then renamed);
6. otherwise :class:`MissingWeightsError`, whose message names the file, its URL and the exact
   path to put it at.

A file whose sha256 differs from the registered one is refused (:class:`WeightsHashError`) unless
the caller passes ``allow_hash_mismatch=True``. Nothing here ever substitutes random weights.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable, Optional


class WeightsFormat(Enum):
    STATE_DICT = "state_dict"      # torch.save of a state_dict, loaded with weights_only=True
    TORCHSCRIPT = "torchscript"    # torch.jit.save archive
    TF_PICKLE = "tf_pickle"        # NVIDIA's TensorFlow pickles (read by reference_models.convert)


@dataclass(frozen=True)
class WeightSpec:
    """One pretrained file: where it comes from and how to recognise it."""

    name: str
    filename: str
    url: str
    sha256: Optional[str]          # None: no published hash is known; the file is accepted and its hash reported
    format: WeightsFormat
    size: Optional[int] = None
    torch_hub: bool = False        # also search torch hub's checkpoint folder
    description: str = ""
    bundled: Optional[str] = None  # path relative to the disentangle_metrics package of a copy shipped inside it


class WeightsError(RuntimeError):
    """Base class of the errors below."""


class MissingWeightsError(WeightsError, FileNotFoundError):
    """A registered file is nowhere to be found and could not be downloaded."""


class UnverifiedWeightsWarning(UserWarning):
    """A weights file was used whose registry entry has no sha256 to check it against."""


class WeightsHashError(WeightsError):
    """A file's sha256 differs from the registered one."""


REGISTRY: dict[str, WeightSpec] = {}


def register(spec: WeightSpec) -> WeightSpec:
    """Add ``spec`` to the registry (names are unique)."""
    if spec.name in REGISTRY and REGISTRY[spec.name] != spec:
        raise ValueError(f"weights {spec.name!r} are already registered with a different spec")
    REGISTRY[spec.name] = spec
    return spec


register(WeightSpec(
    name="inception-2015-12-05-pytorch-fid",
    filename="pt_inception-2015-12-05-6726825d.pth",
    url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    size=95_628_359,
    format=WeightsFormat.STATE_DICT,
    description="FID Inception-v3 (TF graph of 2015-12-05) in pytorch-fid's state_dict format",
))
register(WeightSpec(
    name="inception-2015-12-05-nvidia",
    filename="inception-2015-12-05.pt",
    url="https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
    sha256=None,
    format=WeightsFormat.TORCHSCRIPT,
    description="FID Inception-v3 as NVIDIA's TorchScript translation (stylegan2-ada-pytorch)",
))
register(WeightSpec(
    name="vgg16-torchvision",
    filename="vgg16-397923af.pth",
    url="https://download.pytorch.org/models/vgg16-397923af.pth",
    sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
    size=553_433_881,
    format=WeightsFormat.STATE_DICT,
    torch_hub=True,
    description="torchvision VGG16 (ImageNet); the backbone of LPIPS-VGG",
))
register(WeightSpec(
    name="vgg16-nvidia",
    filename="vgg16.pt",
    url="https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/vgg16.pt",
    sha256=None,
    format=WeightsFormat.TORCHSCRIPT,
    description="LPIPS-VGG16 (vgg16_zhang_perceptual) as NVIDIA's TorchScript file; PPL's alternative and "
                "precision/recall's features (return_features=True). NVIDIA publishes no sha256; genforce's "
                "perceptual_model.py checks b437eb095feaeb0b83eb3fa11200ebca4548ee39a07fb944a417ddc516cc07c3 (unverified here)",
))
register(WeightSpec(
    name="dinov2-vitl14-pretrain",
    filename="dinov2_vitl14_pretrain.pth",
    url="https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth",
    sha256=None,
    size=1_217_586_395,
    format=WeightsFormat.STATE_DICT,
    torch_hub=True,
    description="DINOv2 ViT-L/14 backbone (facebookresearch/dinov2, LVD-142M), the FD_DINOv2 network of EDM2 and "
                "dgm-eval. No published sha256 found (the hub loads it unchecked; its name has no hash prefix): "
                "its size is checked instead",
))
register(WeightSpec(
    name="clip-vitl14-336",
    filename="ViT-L-14-336px.pt",
    # OpenAI's URL carries the file's sha256 as its path component (openai/CLIP clip.py checks it;
    # scenic's CLIP loader, which CMMD uses, passes url.split('/')[-2] as expected_sha256)
    url="https://openaipublic.azureedge.net/clip/models/3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",
    sha256="3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02",
    format=WeightsFormat.TORCHSCRIPT,
    description="OpenAI CLIP ViT-L/14@336px (TorchScript archive, whole CLIP; the image tower is read); "
                "CMMD's embedding network",
))
register(WeightSpec(
    name="testbed-classifier",
    filename="testbed_classifier.pt",
    url="",
    sha256="d53e3c9faf79ddd343cd17016259af5fac8ef84a5caf87b104b7c10a2a1d6672",
    format=WeightsFormat.TORCHSCRIPT,
    bundled="assets/testbed_classifier.pt",
    description="attribute classifier of the procedural test bed (TorchScript, 32x32; "
                "scripts/train_testbed_classifier.py); the testbed FID extractor, testbed-lpips and ls with --classifier testbed",
))


def cache_dir() -> Path:
    """The cache root: ``$XDG_CACHE_HOME/disentangle_metrics`` (default ``~/.cache/disentangle_metrics``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "disentangle_metrics"


def weights_cache_dir() -> Path:
    """Where downloaded or added weight files live."""
    return cache_dir() / "weights"


def torch_hub_checkpoint_dir() -> Path:
    """torch hub's checkpoint folder (``$TORCH_HOME/hub/checkpoints``)."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "torch")
    return Path(torch_home) / "hub" / "checkpoints"


def sha256_of(path: os.PathLike | str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def get_spec(name: str) -> WeightSpec:
    """The registered spec called ``name``, or a KeyError that lists the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no weights registered as {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def bundled_path(spec: WeightSpec) -> Optional[Path]:
    """Where the package's own copy of ``spec`` lives (None when it ships none)."""
    return Path(__file__).resolve().parent.parent / spec.bundled if spec.bundled else None


def candidate_paths(spec: WeightSpec) -> list[Path]:
    """Search locations 1b-4 of the resolution order, in order."""
    out = [bundled_path(spec)] if spec.bundled else []
    env_dir = os.environ.get("DMETRICS_WEIGHTS_DIR")
    if env_dir:
        out.append(Path(env_dir) / spec.filename)
    out.append(weights_cache_dir() / spec.filename)
    if spec.torch_hub:
        out.append(torch_hub_checkpoint_dir() / spec.filename)
    return out


def verify(spec: WeightSpec, path: Path, allow_hash_mismatch: bool = False) -> str:
    """Check ``path`` against ``spec.sha256`` (or, without one, ``spec.size``); return the file's hash.

    Raises WeightsHashError.
    """
    size = os.path.getsize(path)
    if spec.sha256 is None and spec.size is not None and size != spec.size and not allow_hash_mismatch:
        # without a published hash the published size is the one check left: a truncated download fails it
        raise WeightsHashError(
            f"{path} is not the registered weights {spec.name!r}: {size} bytes != expected {spec.size} "
            f"(no sha256 is published for it). Delete it and fetch {spec.url} again, or pass allow_hash_mismatch=True "
            "(CLI: --allow-hash-mismatch) to use it anyway.")
    digest = sha256_of(path)
    if spec.sha256 is None:
        # NVIDIA publishes no hash for its TorchScript files: say so every time, so a swapped file cannot pass unseen
        warnings.warn(f"{spec.name}: no sha256 is registered for {spec.filename}, so {path} is used unverified "
                      f"(its sha256 {digest} is recorded in the results; compare it with a trusted copy)",
                      UnverifiedWeightsWarning, stacklevel=2)
    if spec.sha256 is not None and digest != spec.sha256 and not allow_hash_mismatch:
        raise WeightsHashError(
            f"{path} does not match the registered weights {spec.name!r}: sha256 {digest} != expected "
            f"{spec.sha256}. The file is corrupt, truncated or a different model; delete it and fetch "
            f"{spec.url} again, or pass allow_hash_mismatch=True (CLI: --allow-hash-mismatch) to use it anyway.")
    return digest


Downloader = Callable[[str, Path], None]


def _urllib_download(url: str, dest: Path) -> None:
    with urllib.request.urlopen(url, timeout=30) as resp, open(dest, "wb") as f:
        shutil.copyfileobj(resp, f)


def download(spec: WeightSpec, dest_dir: Optional[Path] = None, downloader: Downloader = _urllib_download) -> Path:
    """Download ``spec`` into ``dest_dir`` atomically: temp file, sha256 check, rename."""
    dest_dir = Path(dest_dir or weights_cache_dir())
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=dest_dir)
    os.close(fd)
    try:
        downloader(spec.url, Path(tmp))
        verify(spec, Path(tmp))
        final = dest_dir / spec.filename
        os.replace(tmp, final)
        return final
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def resolve(name: str, path: Optional[os.PathLike | str] = None, *, allow_hash_mismatch: bool = False,
            allow_download: Optional[bool] = None, downloader: Downloader = _urllib_download) -> Path:
    """Find the file of registered weights ``name`` following the module's resolution order.

    ``allow_download`` defaults to True unless ``DMETRICS_OFFLINE`` is set. Returns a verified path.
    """
    spec = get_spec(name)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise MissingWeightsError(f"weights file {p} (given for {spec.name!r}) does not exist")
        verify(spec, p, allow_hash_mismatch)
        return p
    for p in candidate_paths(spec):
        if p.is_file():
            verify(spec, p, allow_hash_mismatch)
            return p
    if allow_download is None:
        allow_download = not os.environ.get("DMETRICS_OFFLINE")
    reason = "downloads are disabled (DMETRICS_OFFLINE is set)"
    if allow_download and not spec.url:
        allow_download = False
        reason = "it has no download URL (it ships inside the package: reinstall disentangle-metrics)"
    if allow_download:
        try:
            return download(spec, downloader=downloader)
        except WeightsHashError:
            raise
        except OSError as exc:  # no network, HTTP error, disk full: all end in the same advice
            reason = f"the download failed ({type(exc).__name__}: {exc})"
    target = weights_cache_dir() / spec.filename
    searched = "\n".join(f"    {p}" for p in candidate_paths(spec))
    raise MissingWeightsError(
        f"missing weights {spec.name!r} ({spec.description}): file {spec.filename} not found and {reason}.\n"
        + (f"  Download it from {spec.url}\n  and put it at {target}\n" if spec.url else
           f"  Restore it at {bundled_path(spec)} or put a copy at {target}\n")
        + f"  (or in $DMETRICS_WEIGHTS_DIR, or run `dmetrics weights add PATH`). Searched:\n{searched}")


def add(path: os.PathLike | str, name: Optional[str] = None, *, allow_hash_mismatch: bool = False) -> Path:
    """Copy a weights file into the cache under its registered name; identify it by name or hash."""
    src = Path(path)
    if not src.is_file():
        raise MissingWeightsError(f"{src} does not exist")
    if name is None:
        digest = sha256_of(src)
        matches = [s for s in REGISTRY.values() if s.sha256 == digest] or \
                  [s for s in REGISTRY.values() if s.filename == src.name]
        if not matches:
            raise WeightsError(f"{src} matches no registered weights by hash or file name; pass --name "
                               f"(one of {', '.join(sorted(REGISTRY))})")
        spec = matches[0]
    else:
        spec = get_spec(name)
    verify(spec, src, allow_hash_mismatch)
    dest = weights_cache_dir() / spec.filename
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return dest


@dataclass
class WeightStatus:
    """Where a registered file was found (or not) and whether it verifies."""

    spec: WeightSpec
    path: Optional[Path]
    sha256: Optional[str]
    ok: bool
    message: str


def status(name: str, check_hash: bool = False) -> WeightStatus:
    """Locate registered weights without downloading; optionally check the hash."""
    spec = get_spec(name)
    for p in candidate_paths(spec):
        if p.is_file():
            if not check_hash:
                return WeightStatus(spec, p, None, True, "found (hash not checked)")
            digest = sha256_of(p)
            if spec.sha256 is None:
                return WeightStatus(spec, p, digest, True, "found; no published hash to compare")
            ok = digest == spec.sha256
            return WeightStatus(spec, p, digest, ok, "hash ok" if ok else f"HASH MISMATCH (expected {spec.sha256})")
    return WeightStatus(spec, None, None, False, f"missing: put {spec.filename} at {weights_cache_dir() / spec.filename}")
