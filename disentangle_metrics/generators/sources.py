"""The one sampling source every metric draws its images from.

:class:`GeneratorSource` wraps a protocol generator (``as_generator`` adapts foreign ones) and
yields batches of images with the latents they came from; :class:`ImageSource` yields the images
of a folder / zip / ``.npy`` / ``.npz`` in order. Both split the work in the fixed global
minibatches of :func:`~.sampling.batch_ranges`, so a run is independent of the number of processes.

Generation (sample i of global minibatch b):

    z_i ~ N(0, I) from the seed of (seed, Z, i);   c_i from the label policy (seed, LABEL, i)
    ws  = mapping(z, c, truncation_psi, truncation_cutoff)
    img = synthesis(ws, noise)   with noise
          'random': the generator's own random noise, torch's RNG seeded by (seed, NOISE, b)
          'shared': reseed_noise(generator seeded by (seed, NOISE, b)) then noise_mode='const'
                    (every image of the minibatch sees one realisation: PPL's rule)
    uint8 = clamp(img * 127.5 + 128, 0, 255), truncated (the reference's quantisation)

The source works on a private copy of the generator (moved to the device, eval mode, no
gradients), so the caller's object is never changed; a generator that is not an ``nn.Module``
cannot be moved or copied and is used as given.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import torch

from .._core import sampling
from .conditioning import label_policy
from .._core.device import DeviceLike, resolve_device
from .protocol import (
    as_generator, generator_kind, has_mapping, precision_used, prepare_shared_noise, synthesis_kwargs,
)

NOISE_POLICIES = ("random", "shared")


@dataclass
class Batch:
    """One global minibatch of a source."""

    batch_index: int                    # global minibatch index
    index: range                        # global sample indices of this batch
    images: torch.Tensor                # uint8 [N, C, H, W] on the device (C = 1 or 3, as produced)
    z: Optional[torch.Tensor] = None    # [N, z_dim] (generator sources only)
    c: Optional[torch.Tensor] = None    # [N, c_dim] (generator sources only)
    ws: Optional[torch.Tensor] = None   # [N, num_ws, w_dim] (generator sources, keep_ws=True)
    float_images: Optional[torch.Tensor] = None   # synthesis output in [-1, 1] (generator sources, keep_float=True)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float images -> uint8 as the reference does: x * 127.5 + 128, clamp to [0, 255], truncate."""
    return (images * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def box_downsample(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Mean of ``factor x factor`` pixel blocks (the reference's reshape-and-mean); factor 1 is the identity."""
    if factor <= 1:
        return images
    n, c, h, w = images.shape
    if h % factor or w % factor:
        raise ValueError(f"cannot box-downsample a {h}x{w} image by {factor}: the size must be a multiple of the "
                         "factor (the reference's reshape requires it)")
    return images.reshape(n, c, h // factor, factor, w // factor, factor).mean(dim=(3, 5))


def truncation_tag(truncation_psi: float, truncation_cutoff: Optional[int] = None) -> Optional[str]:
    """The name tag of a truncated run (``psi0.7``, ``psi0.7-cutoff8``); None for psi = 1 (the paper's)."""
    if float(truncation_psi) == 1.0:
        return None
    tag = f"psi{float(truncation_psi):g}"
    return tag + (f"-cutoff{int(truncation_cutoff)}" if truncation_cutoff is not None else "")


def _private_copy(G: Any, device: torch.device, dtype: Optional[torch.dtype]) -> Any:
    if not isinstance(G, torch.nn.Module):
        return G
    G = copy.deepcopy(G)
    G = G.to(device=device) if dtype is None else G.to(device=device, dtype=dtype)
    return G.eval().requires_grad_(False)


class GeneratorSource:
    """Images, latents and labels of a generator, seeded per sample (module docstring).

    ``truncation_psi``/``truncation_cutoff``: truncation in W (psi 1 = none, the paper's metrics).
    ``class_label`` / ``labels``: the label policy of a conditional generator
    (:mod:`~disentangle_metrics.generators.conditioning`). ``force_fp32``: run a generator that has a
    reduced-precision path (stylegan2-ada / StyleGAN3) in float32; False runs it as its checkpoint
    says, as the authors' FID-type metrics do. ``dtype``: cast the private copy (float64 checks).
    """

    def __init__(self, G: Any, *, truncation_psi: float = 1.0, truncation_cutoff: Optional[int] = None,
                 class_label: Optional[int] = None, labels: Any = None, device: DeviceLike = "auto",
                 force_fp32: bool = False, dtype: Optional[torch.dtype] = None) -> None:
        self.device = resolve_device(device)
        G = as_generator(G)
        self.G = _private_copy(G, self.device, dtype)
        self.truncation_psi = float(truncation_psi)
        self.truncation_cutoff = None if truncation_cutoff is None else int(truncation_cutoff)
        if self.truncation_cutoff is not None and self.truncation_cutoff < 0:
            raise ValueError(f"truncation_cutoff must be >= 0 (layers below it are truncated), got {truncation_cutoff}")
        if self.truncation_psi != 1 and not has_mapping(self.G):
            raise ValueError(f"truncation_psi={truncation_psi}: this generator has no mapping network (no W to truncate "
                             "in); use truncation_psi=1")
        self.force_fp32 = bool(force_fp32)
        self.label_policy = label_policy(int(getattr(self.G, "c_dim", 0)), class_label=class_label, labels=labels)
        self.resolution = int(self.G.img_resolution)
        self.channels = int(self.G.img_channels)
        self.num_available: Optional[int] = None
        self.z_dim, self.w_dim, self.num_ws = int(self.G.z_dim), int(self.G.w_dim), int(self.G.num_ws)
        self.c_dim = int(getattr(self.G, "c_dim", 0))
        self.has_mapping = has_mapping(self.G)
        self.adapter = generator_kind(self.G)

    # -- primitives ---------------------------------------------------------------------------

    def latents(self, seed: int, indices: Any, stream: int = sampling.Stream.Z) -> torch.Tensor:
        """z [len(indices), z_dim] float32 on the device, row i from the seed of (seed, stream, indices[i])."""
        return sampling.randn(seed, indices, [self.z_dim], stream, device=self.device)

    def labels(self, seed: int, indices: Any) -> torch.Tensor:
        """c [len(indices), c_dim] on the device ([N, 0] when unconditional)."""
        return self.label_policy.draw(seed, indices, self.device)

    def mapping(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """ws [N, num_ws, w_dim] with this source's truncation."""
        if self.truncation_cutoff is None:
            return self.G.mapping(z, c, truncation_psi=self.truncation_psi)
        return self.G.mapping(z, c, truncation_psi=self.truncation_psi, truncation_cutoff=self.truncation_cutoff)

    def synthesis(self, ws: torch.Tensor, *, seed: int, batch_index: int, noise: str = "random") -> torch.Tensor:
        """Float images of ``ws`` with the noise of global minibatch ``batch_index`` (module docstring)."""
        kw = synthesis_kwargs(self.G, self.force_fp32)
        if noise == "shared":
            mode = prepare_shared_noise(self.G, sampling.batch_generator(seed, batch_index, sampling.Stream.NOISE,
                                                                         self.device))
            return self.G.synthesis(ws, noise_mode=mode, **kw)
        if noise != "random":
            raise ValueError(f"noise must be one of {NOISE_POLICIES}, got {noise!r}")
        with sampling.seeded(seed, batch_index, sampling.Stream.NOISE, self.device):
            return self.G.synthesis(ws, noise_mode="random", **kw)

    def synthesis_calls(self, ws: torch.Tensor, images_per_call: Optional[int], *, seed: int, batch_index: int,
                        noise: str = "shared") -> Iterator[torch.Tensor]:
        """:meth:`synthesis` of ``ws`` in row order, ``images_per_call`` rows per generator call (None: one
        call). Every call draws the noise of minibatch ``batch_index`` afresh from the same seed, so the
        split changes float32 rounding only."""
        step = ws.shape[0] if images_per_call is None else int(images_per_call)
        if step < 1:
            raise ValueError(f"images_per_call must be >= 1, got {images_per_call}")
        for s in range(0, ws.shape[0], step):
            yield self.synthesis(ws[s:s + step], seed=seed, batch_index=batch_index, noise=noise)

    # -- batches ------------------------------------------------------------------------------

    def batches(self, num: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1,
                noise: str = "random", keep_ws: bool = False, keep_float: bool = False) -> Iterator[Batch]:
        """This rank's global minibatches of ``num`` samples; raises after the last one if any pixel was NaN/inf."""
        finite = torch.ones((), dtype=torch.bool, device=self.device)
        for b, idx in sampling.batch_ranges(num, batch_size, rank, world_size):
            z = self.latents(seed, idx)
            c = self.labels(seed, idx)
            ws = self.mapping(z, c)
            img = self.synthesis(ws, seed=seed, batch_index=b, noise=noise)
            if img.ndim != 4 or img.shape[1] not in (1, 3) or img.shape[0] != len(idx):
                raise ValueError(f"synthesis returned shape {tuple(img.shape)} for {len(idx)} samples; image metrics "
                                 "need [N, 1 or 3, H, W] images")
            finite &= torch.isfinite(img).all()     # checked once at the end: no per-batch sync
            yield Batch(batch_index=b, index=idx, images=to_uint8(img), z=z, c=c, ws=ws if keep_ws else None,
                        float_images=img if keep_float else None)
        if not bool(finite):
            raise ValueError("the generator produced NaN or inf pixels; the metric would be meaningless")

    def describe(self) -> dict:
        """JSON-able description: kind, adapter, truncation, label policy, precision used, noise."""
        buffers = getattr(self.G, "noise_buffer_names", None)
        if callable(buffers) and not buffers():   # e.g. StyleGAN3: a reseed hook with nothing to redraw
            noise = "none (generator has no noise inputs)"
        elif callable(getattr(self.G, "reseed_noise", None)):
            noise = "per-minibatch reseed_noise"
        else:
            noise = "generator const noise"
        return {"kind": "generator", "adapter": self.adapter, "class": type(getattr(self.G, "module", self.G)).__name__,
                "truncation_psi": self.truncation_psi, "truncation_cutoff": self.truncation_cutoff,
                "labels": self.label_policy.describe(),
                "precision": precision_used(self.G, self.force_fp32, self.device),
                "force_fp32": self.force_fp32, "noise_hook": noise,
                **({"noise_buffers": len(buffers())} if callable(buffers) else {})}

    def name_tags(self) -> list[str]:
        """Tags a metric name must carry for this source: truncation other than psi = 1, and one fixed
        class of a conditional generator (``class3``): both change the numbers, so results must not
        share the paper's name."""
        tag = truncation_tag(self.truncation_psi, self.truncation_cutoff)
        tags = [tag] if tag else []
        if self.label_policy.mode == "class":
            tags.append(f"class{self.label_policy.class_label}")
        return tags

    def probe_copy(self) -> "GeneratorSource":
        """A source whose generator may be called freely without touching the caller's object.

        A module generator is already a private copy; any other generator is deep-copied.
        """
        if isinstance(self.G, torch.nn.Module):
            return self
        out = copy.copy(self)
        out.G = copy.deepcopy(self.G)
        return out


class ImageSource:
    """The images of a folder / zip / ``.npy`` / ``.npz`` (``disentangle_metrics.data.images``), in order.

    ``batches(num, ...)`` yields the first ``num`` images (global minibatches as for generators),
    uint8 RGB on the device, ``z`` and ``c`` None; the seed is not used (the order is the file order).
    ``resolution``: resize every image to R x R first (as ``dmetrics stats --resolution``: box
    filter for power-of-two downscales, else Lanczos; non-square images are stretched); None keeps
    them as they are, and then all must be square and of the first image's size. ``array_key``:
    the array of a ``.npz`` holding several.
    """

    def __init__(self, path: Union[str, os.PathLike, Any], *, device: DeviceLike = "auto", array_key: Optional[str] = None,
                 resolution: Optional[int] = None, num_threads: int = 4,
                 image_range: Optional[tuple[float, float]] = None, require_square: bool = True) -> None:
        from ..data.images import InMemorySource, open_source as open_images
        self.device = resolve_device(device)
        if resolution is not None and (isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1):
            raise ValueError(f"resolution must be a positive integer (or None to keep the images' size), got {resolution!r}")
        if isinstance(path, (str, os.PathLike)):
            if image_range is not None:
                raise ValueError("image_range applies to in-memory float images; files hold uint8 images")
            self.images = open_images(Path(path), array_key=array_key)
        else:
            self.images = InMemorySource(path, image_range=image_range)
        self.path = self.images.path
        self.array_key, self.resize_to = array_key, resolution
        self.num_available: Optional[int] = len(self.images)
        if resolution is None:
            first = self._read_first()
            if first.shape[0] != first.shape[1] and require_square:
                raise ValueError(f"{self.images.name(0)} is {first.shape[1]}x{first.shape[0]}; generated images must be "
                                 "square: crop them, or pass resolution= (command line: --resolution R) to stretch "
                                 "them to RxR")
            self.size = (int(first.shape[0]), int(first.shape[1]))
            # non-square sets (compare, each set as it is) have no single resolution
            self.resolution = self.size[0] if self.size[0] == self.size[1] else None
        else:
            self.resolution = int(resolution)
            self.size = (self.resolution, self.resolution)
        self.channels = 3
        self.num_threads = int(num_threads)

    def _read_first(self) -> Any:
        from ..data.images import BadImageError
        try:
            return self.images.read(0)
        except BadImageError as exc:
            raise _generated_bad(exc) from exc

    def batches(self, num: int, batch_size: int, *, seed: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[Batch]:
        """The first ``num`` images in this rank's global minibatches; sizes must all match the first image."""
        from ..data.images import BadImageError, ImageDataset, iterate_batches
        if num > self.num_available:
            raise ValueError(f"{num} images requested but {self.path} holds {self.num_available}; "
                             "generate more or ask for fewer samples (score: --num-samples, compare: --num)")
        ds = ImageDataset(self.images, num=num, resolution=self.resize_to)
        ranges = sampling.batch_ranges(num, batch_size, rank, world_size)
        try:
            for (b, idx), imgs in zip(ranges, iterate_batches(ds, batch_size, num_threads=self.num_threads, rank=rank,
                                                            world_size=world_size)):
                if tuple(imgs.shape[-2:]) != self.size:
                    raise ValueError(f"images near item {idx.start} of {self.path} are {imgs.shape[-1]}x{imgs.shape[-2]}, "
                                     f"the first is {self.size[1]}x{self.size[0]}: all must have one size, or pass "
                                     "resolution= (command line: --resolution R) to resize them all to RxR")
                yield Batch(batch_index=b, index=idx, images=imgs.to(self.device))
        except BadImageError as exc:
            raise _generated_bad(exc) from exc

    def describe(self) -> dict:
        """JSON-able description of the image source."""
        return {"kind": "images", "path": str(self.path), "num_available": self.num_available,
                "resolution": self.resolution, **({"size": list(self.size)} if self.resolution is None else {}),
                **({"resized_to": self.resize_to} if self.resize_to is not None else {}),
                **({"array_key": self.array_key} if self.array_key is not None else {})}

    def name_tags(self) -> list[str]:
        """Image sources add no tag to metric names."""
        return []


def _generated_bad(exc: Exception) -> Exception:
    """A bad generated image: never skipped (the result would carry fewer samples than its name says)."""
    from ..data.images import SKIP_BAD_HINT, BadImageError
    text = str(exc)
    if SKIP_BAD_HINT in text:
        text = text.replace(SKIP_BAD_HINT, "Delete, replace or regenerate the file (generated images are never "
                                           "skipped: the result would count fewer samples than its name says)")
    return BadImageError(f"generated images: {text}")


Source = Union[GeneratorSource, ImageSource]


def open_source(obj_or_path: Any, **options: Any) -> Source:
    """A source for a generator object (:class:`GeneratorSource`) or an image path (:class:`ImageSource`).

    A source given here is returned unchanged (``options`` must then be empty).
    """
    if isinstance(obj_or_path, (GeneratorSource, ImageSource)):
        if options:
            raise ValueError(f"open_source got an existing source and options {sorted(options)}; build a new source instead")
        return obj_or_path
    if isinstance(obj_or_path, (str, os.PathLike)) or is_image_array(obj_or_path):
        return ImageSource(obj_or_path, **options)
    return GeneratorSource(obj_or_path, **options)


def is_image_array(obj: Any) -> bool:
    """True for a tensor or numpy array (a set of images held in memory), never for a generator."""
    import numpy as np
    return isinstance(obj, (torch.Tensor, np.ndarray))


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1] by (x - 127.5) / 127.5 (for image sources fed to float consumers)."""
    return images.to(torch.float32) / 127.5 - 1


__all__ = ["Batch", "GeneratorSource", "ImageSource", "Source", "open_source", "to_uint8", "box_downsample",
           "truncation_tag", "as_float", "NOISE_POLICIES"]


# weight files that make a folder with a config.json a checkpoint: a checkpoint folder's model.pt,
# a training run folder's latest.pt and snapshot-*.pt
_CHECKPOINT_FILES = ("model.pt", "latest.pt", "snapshot-*.pt")


def is_image_path(obj: Any) -> bool:
    """True when ``obj`` names generated images: a zip, .npz or .npy, or a folder that is no checkpoint.

    A folder is a checkpoint (not images) when it holds ``config.json`` beside weights (``model.pt``,
    or a training run's ``latest.pt`` / ``snapshot-*.pt``), or ``config.json`` and no image at all; a
    folder of images with a stray ``config.json`` is a samples folder.
    """
    if not isinstance(obj, (str, os.PathLike)):
        return False
    p = Path(obj)
    if p.is_dir():
        if not (p / "config.json").is_file():
            return True
        if any(any(p.glob(pattern)) for pattern in _CHECKPOINT_FILES):
            return False
        return _holds_an_image(p)
    return p.is_file() and p.suffix.lower() in (".zip", ".npz", ".npy")


def _holds_an_image(folder: Path) -> bool:
    """True at the first image file found below ``folder`` (the extensions the folder reader takes)."""
    from ..data.images import is_set_image
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder).as_posix()
        if any(is_set_image(f if rel == "." else f"{rel}/{f}") for f in files):
            return True
    return False
