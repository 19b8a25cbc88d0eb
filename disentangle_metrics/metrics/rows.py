"""The rows of the image metrics: one per metric, each holding its anchor's constants, and the names
results carry.

Each row holds the constants of stylegan2-ada-pytorch's ``metrics/metric_main.py`` (the anchor;
``_full`` = all real images up to a cap, no x-flips; the legacy names keep the dataset's mirror
setting, here ``ScoreOptions.mirror``), or of the newer feature spaces' reference code (FD_DINOv2,
CMMD, PRDC). FID is one row like the others (:mod:`.image` runs them in one shared pass).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal, Optional, Sequence

from .._core.options import ScoreOptions
from ..features import DEFAULT_EXTRACTOR
from ..features.inception import NVIDIA_WEIGHTS, PYTORCH_FID_WEIGHTS
from ..features.inception_logits import LOGITS_EXTRACTOR

ALL = None   # max_real: every real image
Kind = Literal["fid", "kid", "pr", "is", "cmmd", "prdc"]


@dataclass(frozen=True)
class ImageMetric:
    """One metric's constants (stylegan2-ada-pytorch's metric_main.py row)."""

    name: str
    kind: Kind                         # which statistic: FID (Frechet, any extractor), KID, PR, IS, CMMD, PRDC
    num_gen: int
    max_real: Optional[int]            # real images used, at most (ALL: every one); 0: none needed
    full: bool                         # True: x-flips never (the _full metrics)
    extractor: str
    what: str
    params: dict = field(default_factory=dict, hash=False, compare=False)
    substitute: bool = False           # computed with a network other than the anchor's: named name@extractor
    anchor: str = ""                   # whose code defines it, when not the kind's usual anchor (_ANCHOR)

    @property
    def needs(self) -> str:
        return "images" if self.max_real == 0 else "images + real images (dataset; FID: or a stats .npz)"


_KID = dict(num_subsets=100, max_subset_size=1000)
# distance blocks: None = the device's default (10000 x 10000 on CUDA as stylegan2-ada; smaller on CPU); block
# sizes change memory and speed, never the answer
_PR = dict(nhood_size=3, row_batch_size=None, col_batch_size=None)
TABLE: dict[str, ImageMetric] = {m.name: m for m in [
    ImageMetric("fid50k_full", "fid", 50_000, ALL, True, DEFAULT_EXTRACTOR,
                "FID, 50k generated vs every real image, no x-flips"),
    ImageMetric("kid50k_full", "kid", 50_000, 1_000_000, True, DEFAULT_EXTRACTOR,
                "KID (cubic-kernel unbiased MMD^2, 100 subsets of 1000), 50k generated vs up to 1M reals", _KID),
    ImageMetric("kid50k", "kid", 50_000, 50_000, False, DEFAULT_EXTRACTOR,
                "KID as kid50k_full, 50k reals (legacy; the dataset's mirror setting)", _KID),
    ImageMetric("pr50k3_full", "pr", 50_000, 200_000, True, "vgg16-nvidia",
                "precision and recall, k=3, NVIDIA VGG16 features, 50k generated vs up to 200k reals", _PR),
    ImageMetric("pr50k3", "pr", 50_000, 50_000, False, "vgg16-nvidia",
                "precision and recall as pr50k3_full, 50k reals (legacy)", _PR),
    ImageMetric("pr50k3_full@vgg16-torchvision", "pr", 50_000, 200_000, True, "vgg16-torchvision",
                "pr50k3_full on torchvision's VGG16 fc2+ReLU (torch-fidelity's features; not the paper's network)",
                _PR, substitute=True),
    ImageMetric("pr50k3@vgg16-torchvision", "pr", 50_000, 50_000, False, "vgg16-torchvision",
                "pr50k3 on torchvision's VGG16 fc2+ReLU (not the paper's network)", _PR, substitute=True),
    ImageMetric("is50k", "is", 50_000, 0, True, LOGITS_EXTRACTOR,
                "Inception Score, 50k generated, 10 splits, 1008 logits without output bias", dict(num_splits=10)),
    # the feature spaces papers report since 2023 (issue 25); FD is FID's computation on DINOv2 features
    ImageMetric("fd_dinov2_50k_full", "fid", 50_000, ALL, True, "dinov2-vitl14",
                "FD_DINOv2: Frechet distance of DINOv2 ViT-L/14 class tokens, EDM2's preprocessing (torch bicubic "
                "+ antialias to 224), 50k generated vs every real image",
                anchor="NVlabs/edm2 calculate_metrics.py (fd_dinov2); facebookresearch/dinov2 hub backbones"),
    ImageMetric("fd_dinov2_50k_full@dinov2-vitl14-pil", "fid", 50_000, ALL, True, "dinov2-vitl14-pil",
                "FD_DINOv2 with dgm-eval's preprocessing (PIL bicubic to 224 per image)", substitute=True,
                anchor="layer6ai-labs/dgm-eval (fd, dinov2 encoder)"),
    ImageMetric("fd_dinov2_50k_full@dinov2-vitl14-tf1", "fid", 50_000, ALL, True, "dinov2-vitl14-tf1",
                "FD_DINOv2 with torch-fidelity's preprocessing (TF 1.x bilinear to 224, no antialias)",
                substitute=True, anchor="toshas/torch-fidelity feature_extractor_dinov2.py (dinov2-vit-l-14)"),
    ImageMetric("cmmd50k_full", "cmmd", 50_000, 1_000_000, True, "clip-vitl14-336",
                "CMMD: biased MMD^2 x 1000, Gaussian RBF (sigma 10) on unit CLIP ViT-L/14@336 embeddings, "
                "50k generated vs up to 1M reals", dict(sigma=10.0, scale=1000.0)),
    ImageMetric("prdc50k5_full", "prdc", 50_000, 50_000, True, "dinov2-vitl14",
                "precision, recall, density, coverage (Naeem et al. 2020, k=5, strict <), DINOv2 features, "
                "50k generated vs up to 50k reals", dict(nearest_k=5)),
]}
# The paper's fid50k: 50k generated vs the first 50k reals (the dataset's mirror setting).
FID50K = ImageMetric("fid50k", "fid", 50_000, 50_000, False, DEFAULT_EXTRACTOR,
                     "the paper's FID = |mu_g - mu_r|^2 + tr(S_g + S_r - 2 (S_g S_r)^1/2), Inception pool3 (2048-d), "
                     "50k generated vs the first 50k reals", anchor="NVlabs/stylegan metrics/frechet_inception_distance.py")


def _swappable(m: ImageMetric) -> bool:
    """Whether ``ScoreOptions.extractor`` replaces the row's network (FID's and KID's Inception only)."""
    return m.kind in ("fid", "kid") and m.extractor == DEFAULT_EXTRACTOR


