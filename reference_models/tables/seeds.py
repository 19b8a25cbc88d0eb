"""Tables over training seeds: cells as mean +- spread, claims decided with their confidence.

``dmetrics tables --seeds N`` runs the single-seed pipeline (:mod:`reference_models.tables.run`) once per seed
into ``<out>/seed<k>/`` and combines the runs here. Two kinds of uncertainty are kept apart:

- seed-to-seed: the spread of a number over independently trained generators (Student-t 95%
  interval of the mean over N seeds, :func:`~disentangle_metrics.functional.intervals.seed_interval`);
- within-run: the metric's own sampling interval for one generator (``MetricResult.intervals``:
  PPL and separability bootstrap, FID jackknife), averaged over seeds as a half-width.

A claim is a set of differences (:class:`reference_models.tables.paper.Term`), each positive when it holds.
Its interval per term comes from the seeds when N >= 2 (the term computed per seed), else from the
within-run intervals (SE of a difference = sqrt(SE_a^2 + (factor SE_b)^2), the two numbers taken
as independent). Verdict: "holds with confidence" when every term's interval lies above 0, "fails
with confidence" when some term's interval lies below 0, otherwise "holds on the mean only" /
"fails on the mean only" by the sign of the smallest mean term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from disentangle_metrics.functional import intervals as I
from disentangle_metrics._core.results import MetricResult

from .paper import CLAIMS, Term

KEYS = ("fid", "ppl_zfull", "ppl_zend", "ppl_wfull", "ppl_wend", "ls_z", "ls_w")


@dataclass
class Run:
    """One seed's measurements: {preset: {key: value}}, {preset: {key: Interval}} and, for values that
    are NaN, {preset: {key: why}} (e.g. separability with too few kept samples in a class)."""

    seed: int
    values: dict[str, dict[str, float]]
    intervals: dict[str, dict[str, I.Interval]]
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)


def intervals_of(results: dict[str, MetricResult]) -> dict[str, I.Interval]:
    """Canonical key (fid, ppl_zfull, ..., ls_z, ls_w) -> within-run interval, from a preset's job results."""
    out: dict[str, I.Interval] = {}
    for job, r in results.items():
        for name, d in (r.intervals or {}).items():
            key = name.split("@")[0]
            if job == "ls" and key in ("ls_z", "ls_w"):
                out[key] = I.Interval(**d)
            elif job != "ls" and name == r.metric:
                out[job] = I.Interval(**d)
    return out


def nan_reasons_of(results: dict[str, MetricResult]) -> dict[str, str]:
    """Canonical key -> why its value is NaN, for every NaN value of a preset's job results."""
    from .run import values_of
    out: dict[str, str] = {}
    for key, v in values_of(results).items():
        if math.isfinite(v):
            continue
        job = "ls" if key in ("ls_z", "ls_w") else key
        why = (results[job].extras or {}).get("nan_reason") if job in results else None
        if isinstance(why, dict):   # separability: per space
            why = why.get(key[-1])
        out[key] = str(why) if why else "the metric returned NaN"
    return out


def seed_dir(out: Path, seed: int) -> Path:
    """Where seed ``seed``'s single-seed run lives."""
    return out / f"seed{seed}"


def real_floor(scale: Any, out: Path) -> Optional[float]:
    """FID of ``fid_num_gen`` test-bed images of another seed (1) against the scale's reference: the
    value a perfect generator would get at these counts (FID's bias depends on N). Cached in
    ``out/floor.json``; None for a reference other than the test bed."""
    import json

    from disentangle_metrics.data.testbed_config import TestbedConfig
    from disentangle_metrics.features.cache import testbed_stats
    from disentangle_metrics.functional.frechet import frechet_details
    from disentangle_metrics._core.results import atomic_write_bytes

    if scale.fid_reference != "testbed":
        return None
    path = out / "floor.json"
    key = {"extractor": scale.extractor, "num_gen": scale.fid_num_gen, "num_real": scale.fid_num_real,
           "resolution": scale.resolution}
    if path.is_file():
        d = json.loads(path.read_text())
        if d.get("key") == key:
            return float(d["fid"])
    ref = testbed_stats(scale.extractor, scale.fid_num_real, scale.resolution, progress=False)
    other = testbed_stats(scale.extractor, scale.fid_num_gen, scale.resolution, config=TestbedConfig(seed=1),
                          progress=False)
    v = float(frechet_details(other.mean(), other.cov(), ref.mean(), ref.cov()).distance)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps({"key": key, "fid": v}, indent=2) + "\n").encode())
    return v


