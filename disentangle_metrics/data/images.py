"""Real-image datasets: a folder, a zip of images, or a uint8 ``.npy``/``.npz`` array.

Sources (:func:`open_source`; README "Image inputs" says the same for users):

- folder: every file below it (recursive, symbolic links followed, each folder once) whose
  extension, in any case, is one of :data:`IMAGE_EXTENSIONS`, in sorted order of the relative
  POSIX path. Hidden entries (a path component starting with ``.``, which covers macOS ``._*``
  files and ``.ipynb_checkpoints``, and ``__MACOSX``) are skipped, with a warning counting them;
  files of other image types Pillow knows (``.ico``, ``.tga`` ...) are ignored with a warning;
- zip: the same, for the members of a ``.zip`` archive;
- array: a uint8 ``.npy`` or ``.npz`` array of shape [N, H, W, C] (NHWC) or [N, C, H, W] (NCHW)
  with C in {1, 3, 4}; ``layout='auto'`` tells them apart by where the small channel axis is (3
  wins over 1 or 4 when both axes qualify) and refuses ambiguous shapes. An ``.npz`` holds one
  array, or pass ``array_key``. Other dtypes and 3-D arrays are refused with the conversion to make.

Decoding: every image comes out 8-bit RGB. Grayscale is repeated to three channels; 16-bit
grayscale (``I;16``, or ``I`` holding 0..65535) keeps its high byte (``v >> 8``), as Pillow does
for 16-bit RGB PNGs; palette images are expanded; alpha is dropped, not composited (Pillow's
``convert('RGB')``, what pytorch-fid, torch-fidelity and clean-fid do); 1-bit images become 0/255;
EXIF orientation and ICC profiles are not applied (neither do the peers); a file with several
frames (animated GIF, APNG, multi-page TIFF) and float images are refused.

A set whose first batch holds no value above 1 is refused (:func:`check_not_unit_range`): that
is [0, 1] data cast to uint8 without scaling, which would otherwise score as a black image set.

Resizing to ``resolution`` (square R x R):

- an integer power-of-two downscale of a square image uses a box filter (the mean of each
  k x k block, rounded to nearest), which is what the reference's dataset tool does when it
  builds the lower resolutions (repeated 2x2 means in float, then ``rint``);
- anything else uses PIL's Lanczos filter on the uint8 image (non-square images are stretched).

:class:`ImageDataset` adds deterministic subsets (the first ``num`` in sorted order, or a seeded
random ``num``, kept in sorted order), optional random horizontal flips (each image flipped or
not by a hash of ``(seed, index)``, so the result does not depend on batching) and bad-file
handling: an unreadable file raises :class:`BadImageError` naming it, or, with ``skip_bad=True``,
is skipped and counted. :func:`iterate_batches` reads with threads in the calling process, so an
error surfaces as that exception, never deep inside a DataLoader worker.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence, Union

import numpy as np
import torch
from PIL import Image

from .._core.sampling import Stream, batch_ranges, sample_seeds

# pytorch-fid's list (clean-fid's without .npy) plus .gif; matched in any case
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif")
PathLike = Union[str, os.PathLike]
SKIP_BAD_HINT = ("Delete or replace the file, or skip unreadable files: skip_bad=True, on the command line "
                 "`dmetrics stats DATASET --skip-bad --out STATS.npz` (then pass STATS.npz as --reference)")


class BadImageError(ValueError):
    """An image file that cannot be decoded, or an array entry of the wrong kind."""


def _is_hidden(rel: str) -> bool:
    """A relative path with a hidden component (``.x``, macOS ``._x``) or inside ``__MACOSX``."""
    return any((part.startswith(".") and part not in (".", "..")) or part == "__MACOSX" for part in rel.split("/"))


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def is_set_image(rel: str) -> bool:
    """True when the relative path ``rel`` is an image a folder or zip contributes: an image extension,
    no hidden component (the rule :class:`FolderSource` and :class:`ZipSource` list by)."""
    return _is_image_name(rel) and not _is_hidden(rel)


def _other_image_type(name: str) -> Optional[str]:
    """The lower-case extension of a file Pillow knows as an image type this module does not read."""
    ext = os.path.splitext(name)[1].lower()
    return ext if ext and ext not in IMAGE_EXTENSIONS and ext in Image.registered_extensions() else None


def _note_listing(where: str, hidden: list[str], others: dict[str, int]) -> None:
    if hidden:
        shown = ", ".join(hidden[:3]) + (", ..." if len(hidden) > 3 else "")
        warnings.warn(f"{where}: skipped {len(hidden)} hidden entr{'y' if len(hidden) == 1 else 'ies'} ({shown}); "
                      "names starting with '.' and __MACOSX are never images of the set", UserWarning, stacklevel=4)
    if others:
        kinds = ", ".join(f"{n} {e}" for e, n in sorted(others.items()))
        warnings.warn(f"{where}: ignored {sum(others.values())} files of image types not read here ({kinds}); "
                      f"convert them to PNG to include them (read: {' '.join(IMAGE_EXTENSIONS)})", UserWarning,
                      stacklevel=4)


def _no_images(where: str, hidden: list[str], others: dict[str, int]) -> str:
    extra = (f"; {len(hidden)} hidden entries were skipped" if hidden else "") + \
            (f"; {sum(others.values())} files of other image types were ignored" if others else "")
    return f"no images ({' '.join(IMAGE_EXTENSIONS)}, any case) found in {where}{extra}"


def _to_rgb(img: Image.Image, name: str) -> np.ndarray:
    if getattr(img, "n_frames", 1) > 1:
        raise BadImageError(f"{name} holds {img.n_frames} frames (animated or multi-page); save one image per file")
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(img)
        if a.min() < 0 or a.max() > 65535:
            raise BadImageError(f"{name}: 32-bit integer image with values in [{a.min()}, {a.max()}]; save it as an "
                                "8- or 16-bit PNG")
        # the high byte, as Pillow reduces 16-bit RGB PNGs (convert('RGB') would clip to 255: all white)
        g = (a.astype(np.uint32) >> 8).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if img.mode == "F":
        raise BadImageError(f"{name}: floating-point image (mode F) has no stated range; save it as an 8-bit PNG")
    if img.mode in ("P", "PA", "LA"):
        img = img.convert("RGBA")
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def _decode(data: bytes, name: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return _to_rgb(img, name)
    except BadImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImageError(f"cannot read image {name}: {type(exc).__name__}: {exc}. {SKIP_BAD_HINT}") from exc


def check_not_unit_range(images: torch.Tensor, where: str) -> None:
    """Refuse a uint8 batch with no value above 1: [0, 1] data cast to uint8 without scaling by 255."""
    if images.numel() and int(images.max()) <= 1:
        raise BadImageError(f"{where}: the first {images.shape[0]} images hold only 0 and 1, which is [0, 1] data "
                            "cast to uint8 without scaling; save (x * 255).round().astype(np.uint8) instead")


class ImageSource:
    """Random access to the images of a dataset as uint8 RGB arrays [H, W, 3]."""

    path: Path

    def __len__(self) -> int:
        raise NotImplementedError

    def name(self, i: int) -> str:
        """A human-readable name of item ``i`` (file path or array index)."""
        raise NotImplementedError

    def read(self, i: int) -> np.ndarray:
        raise NotImplementedError

    def listing(self) -> list:
        """What identifies the content, for cache keys: names with sizes and modification times or CRCs."""
        raise NotImplementedError


class FolderSource(ImageSource):
    """Image files below a folder, recursively (links followed), sorted by relative path; hidden entries skipped."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        found, hidden, others = [], [], {}
        seen = set()   # real paths of the folders walked: a link cycle is walked once
        for root, dirs, files in os.walk(self.path, followlinks=True):
            real = os.path.realpath(root)
            if real in seen:
                dirs[:] = []
                continue
            seen.add(real)
            rel_root = Path(root).relative_to(self.path).as_posix()
            for d in sorted(dirs):
                if _is_hidden(d):
                    hidden.append(d if rel_root == "." else f"{rel_root}/{d}")
            dirs[:] = sorted(d for d in dirs if not _is_hidden(d))
            for f in files:
                rel = f if rel_root == "." else f"{rel_root}/{f}"
                if _is_hidden(f):
                    hidden.append(rel)
                elif _is_image_name(f):
                    found.append(rel)
                elif (ext := _other_image_type(f)) is not None:
                    others[ext] = others.get(ext, 0) + 1
        self.files = sorted(found)
        self.hidden = sorted(hidden)
        if not self.files:
            raise FileNotFoundError(_no_images(f"folder {self.path}", self.hidden, others))
        _note_listing(str(self.path), self.hidden, others)

    def __len__(self) -> int:
        return len(self.files)

    def name(self, i: int) -> str:
        return str(self.path / self.files[i])

    def read(self, i: int) -> np.ndarray:
        try:
            data = (self.path / self.files[i]).read_bytes()
        except OSError as exc:   # a broken symbolic link, a file removed or unreadable since the listing
            raise BadImageError(f"cannot read image {self.name(i)}: {exc.strerror or exc}. {SKIP_BAD_HINT}") from exc
        return _decode(data, self.name(i))

    def listing(self) -> list:
        out = []
        for f in self.files:
            p = self.path / f
            st = p.stat() if p.exists() else p.lstat()   # a broken link is keyed by the link (reading it fails)
            out.append((f, st.st_size, st.st_mtime_ns))
        return out