def count_name(num_gen: int) -> str:
    """FID's name by the number of generated images: ``fid50k`` for 50,000, ``fid10k``, ``fid2500``
    (FID's bias grows as 1/N, so a name must say how many were used)."""
    return f"fid{count_tag(num_gen)}"


def count_tag(num: int) -> str:
    """``50k`` for 50,000, ``2500`` for 2,500: metric names carry the generated count."""
    return f"{num // 1000}k" if num % 1000 == 0 else str(num)


def result_name(m: ImageMetric, num_gen: int, extractor: str, tags: Sequence[str]) -> str:
    """The row's name with the generated count actually used, extractor and source tags."""
    base = m.name.split("@")[0].replace("50k", count_tag(num_gen), 1)
    parts = [] if (m.substitute or extractor == m.extractor) else [extractor]
    if m.substitute:
        parts = [m.extractor]
    parts += list(tags)
    return base + (f"@{'+'.join(parts)}" if parts else "")


def weights_for(ext_name: str, weights: dict[str, str]) -> Optional[str]:
    """The ``--weights NAME=PATH`` file for extractor ``ext_name``: its own name, or for the Inception
    extractors (features and logits share one network) a registered Inception file name."""
    keys = (ext_name,) + ((PYTORCH_FID_WEIGHTS, NVIDIA_WEIGHTS, DEFAULT_EXTRACTOR)
                          if ext_name in (DEFAULT_EXTRACTOR, LOGITS_EXTRACTOR) else ())
    return next((weights[k] for k in keys if k in weights), None)


def _mirror(m: ImageMetric, opts: ScoreOptions) -> bool:
    if m.full:
        if opts.mirror:
            raise ValueError(f"{m.name} uses the real images without x-flips by definition; drop mirror or use "
                             f"{m.name.replace('_full', '')}")
        return False
    return bool(opts.mirror)


def _stats_mirror(m: ImageMetric, opts: ScoreOptions) -> Optional[bool]:
    """The mirroring a FID row asks of its reference: False for _full rows, else the option (None: as stored)."""
    return False if m.full else opts.mirror


def _max_real(group: Sequence[ImageMetric], opts: ScoreOptions) -> Optional[int]:
    caps = [m.max_real for m in group]
    n = None if any(c is ALL for c in caps) else max(caps)
    if opts.num_real is not None:
        n = opts.num_real if n is None else min(n, opts.num_real)
    return n


# the values entry whose interval is the headline's (stderr / ci95 / ci_method)
_HEADLINE = {"fid": "", "kid": "", "pr": "_precision", "is": "_mean", "cmmd": "", "prdc": "_precision"}


def with_params(m: ImageMetric, **params: Any) -> ImageMetric:
    """A copy of row ``m`` with some constants replaced (for quick runs and tests); the name is kept."""
    return replace(m, params={**m.params, **params})


_ANCHOR = {"fid": "stylegan2-ada-pytorch metrics/frechet_inception_distance.py",
           "kid": "stylegan2-ada-pytorch metrics/kernel_inception_distance.py; torch-fidelity metric_kid.py",
           "pr": "stylegan2-ada-pytorch metrics/precision_recall.py; torch-fidelity metric_prc.py",
           "is": "stylegan2-ada-pytorch metrics/inception_score.py; torch-fidelity metric_isc.py",
           "cmmd": "google-research cmmd distance.py, embedding.py, io_util.py",
           "prdc": "clovaai/generative-evaluation-prdc prdc/prdc.py"}