def collect_runs(dirs: list[tuple[int, Path]], presets: list[str]) -> list[Run]:
    """The measurements of every (seed, run folder) pair (finished or not)."""
    from .run import METRICS_FILE, finished_jobs, values_of
    runs = []
    for s, d in dirs:
        vals, ivs, why = {}, {}, {}
        for p in presets:
            f = d / p / METRICS_FILE
            if f.is_file():
                jobs = finished_jobs(f)
                vals[p], ivs[p], why[p] = values_of(jobs), intervals_of(jobs), nan_reasons_of(jobs)
        runs.append(Run(s, vals, ivs, why))
    return runs


@dataclass(frozen=True)
class Cell:
    """One table cell over seeds."""

    mean: float
    n: int                      # seeds with a value
    seed_low: float             # t interval of the mean over seeds (NaN with one seed)
    seed_high: float
    run_half: float             # mean half-width of the within-run 95% intervals (NaN when none)
    reason: str = ""            # why a seed's value is NaN (then ``n`` counts the finite ones only)

    @property
    def seed_half(self) -> float:
        return (self.seed_high - self.seed_low) / 2

    def text(self) -> str:
        """``mean +- seed half-width (run +- r, n seeds)``; ``NaN (why)`` when no seed has a finite value."""
        if not math.isfinite(self.mean):
            return f"NaN ({self.reason})" if self.reason else "-"
        s = f"{_g(self.mean)}"
        if math.isfinite(self.seed_half):
            s += f" +- {_g(self.seed_half)}"
        if math.isfinite(self.run_half):
            s += f" (run +- {_g(self.run_half)})"
        if self.reason:
            s += f" (NaN in some seeds: {self.reason})"
        return s


def _g(v: float) -> str:
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"


def aggregate(runs: list[Run]) -> dict[str, dict[str, Cell]]:
    """{preset: {key: Cell}} over the runs that measured it."""
    out: dict[str, dict[str, Cell]] = {}
    presets = sorted({p for r in runs for p in r.values})
    for p in presets:
        for k in KEYS:
            vals = [r.values[p][k] for r in runs if k in r.values.get(p, {})]
            if not vals:
                continue
            finite = [v for v in vals if math.isfinite(v)]
            reason = "; ".join(dict.fromkeys(r.reasons[p][k] for r in runs if k in r.reasons.get(p, {})))
            if len(finite) < len(vals) and not reason:
                reason = "the metric returned NaN"
            if not finite:   # a NaN cell is shown with its reason, not an error that loses the whole report
                out.setdefault(p, {})[k] = Cell(float("nan"), 0, float("nan"), float("nan"), float("nan"), reason)
                continue
            try:
                iv = I.seed_interval(finite)
            except ValueError as exc:
                raise ValueError(f"preset {p}, metric {k}: {exc}") from None
            halves = [(x.high - x.low) / 2 for r in runs if (x := r.intervals.get(p, {}).get(k)) is not None
                      and math.isfinite(x.high - x.low)]
            out.setdefault(p, {})[k] = Cell(iv.value, len(finite), iv.low, iv.high,
                                            float(sum(halves) / len(halves)) if halves else float("nan"), reason)
    return out


def means(cells: dict[str, dict[str, Cell]]) -> dict[str, dict[str, float]]:
    """{preset: {key: mean over seeds}} for the paper-vs-ours tables."""
    return {p: {k: c.mean for k, c in d.items()} for p, d in cells.items()}


def _term_interval(term: Term, runs: list[Run]) -> Optional[I.Interval]:
    vals = [v for r in runs if (v := term.value(r.values)) is not None and math.isfinite(v)]
    if not vals:
        return None
    if len(vals) >= 2:
        return I.seed_interval(vals)
    r = next(r for r in runs if (v := term.value(r.values)) is not None and math.isfinite(v))
    a = r.intervals.get(term.plus[0], {}).get(term.plus[1])
    b = r.intervals.get(term.minus[0], {}).get(term.minus[1])
    if a is None or b is None:
        return I.Interval(vals[0], float("nan"), float("nan"), float("nan"), "one seed, no within-run interval")
    se = math.hypot(a.stderr, term.factor * b.stderr)
    return I.normal_interval(vals[0], se, "one seed, within-run intervals")