class ZipSource(ImageSource):
    """Image members of a zip archive, sorted by name; one open handle per thread and process."""

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        try:
            with zipfile.ZipFile(self.path) as zf:
                members = [zi for zi in zf.infolist() if not zi.is_dir()]
        except zipfile.BadZipFile as exc:
            raise BadImageError(f"{self.path} is not a readable zip archive ({exc})") from exc
        infos, hidden, others = [], set(), {}
        for zi in members:
            if _is_hidden(zi.filename):
                parts = zi.filename.split("/")   # name the top hidden entry once, as for a folder
                k = next(i for i, part in enumerate(parts) if _is_hidden(part))
                hidden.add("/".join(parts[:k + 1]))
            elif _is_image_name(zi.filename):
                infos.append(zi)
            elif (ext := _other_image_type(zi.filename)) is not None:
                others[ext] = others.get(ext, 0) + 1
        self.infos = sorted(infos, key=lambda zi: zi.filename)
        self.hidden = sorted(hidden)
        if not self.infos:
            raise FileNotFoundError(_no_images(f"zip archive {self.path}", self.hidden, others))
        _note_listing(str(self.path), self.hidden, others)
        self._local = threading.local()

    def __getstate__(self) -> dict:
        d = dict(self.__dict__)
        d.pop("_local")
        return d

    def __setstate__(self, d: dict) -> None:
        self.__dict__.update(d)
        self._local = threading.local()

    def _zip(self) -> zipfile.ZipFile:
        zf = getattr(self._local, "zf", None)
        if zf is None or getattr(self._local, "pid", None) != os.getpid():
            zf = self._local.zf = zipfile.ZipFile(self.path)
            self._local.pid = os.getpid()
        return zf

    def __len__(self) -> int:
        return len(self.infos)

    def name(self, i: int) -> str:
        return f"{self.path}:{self.infos[i].filename}"

    def read(self, i: int) -> np.ndarray:
        try:
            data = self._zip().read(self.infos[i])
        except (zipfile.BadZipFile, OSError) as exc:  # CRC mismatch, truncated member
            raise BadImageError(f"cannot read {self.name(i)} from the archive: {exc}") from exc
        return _decode(data, self.name(i))

    def listing(self) -> list:
        return [(zi.filename, zi.file_size, zi.CRC) for zi in self.infos]


