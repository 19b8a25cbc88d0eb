"""Writing the test bed in the real datasets' formats (PNG folder + ``list_attr_celeba.txt``) and a contact sheet.

An export writes the config first, then the images, and the label file last: a folder without
``list_attr_celeba.txt`` is an interrupted export, and :func:`check_export` says so.
"""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from disentangle_metrics._core.results import atomic_write_bytes

from .labels import CELEBA_FILENAME, AttributeLabels, read_celeba_attributes, write_celeba_attributes
from .testbed_attributes import sample_attributes
from .testbed_config import ATTRIBUTES, TestbedConfig
from .testbed_render import render_attributes

CONFIG_FILENAME = "testbed_config.json"


def image_filename(i: int, num: int) -> str:
    """Zero-padded PNG name of image ``i`` of an export of ``num`` images (000000.png, ...)."""
    return f"{i:0{max(6, len(str(max(num - 1, 0))))}d}.png"


def png_bytes(image: torch.Tensor | np.ndarray) -> bytes:
    """Encode one uint8 CHW image as PNG."""
    arr = image.cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr.transpose(1, 2, 0))).save(buf, format="PNG", compress_level=4)
    return buf.getvalue()


def export_testbed(config: TestbedConfig, out_dir: os.PathLike | str, num: int, batch_size: int = 256,
                   device: torch.device | str = "cpu", overwrite: bool = False,
                   progress: Optional[Callable[[int], None]] = None) -> AttributeLabels:
    """Write images 0..num-1 as PNGs, ``testbed_config.json`` and (last) ``list_attr_celeba.txt`` to ``out_dir``."""
    out = Path(out_dir)
    if num < 1:
        raise ValueError(f"export needs at least one image, got num={num}")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; choose another output path")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} is not empty; choose an empty folder or pass overwrite=True (--overwrite)")
    out.mkdir(parents=True, exist_ok=True)
    labels_path = out / CELEBA_FILENAME
    if labels_path.exists():
        labels_path.unlink()  # labels go first: a folder without them reads as an incomplete export
    for old in out.glob("*.png"):
        if old.stem.isdigit():  # images of an earlier export would otherwise linger beyond ``num``
            old.unlink()
    config.save(out / CONFIG_FILENAME)
    names: list[str] = []
    rows: list[np.ndarray] = []
    for start in range(0, num, batch_size):
        idx = np.arange(start, min(start + batch_size, num), dtype=np.int64)
        attrs = sample_attributes(config, idx)
        images = render_attributes(config, idx, attrs, device=device).cpu()
        for j, i in enumerate(idx.tolist()):
            name = image_filename(i, num)
            atomic_write_bytes(out / name, png_bytes(images[j]))
            names.append(name)
        rows.append(attrs)
        if progress is not None:
            progress(len(idx))
    labels = AttributeLabels(names, list(ATTRIBUTES), np.concatenate(rows))
    write_celeba_attributes(labels_path, labels)
    return labels


def check_export(out_dir: os.PathLike | str) -> tuple[TestbedConfig, AttributeLabels]:
    """Config and labels of a finished export; a clear error if it was interrupted or files are missing."""
    out = Path(out_dir)
    if not (out / CONFIG_FILENAME).is_file():
        raise FileNotFoundError(f"{out} has no {CONFIG_FILENAME}: not a test bed export")
    if not (out / CELEBA_FILENAME).is_file():
        raise FileNotFoundError(f"{out} has no {CELEBA_FILENAME}: the export was interrupted; run "
                                "`dmetrics testbed export` again with --overwrite")
    config = TestbedConfig.load(out / CONFIG_FILENAME)
    labels = read_celeba_attributes(out / CELEBA_FILENAME, check_dir=out)
    return config, labels


def contact_sheet(config: TestbedConfig, indices: Sequence[int], columns: int = 8,
                  device: torch.device | str = "cpu") -> Image.Image:
    """A grid of images with their positive attributes written under each."""
    indices = np.asarray(indices, dtype=np.int64)
    attrs = sample_attributes(config, indices)
    images = render_attributes(config, indices, attrs, device=device).cpu().numpy()
    R = config.resolution
    cell = max(R, 96)
    font = ImageFont.load_default()
    wrap = max(12, cell // 6)
    captions = [textwrap.wrap(f"#{i}: " + ", ".join(n for n, on in zip(ATTRIBUTES, a) if on) or "(none)",
                              width=wrap) for i, a in zip(indices.tolist(), attrs)]
    line_h = 11
    text_h = line_h * max(len(c) for c in captions) + 6
    rows = (len(indices) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (cell + 6) + 6, rows * (cell + text_h + 6) + 6), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (img, cap) in enumerate(zip(images, captions)):
        x0 = 6 + (k % columns) * (cell + 6)
        y0 = 6 + (k // columns) * (cell + text_h + 6)
        pic = Image.fromarray(img.transpose(1, 2, 0))
        if R != cell:
            pic = pic.resize((cell, cell), Image.NEAREST)
        sheet.paste(pic, (x0, y0))
        for j, line in enumerate(cap):
            draw.text((x0, y0 + cell + 3 + j * line_h), line, fill=(0, 0, 0), font=font)
    return sheet


def save_png(image: Image.Image, path: os.PathLike | str) -> None:
    """Save a PIL image as PNG atomically."""
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
