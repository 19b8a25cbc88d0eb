"""Scales of the Tables 3/4 reproduction: what is trained and how many samples each metric uses.

Three scales (``SCALES``):

``paper``
    The paper's setup: FFHQ 1024x1024 (``--data``, a folder/zip of the 70k images), progressive
    growing from 8x8, 25,000 kimg per preset, the official networks (fmap 8192/512, latent 512),
    FID with Inception (50k generated vs 50k real, mirrored), PPL with LPIPS-VGG (100k samples per
    variant), separability with the 40 CelebA-HQ classifiers (``--classifier``; 200k samples, keep
    100k). Expected cost (NVlabs/stylegan README, Tesla V100): training config F at 1024x1024 takes
    6 days 14 hours on 8 GPUs (41 days 4 hours on one) per preset, and the tables need 9 presets
    (~59 days on 8 V100). Metrics per preset on one V100: fid50k 16 min, each PPL variant 55 min
    (4 with a mapping network, 2 without), separability 10 hours with the official LinearSVC
    loop (our batched SVM stage is faster; the 200k-image sampling is not): ~14 hours, ~5 days
    for all presets.
``mini``
    The procedural test bed at 32x32 with narrow networks (fmap_base 256, fmap_max 32, latent 128),
    fixed resolution, batch 32, ``mini_kimg`` per preset; the test-bed extractor, distance and
    classifier; the mini recipe (``reference_models.train.config.MINI_RECIPE``: lr 0.0025, G_ema
    half-life ramp-up 0.05), measured in benchmarks/results/learning_curves/. Meant for one GPU (well under 30 minutes) or a CPU in hours (see benchmarks/README).
``smoke``
    Tiny (16x16, fmap_max 16, latent 32, 10 kimg per preset, 500-2000 samples per metric): exercises the whole
    pipeline in minutes on a CPU. Its numbers are meaningless for the paper's claims. Its barely
    trained generators leave attribute classes of 0.01-0.5% of the samples, so some attributes keep
    a class of 1-2 samples; separability scores them as the paper's code does and its result notes
    them with the most they can move the score (``separability.thin_class_note``). Every smoke
    metric is therefore defined; a NaN that still occurs (a failed fit) is written as ``NaN (reason)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

from reference_models.train.config import MINI_RECIPE

TESTBED = "testbed"


@dataclass(frozen=True)
class Scale:
    """Everything that defines a reproduction run except where it is written."""

    name: str
    dataset: str                     # 'testbed' or a path to the images (FFHQ)
    resolution: int
    kimg: float                      # training length per preset, thousands of real images
    progressive: bool
    mirror: bool
    fmap_base: Optional[int]         # None: the official value
    fmap_max: Optional[int]
    latent_size: Optional[int]
    batch: Optional[int]             # None: the official minibatch table
    testbed_num: int                 # training images when dataset is the test bed
    fid_num_gen: int
    fid_num_real: int
    ppl_samples: int
    ls_samples: int
    ls_keep: int
    extractor: str                   # FID feature extractor (registry name)
    distance: str                    # PPL distance (registry name)
    classifier: Optional[str]        # separability classifier spec (RunOptions.load_classifier)
    fid_reference: str               # 'testbed' or the dataset path / stats file
    batch_metrics: int = 64
    note: str = ""
    recipe: dict[str, Any] = dataclasses.field(default_factory=dict)   # TrainConfig fields changed from the official

    def __post_init__(self) -> None:
        if self.ls_keep > self.ls_samples:
            raise ValueError(f"scale {self.name}: ls_keep ({self.ls_keep}) > ls_samples ({self.ls_samples})")
        for f in ("fid_num_gen", "fid_num_real", "ppl_samples", "ls_samples", "ls_keep"):
            if getattr(self, f) < 2:
                raise ValueError(f"scale {self.name}: {f} must be >= 2")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (saved as ``scale.json`` in the output folder)."""
        return dataclasses.asdict(self)

    def header_lines(self) -> list[str]:
        """Human-readable description of the run's scale, one fact per line."""
        widths = ("official" if self.fmap_base is None else
                  f"fmap_base {self.fmap_base}, fmap_max {self.fmap_max}, latent {self.latent_size}")
        return [
            f"scale: {self.name}" + (f" ({self.note})" if self.note else ""),
            f"dataset: {self.dataset}" + (f" ({self.testbed_num} images)" if self.dataset == TESTBED else ""),
            f"resolution: {self.resolution}x{self.resolution}, "
            f"{'progressive' if self.progressive else 'fixed resolution'}, mirror {'on' if self.mirror else 'off'}",
            f"training: {self.kimg:g} kimg per preset, batch {self.batch or 'official table'}, networks {widths}"
            + (", recipe " + ", ".join(f"{k} {v:g}" for k, v in sorted(self.recipe.items())) if self.recipe
               else ", official recipe"),
            f"FID: {self.fid_num_gen} generated vs {self.fid_num_real} real ({self.fid_reference}), extractor {self.extractor}",
            f"PPL: {self.ppl_samples} samples per variant, distance {self.distance}",
            f"separability: {self.ls_samples} samples, keep {self.ls_keep}, classifier {self.classifier}",
        ]