class ArraySource(ImageSource):
    """A uint8 array [N, H, W, C] or [N, C, H, W] (C in 1, 3, 4) from ``.npy`` (memory-mapped) or ``.npz``."""

    def __init__(self, path: PathLike, array_key: Optional[str] = None, layout: str = "auto") -> None:
        self.path = Path(path)
        try:
            if self.path.suffix.lower() == ".npz":
                if not zipfile.is_zipfile(self.path):   # else numpy answers with a hint about allow_pickle
                    raise BadImageError(f"{self.path} is not a .npz archive (not a zip file); save images with "
                                        "np.savez(path, images=uint8_array) or use a .npy file")
                with np.load(self.path, allow_pickle=False) as f:
                    keys = list(f.files)
                    if array_key is None and len(keys) != 1:
                        raise ValueError(f"{self.path} holds arrays {keys}; name one with array_key= (command line: "
                                         "--array-key KEY, which stats takes, and score and compare for the generated "
                                         "images; a reference: `dmetrics stats REF --array-key KEY --out STATS.npz`)")
                    key = keys[0] if array_key is None else array_key
                    if key not in keys:
                        raise ValueError(f"{self.path} has no array {key!r}; it holds {keys}")
                    arr = f[key]
            else:
                arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise BadImageError(f"{self.path} is not a readable .npy/.npz array ({type(exc).__name__}: {exc})") from exc
        except ValueError as exc:
            raise BadImageError(f"{self.path}: {exc}") from exc
        if not isinstance(arr, np.ndarray):
            raise BadImageError(f"{self.path} is not a single array (a .npz archive named .npy?); rename it to .npz")
        if arr.dtype != np.uint8:
            raise BadImageError(f"{self.path}: images must be uint8 in [0, 255], got dtype {arr.dtype}; "
                                f"{_conversion_hint(arr)}")
        if arr.ndim == 3:
            raise BadImageError(f"{self.path}: a 3-D array {tuple(arr.shape)} is not an image set [N, H, W, C]; for "
                                "grayscale images [N, H, W] save x[..., None], for one image [H, W, C] save x[None]")
        if arr.ndim >= 1 and arr.shape[0] == 0:
            raise BadImageError(f"{self.path} holds no images (shape {tuple(arr.shape)})")
        self.layout = _array_layout(arr.shape, layout, self.path)
        self.array = arr

    def __len__(self) -> int:
        return int(self.array.shape[0])

    def name(self, i: int) -> str:
        return f"{self.path}[{i}]"

    def read(self, i: int) -> np.ndarray:
        img = np.asarray(self.array[i])
        if self.layout == "NCHW":
            img = img.transpose(1, 2, 0)
        c = img.shape[2]
        return np.repeat(img, 3, axis=2) if c == 1 else np.ascontiguousarray(img[:, :, :3])

    def listing(self) -> list:
        st = self.path.stat()
        return [(self.path.name, st.st_size, st.st_mtime_ns, list(self.array.shape), self.layout)]


