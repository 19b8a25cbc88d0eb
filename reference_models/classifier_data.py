"""Labelled training data for the attribute classifier: the test bed on the fly, or a CelebA-layout folder.

Both deliver uint8 images [B, 3, R, R] at the classifier's resolution R and float 0/1 labels
[B, A]. Larger images are box-downsampled (mean of each k x k block, rounded) when the size is a
power-of-two multiple of R; other sizes go through :func:`disentangle_metrics.data.images.resize_image`
(Lanczos). Validation images are disjoint from every training image by construction.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional, Protocol, Sequence

import numpy as np
import torch

from disentangle_metrics.data.images import BadImageError, _decode, resize_image
from disentangle_metrics.data.labels import CELEBA_FILENAME, AttributeLabels, read_attributes
from disentangle_metrics.data.testbed import TestbedConfig, render_batch

#: First test bed index of the held-out set; training indices stay below it (checked).
TESTBED_VALIDATION_OFFSET = 1_000_000_000


class LabelledData(Protocol):
    """What :func:`~reference_models.classifier_training.train_classifier` needs from a dataset."""

    attribute_names: list[str]
    resolution: int

    def train_batch(self, step: int, batch_size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images [B, 3, R, R], float 0/1 labels [B, A]) for training step ``step``."""

    def validation(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The held-out (images, labels), the same on every call."""

    def describe(self) -> dict:
        """JSON-able description of the data (for the training summary)."""


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (x / 127.5 - 1), the classifier's input range."""
    return images.to(torch.float32) / 127.5 - 1.0


def box_downsample_uint8(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 [N, C, H, H] -> [N, C, R, R] by the rounded mean of k x k blocks (k = H / R, a power of two)."""
    n, c, h, w = images.shape
    k = h // resolution
    if h != w or h % resolution or k & (k - 1):
        raise ValueError(f"box downsampling needs square images whose size is a power-of-two multiple of "
                         f"{resolution}, got {h}x{w}")
    if k == 1:
        return images
    x = images.to(torch.float32).reshape(n, c, resolution, k, resolution, k).mean(dim=(3, 5))
    return x.round().clamp(0, 255).to(torch.uint8)


class TestbedData:
    """The procedural test bed rendered on the fly.

    Training step ``s`` renders indices ``s * B .. (s + 1) * B - 1`` (every image is new); the
    held-out set is indices ``TESTBED_VALIDATION_OFFSET ..`` + ``num_validation``. With several
    ``render_resolutions`` the steps cycle through them (each image box-downsampled to
    ``resolution``) and the held-out set holds the same indices rendered at each of them.
    """

    __test__ = False

    def __init__(self, config: TestbedConfig, attributes: Sequence[str], resolution: int,
                 render_resolutions: Optional[Sequence[int]] = None, num_validation: int = 2000) -> None:
        self.config = config
        all_names = list(config.attribute_names)
        unknown = [a for a in attributes if a not in all_names]
        if unknown or not attributes:
            raise ValueError(f"test bed attributes must be a non-empty subset of {all_names}; unknown: {unknown}")
        self.attribute_names = list(attributes)
        self._cols = [all_names.index(a) for a in attributes]
        self.resolution = int(resolution)
        self.render_resolutions = [int(r) for r in (render_resolutions or [config.resolution])]
        for r in self.render_resolutions:
            if r < self.resolution:
                raise ValueError(f"render resolution {r} is below the classifier resolution {self.resolution}: "
                                 "render at the classifier's resolution or larger")
        self._configs = [config.replace(resolution=r) for r in self.render_resolutions]
        if num_validation < 1:
            raise ValueError(f"num_validation must be >= 1, got {num_validation}")
        self.num_validation = int(num_validation)
        self._val: Optional[tuple[torch.Tensor, torch.Tensor]] = None

    def _render(self, cfg: TestbedConfig, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, attrs = render_batch(cfg, start, count)
        return box_downsample_uint8(images, self.resolution), attrs[:, self._cols]

    def train_batch(self, step: int, batch_size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        start = step * batch_size
        if start + batch_size > TESTBED_VALIDATION_OFFSET:
            raise ValueError(f"training would reach the held-out indices (>= {TESTBED_VALIDATION_OFFSET}); "
                             "use fewer steps or a smaller batch")
        return self._render(self._configs[step % len(self._configs)], start, batch_size)

    def validation(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._val is None:
            parts = [self._render(c, TESTBED_VALIDATION_OFFSET, self.num_validation) for c in self._configs]
            self._val = (torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
        return self._val

    def describe(self) -> dict:
        return {"kind": "testbed", "testbed_config": self.config.to_dict(),
                "render_resolutions": self.render_resolutions,
                "train_indices": "step * batch_size .. (step + 1) * batch_size - 1",
                "validation_indices": [TESTBED_VALIDATION_OFFSET, TESTBED_VALIDATION_OFFSET + self.num_validation]}


class FolderData:
    """Images of a folder labelled by a CelebA ``list_attr_celeba.txt`` (or CSV) file.

    The last ``num_validation`` rows of the label file are held out; training batches are drawn
    uniformly (with replacement) from the other rows with the training generator. Images are
    decoded per batch by a few threads, so the dataset need not fit in memory.
    """

    def __init__(self, root: str | os.PathLike, attributes: Optional[Sequence[str]], resolution: int,
                 labels_path: Optional[str | os.PathLike] = None, num_validation: int = 1000,
                 threads: int = 4) -> None:
        self.root = Path(root)
        lp = Path(labels_path) if labels_path else self.root / CELEBA_FILENAME
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset folder {self.root} does not exist")
        if not lp.is_file():
            raise FileNotFoundError(f"{lp} not found: a labelled folder needs {CELEBA_FILENAME} (CelebA layout) "
                                    "or pass the label file explicitly (--labels)")
        labels: AttributeLabels = read_attributes(lp, check_dir=self.root)
        names = list(attributes) if attributes else list(labels.names)
        unknown = [a for a in names if a not in labels.names]
        if unknown:
            raise ValueError(f"{lp} has no attribute(s) {unknown}; it has {labels.names}")
        n = len(labels.filenames)
        if not 1 <= num_validation < n:
            raise ValueError(f"{lp} lists {n} images; num_validation must be between 1 and {n - 1}, got {num_validation}")
        self.attribute_names = names
        self.resolution = int(resolution)
        self.labels_path = lp
        self.files = labels.filenames
        self.values = torch.as_tensor(labels.values[:, [labels.names.index(a) for a in names]], dtype=torch.float32)
        self.num_train = n - num_validation
        self.num_validation = int(num_validation)
        self.threads = threads
        self._val: Optional[tuple[torch.Tensor, torch.Tensor]] = None

    def _read(self, i: int) -> torch.Tensor:
        path = self.root / self.files[i]
        try:
            img = _decode(path.read_bytes(), str(path))
        except OSError as exc:
            raise BadImageError(f"{path}: cannot read ({exc})") from exc
        img = resize_image(img, self.resolution)
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))

    def _load(self, rows: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        with ThreadPoolExecutor(self.threads) as pool:
            images = list(pool.map(self._read, rows))
        return torch.stack(images), self.values[list(rows)]

    def train_batch(self, step: int, batch_size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.randint(0, self.num_train, (batch_size,), generator=gen).tolist()
        return self._load(rows)

    def validation(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._val is None:
            self._val = self._load(range(self.num_train, self.num_train + self.num_validation))
        return self._val

    def describe(self) -> dict:
        return {"kind": "folder", "root": str(self.root), "labels": str(self.labels_path),
                "num_train": self.num_train, "validation_rows": [self.num_train, self.num_train + self.num_validation]}
