"""The paper's Tables 3 and 4 as data, and the qualitative claims our runs are checked against.

Values: Karras et al. 2019, FFHQ 1024x1024 (see ../shared/reference-facts.md). A row names the
preset of `reference_models.configs` that reproduces it and the latent space it is scored in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import pandas as pd


@dataclass(frozen=True)
class PaperRow:
    """One row of Table 3 or 4."""

    table: int
    label: str
    preset: str
    space: str                      # 'z' or 'w': the space the row's PPL and separability use
    ppl_full: float
    ppl_end: float
    separability: float
    fid: Optional[float] = None     # Table 4 only


TABLE3 = (
    PaperRow(3, "B Traditional generator", "b-traditional", "z", 412.0, 415.3, 10.78),
    PaperRow(3, "D Style-based generator", "d-style", "w", 446.2, 376.6, 3.61),
    PaperRow(3, "E + Add noise inputs", "e-noise", "w", 200.5, 160.6, 3.54),
    PaperRow(3, "+ Mixing 50%", "mixing50", "w", 231.5, 182.1, 3.51),
    PaperRow(3, "F + Mixing 90%", "f-mixing90", "w", 234.0, 195.9, 3.79),
)

TABLE4 = (
    PaperRow(4, "Traditional 0 Z", "b-traditional", "z", 412.0, 415.3, 10.78, 5.25),
    PaperRow(4, "Traditional 8 Z", "traditional-map8", "z", 896.2, 902.0, 170.29, 4.87),
    PaperRow(4, "Traditional 8 W", "traditional-map8", "w", 324.5, 212.2, 6.52, 4.87),
    PaperRow(4, "Style-based 0 Z", "style-map0", "z", 283.5, 285.5, 9.88, 5.06),
    PaperRow(4, "Style-based 1 W", "style-map1", "w", 219.9, 209.4, 6.81, 4.60),
    PaperRow(4, "Style-based 2 W", "style-map2", "w", 217.8, 199.9, 6.25, 4.43),
    PaperRow(4, "Style-based 8 W", "f-mixing90", "w", 234.0, 195.9, 3.79, 4.40),
)


def presets_needed() -> list[str]:
    """Every preset that must be trained for both tables, in first-use order."""
    seen: list[str] = []
    for r in TABLE3 + TABLE4:
        if r.preset not in seen:
            seen.append(r.preset)
    return seen


Ref = tuple[str, str]          # (preset, metric key)


@dataclass(frozen=True)
class Term:
    """One difference a claim needs: value(plus) - factor * value(minus), positive when it holds."""

    plus: Ref
    minus: Ref
    factor: float = 1.0

    def value(self, m: dict) -> Optional[float]:
        a, b = _get(m, *self.plus), _get(m, *self.minus)
        return None if a is None or b is None else a - self.factor * b


@dataclass(frozen=True)
class Claim:
    """A qualitative statement of the paper, checked on measured numbers.

    It holds when every term is positive; its margin is the smallest term (in the metric's units),
    None when a number it needs is missing.
    """

    text: str
    terms: tuple[Term, ...]

    def margin(self, m: dict) -> Optional[float]:
        """The smallest term on ``m`` = {preset: {metric key: value}} (None when one is missing)."""
        vals = [t.value(m) for t in self.terms]
        return None if any(v is None for v in vals) else min(vals)  # type: ignore[type-var]


def _get(m: dict, preset: str, key: str) -> Optional[float]:
    v = m.get(preset, {}).get(key)
    return None if v is None else float(v)


F = "f-mixing90"
CLAIMS = (
    Claim("style-based generator (F): W path length (full) shorter than Z",
          (Term((F, "ppl_zfull"), (F, "ppl_wfull")),)),
    Claim("style-based generator (F): in W, end-point path length shorter than full",
          (Term((F, "ppl_wfull"), (F, "ppl_wend")),)),
    Claim("style-based generator (F): in Z, end-point path length not shorter than full (|end-full| < 5% of full, or end > full)",
          (Term((F, "ppl_zend"), (F, "ppl_zfull"), 0.95),)),
    Claim("style-based generator (F): W more separable than Z (lower score)",
          (Term((F, "ls_z"), (F, "ls_w")),)),
    Claim("traditional + mapping: Z separability worse than without mapping (traditional-map8 ls_z > b-traditional ls_z)",
          (Term(("traditional-map8", "ls_z"), ("b-traditional", "ls_z")),)),
    Claim("traditional + mapping: W separability better than traditional Z (traditional-map8 ls_w < b-traditional ls_z)",
          (Term(("b-traditional", "ls_z"), ("traditional-map8", "ls_w")),)),
    Claim("deeper mapping improves FID (style-map0 > style-map1 > style-map2 > f-mixing90)",
          (Term(("style-map0", "fid"), ("style-map1", "fid")), Term(("style-map1", "fid"), ("style-map2", "fid")),
           Term(("style-map2", "fid"), (F, "fid")))),
    Claim("deeper mapping improves separability (style-map1 ls_w > style-map2 ls_w > f-mixing90 ls_w)",
          (Term(("style-map1", "ls_w"), ("style-map2", "ls_w")), Term(("style-map2", "ls_w"), (F, "ls_w")))),
)


def check_claims(measured: dict) -> pd.DataFrame:
    """Evaluate every claim on ``measured`` = {preset: {metric key: value}}; one row per claim.

    Metric keys: fid, ppl_zfull, ppl_zend, ppl_wfull, ppl_wend, ls_z, ls_w.
    """
    rows = []
    for c in CLAIMS:
        mg = c.margin(measured)
        if mg is not None and not math.isfinite(mg):   # a NaN number: neither holds nor fails
            mg = None
        rows.append({"claim": c.text, "holds": None if mg is None else bool(mg > 0), "margin": mg})
    return pd.DataFrame(rows)


def table_frame(rows: tuple[PaperRow, ...], measured: dict) -> pd.DataFrame:
    """Our numbers beside the paper's, laid out like the paper's table."""
    out = []
    for r in rows:
        m = measured.get(r.preset, {})
        rec = {"generator": r.label, "space": r.space.upper()}
        if r.table == 4:
            rec.update({"FID (paper)": r.fid, "FID (ours)": m.get("fid")})
        rec.update({
            "full (paper)": r.ppl_full, "full (ours)": m.get(f"ppl_{r.space}full"),
            "end (paper)": r.ppl_end, "end (ours)": m.get(f"ppl_{r.space}end"),
            "separability (paper)": r.separability, "separability (ours)": m.get(f"ls_{r.space}"),
        })
        out.append(rec)
    return pd.DataFrame(out)