def quantize_float_images(images: torch.Tensor, image_range: tuple[float, float]) -> torch.Tensor:
    """Float images spanning ``image_range = (lo, hi)`` -> uint8, as generator output is quantised:
    ``uint8(clamp((x - lo) * 255 / (hi - lo) + 0.5, 0, 255))`` in float32 on the images' device
    (for [-1, 1]: x * 127.5 + 128). The one quantisation of in-memory images (sets and the accumulator)."""
    lo, hi = (float(v) for v in image_range)
    if not hi > lo:
        raise BadImageError(f"image_range {image_range!r}: high must exceed low")
    x = images.to(torch.float32)
    return ((x - lo) * (255.0 / (hi - lo)) + 0.5).clamp(0, 255).to(torch.uint8)


class InMemorySource(ArraySource):
    """Images held by the caller: a uint8 tensor or array [N, C, H, W] (or [N, H, W, C]), or a float one
    with its value range ``image_range=(low, high)``, quantised as generator output is:
    ``uint8(clamp((x - low) / (high - low) * 255 + 0.5, 0, 255))`` (for [-1, 1]: x * 127.5 + 128)."""

    def __init__(self, images: Any, image_range: Optional[tuple[float, float]] = None, layout: str = "auto") -> None:
        arr = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
        self.path = Path(f"<{type(images).__name__} {tuple(arr.shape)} {arr.dtype}>")
        if arr.dtype != np.uint8:
            if not np.issubdtype(arr.dtype, np.floating):
                raise BadImageError(f"images: dtype {arr.dtype}; pass uint8 in [0, 255] or floats with image_range=")
            if image_range is None:
                raise BadImageError(f"images: float {tuple(arr.shape)} without image_range; say what they span, e.g. "
                                    "image_range=(-1, 1) for generator output or (0, 1), or pass uint8 in [0, 255]")
            lo, hi = (float(v) for v in image_range)
            if not hi > lo:
                raise BadImageError(f"image_range {image_range!r}: high must exceed low")
            if not np.isfinite(arr).all():
                raise BadImageError(f"images: {int((~np.isfinite(arr)).sum())} values are NaN or infinite")
            arr = quantize_float_images(torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)),
                                        (lo, hi)).numpy()
        elif image_range is not None and tuple(float(v) for v in image_range) != (0.0, 255.0):
            raise BadImageError(f"images are uint8 but image_range={image_range!r}; uint8 images span (0, 255)")
        if arr.ndim != 4 or arr.shape[0] == 0:
            raise BadImageError(f"images: shape {tuple(arr.shape)} is not a non-empty set [N, C, H, W]")
        self.layout = _array_layout(arr.shape, layout, self.path)
        self.array = arr

    def listing(self) -> list:
        # content-addressed: an in-memory set has no file to stat
        import hashlib
        return [(self.path.name, hashlib.sha256(np.ascontiguousarray(self.array).tobytes()).hexdigest(), self.layout)]


