"""The test bed's configuration: attribute names, marginals, couplings, forbidden pairs, nuisance ranges.

Saved and loaded as JSON. Every field is validated on construction so that a bad config fails with a
message naming the field, not deep inside the renderer.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from disentangle_metrics._core.results import atomic_write_bytes

#: The binary attributes, in label-column order. Named after CelebA's where one exists.
ATTRIBUTES: tuple[str, ...] = (
    "male",
    "smiling",
    "mouth_open",
    "eyeglasses",
    "hat",
    "beard",
    "mustache",
    "bangs",
    "long_hair",
    "blond_hair",
    "black_hair",
    "eyes_closed",
    "earrings",
    "pale_skin",
    "dark_background",
    "head_turned",
    "rosy_cheeks",
    "bushy_eyebrows",
)

# Kept between 0.2 and 0.5 so that a classifier sees enough positives of every attribute.
_DEFAULT_MARGINALS: dict[str, float] = {
    "male": 0.45, "smiling": 0.48, "mouth_open": 0.4, "eyeglasses": 0.22, "hat": 0.22,
    "beard": 0.25, "mustache": 0.22, "bangs": 0.3, "long_hair": 0.4, "blond_hair": 0.22,
    "black_hair": 0.25, "eyes_closed": 0.22, "earrings": 0.25, "pale_skin": 0.25,
    "dark_background": 0.35, "head_turned": 0.3, "rosy_cheeks": 0.25, "bushy_eyebrows": 0.28,
}

MIN_RESOLUTION = 16
MAX_RESOLUTION = 256


@dataclass(frozen=True)
class Coupling:
    """Correlation ``strength`` in (-1, 1) between the latent Gaussians of attributes ``a`` and ``b``.

    Attributes are thresholded Gaussians (a Gaussian copula), so ``strength`` is the latent
    correlation; the correlation of the binary labels is smaller in magnitude (see
    :func:`disentangle_metrics.data.testbed_attributes.expected_joint_probability`).
    """

    a: str
    b: str
    strength: float


def _default_couplings() -> list[Coupling]:
    return [
        Coupling("male", "beard", 0.6),
        Coupling("male", "mustache", 0.45),
        Coupling("beard", "mustache", 0.4),
        Coupling("male", "long_hair", -0.45),
        Coupling("male", "earrings", -0.35),
        Coupling("smiling", "mouth_open", 0.5),
        Coupling("pale_skin", "blond_hair", 0.4),
    ]


def _default_forbidden() -> list[tuple[str, str]]:
    # ("long_hair", "beard") plays the role of the paper's Fig. 6 missing combination (no long-haired
    # men in the data): the region of attribute space is empty, so a good W must warp around it.
    return [("long_hair", "beard"), ("blond_hair", "black_hair")]


@dataclass(frozen=True)
class NuisanceRanges:
    """Ranges of the continuous factors that are not attributes.

    ``offset``: largest head-centre shift, as a fraction of the half image width.
    ``scale``: (min, max) head scale. ``lighting``: largest strength of the linear lighting gradient.
    ``freckle_probability``: fraction of faces with freckles (stochastic detail, not an attribute).
    """

    offset: float = 0.08
    scale: tuple[float, float] = (0.98, 1.16)
    lighting: float = 0.15
    freckle_probability: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.offset <= 0.2:
            raise ValueError(f"NuisanceRanges.offset must be in [0, 0.2] (larger pushes the face off the image), got {self.offset}")
        lo, hi = self.scale
        if not 0.6 <= lo <= hi <= 1.2:
            raise ValueError(f"NuisanceRanges.scale must satisfy 0.6 <= min <= max <= 1.2, got {self.scale}")
        if not 0.0 <= self.lighting <= 0.3:
            raise ValueError(f"NuisanceRanges.lighting must be in [0, 0.3] (stronger hides pale_skin/dark_background), got {self.lighting}")
        if not 0.0 <= self.freckle_probability <= 1.0:
            raise ValueError(f"NuisanceRanges.freckle_probability must be in [0, 1], got {self.freckle_probability}")


@dataclass(frozen=True)
class TestbedConfig:
    """Everything that defines the test bed's images; image ``i`` is a function of (config, i) alone."""

    __test__ = False  # not a pytest test class despite the name

    resolution: int = 64
    seed: int = 0
    marginals: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_MARGINALS))
    couplings: list[Coupling] = field(default_factory=_default_couplings)
    forbidden: list[tuple[str, str]] = field(default_factory=_default_forbidden)
    nuisance: NuisanceRanges = field(default_factory=NuisanceRanges)

    def __post_init__(self) -> None:
        r = self.resolution
        if not (isinstance(r, int) and MIN_RESOLUTION <= r <= MAX_RESOLUTION and r & (r - 1) == 0):
            raise ValueError(f"TestbedConfig.resolution must be a power of two from {MIN_RESOLUTION} to {MAX_RESOLUTION}, got {r!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"TestbedConfig.seed must be a non-negative int, got {self.seed!r}")
        missing = [a for a in ATTRIBUTES if a not in self.marginals]
        unknown = [a for a in self.marginals if a not in ATTRIBUTES]
        if missing or unknown:
            raise ValueError(f"TestbedConfig.marginals must give a probability for exactly the attributes {list(ATTRIBUTES)}; "
                             f"missing {missing}, unknown {unknown}")
        for a, p in self.marginals.items():
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"TestbedConfig.marginals[{a!r}] must be a probability in [0, 1], got {p}")
        seen = set()
        for c in self.couplings:
            for name in (c.a, c.b):
                _check_name(name, "couplings")
            if c.a == c.b:
                raise ValueError(f"TestbedConfig.couplings: {c.a!r} is coupled with itself")
            if not -1.0 < float(c.strength) < 1.0:
                raise ValueError(f"TestbedConfig.couplings ({c.a}, {c.b}): strength must be in (-1, 1), got {c.strength}")
            key = frozenset((c.a, c.b))
            if key in seen:
                raise ValueError(f"TestbedConfig.couplings: pair ({c.a}, {c.b}) given twice")
            seen.add(key)
        for pair in self.forbidden:
            if len(pair) != 2 or pair[0] == pair[1]:
                raise ValueError(f"TestbedConfig.forbidden entries must be two different attribute names, got {pair!r}")
            for name in pair:
                _check_name(name, "forbidden")

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Label-column order (the same for every config)."""
        return ATTRIBUTES

    def replace(self, **changes: Any) -> "TestbedConfig":
        """A copy with some fields changed (validated again)."""
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        d.update(changes)
        return TestbedConfig(**d)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict."""
        d = asdict(self)
        d["forbidden"] = [list(p) for p in self.forbidden]
        d["nuisance"]["scale"] = list(self.nuisance.scale)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> "TestbedConfig":
        """Inverse of :meth:`to_dict`; ``source`` names the origin in error messages."""
        known = set(cls.__dataclass_fields__)
        extra = set(d) - known
        if extra:
            raise ValueError(f"{source}: unknown test bed config keys {sorted(extra)}; known keys are {sorted(known)}")
        d = dict(d)
        try:
            if "couplings" in d:
                d["couplings"] = [Coupling(**c) if isinstance(c, dict) else Coupling(*c) for c in d["couplings"]]
            if "forbidden" in d:
                d["forbidden"] = [tuple(p) for p in d["forbidden"]]
            if "nuisance" in d:
                n = dict(d["nuisance"])
                if "scale" in n:
                    n["scale"] = tuple(n["scale"])
                d["nuisance"] = NuisanceRanges(**n)
            return cls(**d)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: invalid test bed config: {exc}") from None

    def to_json(self) -> str:
        """Indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def save(self, path: os.PathLike | str) -> None:
        """Write the config as JSON, atomically."""
        atomic_write_bytes(path, (self.to_json() + "\n").encode())

    @classmethod
    def load(cls, path: os.PathLike | str) -> "TestbedConfig":
        """Read a config written by :meth:`save` (missing keys take their defaults)."""
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"test bed config {path} does not exist") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc}); write it with TestbedConfig.save or `dmetrics testbed export`") from None
        if not isinstance(d, dict):
            raise ValueError(f"{path}: expected a JSON object with test bed config keys, got {type(d).__name__}")
        return cls.from_dict(d, source=str(path))


def _check_name(name: str, where: str) -> None:
    if name not in ATTRIBUTES:
        raise ValueError(f"TestbedConfig.{where}: unknown attribute {name!r}; known attributes are {list(ATTRIBUTES)}")