SMOKE = Scale(
    name="smoke", dataset=TESTBED, resolution=16, kimg=10.0, progressive=False, mirror=False,
    fmap_base=128, fmap_max=16, latent_size=32, batch=32, testbed_num=2000,
    fid_num_gen=1000, fid_num_real=2000, ppl_samples=500, ls_samples=2000, ls_keep=1000,
    extractor="testbed", distance="testbed-lpips", classifier="testbed", fid_reference=TESTBED,
    note="pipeline check only: numbers are meaningless for the paper's claims",
)

MINI = Scale(
    name="mini", dataset=TESTBED, resolution=32, kimg=100.0, progressive=False, mirror=False,
    fmap_base=256, fmap_max=32, latent_size=128, batch=32, testbed_num=10_000,
    fid_num_gen=5000, fid_num_real=10_000, ppl_samples=5000, ls_samples=20_000, ls_keep=10_000,
    extractor="testbed", distance="testbed-lpips", classifier="testbed", fid_reference=TESTBED,
    note="test bed 32x32, narrow networks, test-bed networks for every metric",
    recipe=dict(MINI_RECIPE),
)

PAPER = Scale(
    name="paper", dataset="ffhq-1024", resolution=1024, kimg=25_000.0, progressive=True, mirror=True,
    fmap_base=None, fmap_max=None, latent_size=None, batch=None, testbed_num=0,
    fid_num_gen=50_000, fid_num_real=50_000, ppl_samples=100_000, ls_samples=200_000, ls_keep=100_000,
    extractor="inception-v3-tf", distance="lpips-vgg", classifier=None, fid_reference="ffhq-1024",
    batch_metrics=16,
    note="FFHQ 1024x1024, Inception / LPIPS-VGG / CelebA-HQ classifiers; ~6.5 days per preset on 8 V100",
)

SCALES: dict[str, Scale] = {s.name: s for s in (SMOKE, MINI, PAPER)}


def resolve_scale(name: str, data: Optional[str] = None, classifier: Optional[str] = None,
                  kimg: Optional[float] = None) -> Scale:
    """The named scale with the user's data path, classifier and training length applied.

    ``paper`` needs ``data`` (the FFHQ images; also the FID reference) and ``classifier`` (the 40
    converted CelebA-HQ classifiers as one network giving [N, 40] logits).
    """
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}")
    s = SCALES[name]
    changes: dict[str, Any] = {}
    if data is not None:
        changes.update(dataset=data, fid_reference=data)
    if classifier is not None:
        changes["classifier"] = classifier
    if kimg is not None:
        changes["kimg"] = float(kimg)
    s = dataclasses.replace(s, **changes)
    if s.name == "paper" and data is None:
        raise ValueError("--scale paper needs --data PATH: the FFHQ 1024x1024 images (folder or zip of the 70k PNGs)")
    if s.classifier is None:
        raise ValueError(f"--scale {s.name} needs --classifier: the CelebA-HQ attribute classifiers converted "
                         "to one network (checkpoint or package.module:factory) giving [N, 40] logits")
    return s