def claims_with_confidence(runs: list[Run]) -> pd.DataFrame:
    """One row per claim: margin, its interval, basis, seeds holding, verdict.

    A claim of several terms (a chain a > b > c) holds with confidence when every term's interval
    is above 0 and fails with confidence when one term's is below 0. The margin shown is the term
    that decides: the one whose interval lies furthest below 0 for a confident failure, else the
    smallest mean term.
    """
    rows = []
    for c in CLAIMS:
        undefined = _nan_refs(c.terms, runs)
        if undefined:   # a number the claim needs is NaN in every seed: say which and why
            rows.append({"claim": c.text, "holds": None, "margin": None, "margin_low": None, "margin_high": None,
                         "verdict": "undefined: " + "; ".join(undefined), "seeds_holding": "", "basis": ""})
            continue
        ivs = [_term_interval(t, runs) for t in c.terms]
        per_seed = [c.margin(r.values) for r in runs]
        per_seed = [m for m in per_seed if m is not None and math.isfinite(m)]   # a NaN seed neither holds nor fails
        if any(iv is None for iv in ivs):
            rows.append({"claim": c.text, "holds": None, "margin": None, "margin_low": None, "margin_high": None,
                         "verdict": "not measured", "seeds_holding": "", "basis": ""})
            continue
        worst = min(ivs, key=lambda iv: iv.value)   # type: ignore[union-attr]
        lows = [iv.low for iv in ivs]               # type: ignore[union-attr]
        failing = [iv for iv in ivs if math.isfinite(iv.high) and iv.high < 0]   # type: ignore[union-attr]
        if all(math.isfinite(x) and x > 0 for x in lows):
            verdict = "holds with confidence"
        elif failing:
            verdict = "fails with confidence"
            worst = min(failing, key=lambda iv: iv.high)
        else:
            verdict = "holds on the mean only" if worst.value > 0 else "fails on the mean only"  # type: ignore[union-attr]
        rows.append({"claim": c.text, "holds": bool(worst.value > 0), "margin": worst.value,  # type: ignore[union-attr]
                     "margin_low": worst.low, "margin_high": worst.high, "verdict": verdict,  # type: ignore[union-attr]
                     "seeds_holding": f"{sum(m > 0 for m in per_seed)}/{len(per_seed)}",
                     "basis": worst.method})                                                  # type: ignore[union-attr]
    return pd.DataFrame(rows)


def _nan_refs(terms: tuple[Term, ...], runs: list[Run]) -> list[str]:
    """``preset key is NaN (why)`` for each number of ``terms`` measured only as NaN."""
    out = []
    for preset, key in dict.fromkeys(ref for t in terms for ref in (t.plus, t.minus)):
        vals = [r.values[preset][key] for r in runs if key in r.values.get(preset, {})]
        if vals and not any(math.isfinite(v) for v in vals):
            why = next((r.reasons[preset][key] for r in runs if key in r.reasons.get(preset, {})), "")
            out.append(f"{preset} {key} is NaN" + (f" ({why})" if why else ""))
    return out


def cell_frame(df: pd.DataFrame, cells: dict[str, dict[str, Cell]], rows: tuple[Any, ...]) -> pd.DataFrame:
    """``df`` (a table_frame) with each "(ours)" cell replaced by its :meth:`Cell.text`."""
    out = df.copy().astype(object)
    for i, r in enumerate(rows):
        c = cells.get(r.preset, {})
        keys = {"FID (ours)": "fid", "full (ours)": f"ppl_{r.space}full", "end (ours)": f"ppl_{r.space}end",
                "separability (ours)": f"ls_{r.space}"}
        for col, key in keys.items():
            if col in out.columns:
                out.at[i, col] = c[key].text() if key in c else "-"
    return out


def spread_columns(df: pd.DataFrame, cells: dict[str, dict[str, Cell]], rows: tuple[Any, ...]) -> pd.DataFrame:
    """``df`` with, per "(ours)" column, the seed interval and the within-run half-width (for the CSV)."""
    out = df.copy()
    for col, key_of in (("FID", lambda r: "fid"), ("full", lambda r: f"ppl_{r.space}full"),
                        ("end", lambda r: f"ppl_{r.space}end"), ("separability", lambda r: f"ls_{r.space}")):
        if f"{col} (ours)" not in out.columns:
            continue
        get = [cells.get(r.preset, {}).get(key_of(r)) for r in rows]
        out[f"{col} (seeds low)"] = [c.seed_low if c else None for c in get]
        out[f"{col} (seeds high)"] = [c.seed_high if c else None for c in get]
        out[f"{col} (run half-width)"] = [c.run_half if c else None for c in get]
        out[f"{col} (n seeds)"] = [c.n if c else 0 for c in get]
    return out