def _conversion_hint(arr: np.ndarray) -> str:
    """The conversion to uint8 [0, 255] for an array of another dtype, from the range of its first images."""
    head = np.asarray(arr[:64] if arr.ndim else arr)
    if head.dtype == np.bool_:
        return "save x.astype(np.uint8) * 255"
    if not np.issubdtype(head.dtype, np.number) or np.issubdtype(head.dtype, np.complexfloating):
        return "save real-valued images as uint8"
    if np.issubdtype(head.dtype, np.floating) and not np.isfinite(head).all():
        return "the array holds NaN or inf values: fix the images that produced them, then convert to uint8"
    lo, hi = (float(head.min()), float(head.max())) if head.size else (0.0, 0.0)
    floating = np.issubdtype(head.dtype, np.floating)
    if floating and lo >= -1 and hi <= 1 and lo < 0:
        return "for [-1, 1] data save (x * 127.5 + 128).clip(0, 255).astype(np.uint8), the reference's quantisation"
    if floating and lo >= 0 and hi <= 1:
        return "for [0, 1] data save (x * 255).round().astype(np.uint8)"
    if lo >= 0 and hi <= 255:
        return f"its values lie in [{lo:g}, {hi:g}]: save np.rint(x).astype(np.uint8) if that is [0, 255] data"
    if head.dtype == np.uint16 or (lo >= 0 and hi <= 65535 and not floating):
        return "for 16-bit [0, 65535] data save (x >> 8).astype(np.uint8)"
    return (f"its values lie in [{lo:g}, {hi:g}]: rescale to [0, 255] and save as uint8 "
            "([-1, 1] data: (x * 127.5 + 128).clip(0, 255).astype(np.uint8))")


def _array_layout(shape: Sequence[int], layout: str, path: Path) -> str:
    if len(shape) != 4:
        raise BadImageError(f"{path}: expected a 4-D image array [N, H, W, C] or [N, C, H, W], got shape {tuple(shape)}")
    if layout in ("NHWC", "NCHW"):
        c = shape[3] if layout == "NHWC" else shape[1]
        if c not in (1, 3, 4):
            raise BadImageError(f"{path}: layout {layout} gives {c} channels; expected 1, 3 or 4")
        return layout
    if layout != "auto":
        raise ValueError(f"layout must be 'auto', 'NHWC' or 'NCHW', got {layout!r}")
    nhwc, nchw = shape[3] in (1, 3, 4), shape[1] in (1, 3, 4)
    if nhwc and nchw and (shape[3] == 3) != (shape[1] == 3):  # e.g. [N, 4, 4, 3]: RGB wins over RGBA
        nhwc, nchw = shape[3] == 3, shape[1] == 3
    if nhwc == nchw:
        raise BadImageError(f"{path}: cannot tell NHWC from NCHW for shape {tuple(shape)}; pass layout='NHWC' or "
                            "'NCHW' (command line: `dmetrics stats --layout`, then use the statistics file)")
    return "NHWC" if nhwc else "NCHW"


def interrupted_testbed_export(path: PathLike) -> bool:
    """True for a `dmetrics testbed export` folder without its label file, which the export writes last."""
    p = Path(path)
    return p.is_dir() and (p / "testbed_config.json").is_file() and not (p / "list_attr_celeba.txt").is_file()


INTERRUPTED_EXPORT = ("{path} looks like an interrupted `dmetrics testbed export` (testbed_config.json without "
                      "list_attr_celeba.txt, which the export writes last): images may be missing; rerun the "
                      "export with --overwrite")


def open_source(path: PathLike, array_key: Optional[str] = None, layout: str = "auto") -> ImageSource:
    """The :class:`ImageSource` for a folder, a ``.zip`` or a ``.npy``/``.npz`` file."""
    p = Path(path)
    if p.is_dir():
        return FolderSource(p)
    if not p.exists():
        raise FileNotFoundError(f"dataset {p} does not exist (expected a folder of images, a .zip, or a .npy/.npz array)")
    suffix = p.suffix.lower()   # .NPZ, .Zip: extensions in any case
    if suffix == ".zip":
        return ZipSource(p)
    if suffix in (".npy", ".npz"):
        return ArraySource(p, array_key=array_key, layout=layout)
    raise ValueError(f"dataset {p}: unsupported file type {suffix!r}; use a folder, a .zip, or a .npy/.npz array")


def resize_image(img: np.ndarray, resolution: int) -> np.ndarray:
    """Resize uint8 [H, W, 3] to [R, R, 3]: box filter for square power-of-two downscales, else Lanczos."""
    h, w = img.shape[:2]
    if h == w == resolution:
        return img
    k = h // resolution
    if h == w and h % resolution == 0 and k & (k - 1) == 0:
        blocks = img.reshape(resolution, k, resolution, k, 3).astype(np.float64)
        return np.rint(blocks.mean(axis=(1, 3))).clip(0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(img).resize((resolution, resolution), Image.LANCZOS), dtype=np.uint8)


class ImageDataset(torch.utils.data.Dataset):
    """uint8 CHW RGB tensors from an :class:`ImageSource`, with subset, resize and flip options.

    ``num``: keep this many images (all when None); ``subset='first'`` keeps the first ``num`` in
    sorted order, ``'random'`` a random ``num`` drawn with ``seed`` (kept in sorted order).
    ``mirror``: flip each image horizontally with probability 1/2, decided by ``(seed, index)``.
    """

    def __init__(self, source: Union[ImageSource, PathLike], resolution: Optional[int] = None, mirror: bool = False,
                 num: Optional[int] = None, subset: str = "first", seed: int = 0, skip_bad: bool = False) -> None:
        self.source = source if isinstance(source, ImageSource) else open_source(source)
        n = len(self.source)
        if subset not in ("first", "random"):
            raise ValueError(f"subset must be 'first' or 'random', got {subset!r}")
        if num is not None and not 0 < num <= n:
            raise ValueError(f"num={num} images requested but {self.source.path} has {n}")
        if num is None or num == n:
            self.indices = np.arange(n)
        elif subset == "first":
            self.indices = np.arange(num)
        else:
            self.indices = np.sort(np.random.default_rng(seed).permutation(n)[:num])
        self.resolution, self.mirror, self.seed, self.skip_bad = resolution, mirror, seed, skip_bad
        self.flips = (sample_seeds(seed, self.indices, Stream.DATA) & np.uint64(1)).astype(bool) if mirror \
            else np.zeros(len(self.indices), bool)
        self.skipped: list[str] = []

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> torch.Tensor:
        """Image ``i`` as uint8 [3, H, W]; raises :class:`BadImageError` on an unreadable file."""
        img = self.source.read(int(self.indices[i]))
        if self.resolution is not None:
            img = resize_image(img, self.resolution)
        if self.flips[i]:
            img = img[:, ::-1]
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))

    def try_get(self, i: int) -> Optional[torch.Tensor]:
        """Like ``self[i]`` but returns None (and records the file) for a bad image when ``skip_bad``."""
        try:
            return self[i]
        except BadImageError as exc:
            if not self.skip_bad:
                raise
            self.skipped.append(f"{self.source.name(int(self.indices[i]))}: {exc.__cause__ or exc}")
            return None


def iterate_batches(dataset: ImageDataset, batch_size: int, num_threads: int = 4, rank: int = 0,
                    world_size: int = 1) -> Iterator[torch.Tensor]:
    """Yield uint8 [B, 3, H, W] batches in order; bad images raise or are skipped (``dataset.skipped``).

    With ``world_size`` > 1 only this rank's global batches are read (batches ``rank``,
    ``rank + world_size``, ...), the same split the metrics use for generated samples.

    Images are decoded by ``num_threads`` threads of this process (PIL releases the GIL while
    decoding), so errors arrive here as :class:`BadImageError` naming the file. The first batch is
    checked by :func:`check_not_unit_range`.
    """
    def stack(items: list, first: int) -> torch.Tensor:
        shapes = {tuple(t.shape) for t in items}
        if len(shapes) > 1:
            raise BadImageError(f"images of different sizes {sorted(shapes)[:3]} near item {first} of {dataset.source.path}; "
                                "pass resolution= (command line: --resolution R) to resize them all to RxR")
        return torch.stack(items)

    n = len(dataset)
    pool = ThreadPoolExecutor(num_threads) if num_threads > 0 else None
    checked = False
    try:
        for _, idx in batch_ranges(n, batch_size, rank, world_size):
            start = idx.start
            items = list(pool.map(dataset.try_get, idx)) if pool else [dataset.try_get(i) for i in idx]
            items = [t for t in items if t is not None]
            if items:
                batch = stack(items, start)
                if not checked:
                    check_not_unit_range(batch, str(dataset.source.path))
                    checked = True
                yield batch
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)
