"""Write the reproduced Tables 3/4 and the claims as CSV, Markdown, LaTeX and PNG plots.

Every Markdown file starts with a header block: the scale (dataset, resolution, kimg, samples per
metric, networks), the git commit of the code and the hardware. The LaTeX files carry the same
header as ``%`` comments.
"""

from __future__ import annotations

import math
import platform
import subprocess
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from disentangle_metrics._core.results import atomic_write_bytes

from .paper import TABLE3, TABLE4, check_claims, table_frame
from .scale import Scale

REPO = Path(__file__).resolve().parents[2]   # the checkout (or site-packages when installed)


def git_commit(repo: Path = REPO) -> str:
    """The checkout's commit hash, with ``-dirty`` when tracked files are modified.

    An installed package (``repo`` holds no ``.git``: site-packages) has no commit; the header then
    names the installed version instead, rather than the commit of whatever checkout encloses it.
    """
    if not (repo / ".git").exists():
        from disentangle_metrics._core.version import __version__
        return f"none (installed disentangle-metrics {__version__}, not a git checkout: {repo})"
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise RuntimeError(f"cannot read the git commit of {repo} ({exc}); run from a git checkout") from exc
    return sha + ("-dirty" if dirty else "")


def hardware() -> str:
    """CPU / GPU / torch description of this machine."""
    import os

    import torch
    parts = [f"{platform.machine()} {platform.processor() or platform.system()}", f"{os.cpu_count()} CPU cores",
             f"torch {torch.__version__}"]
    if torch.cuda.is_available():
        parts.append("GPU " + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())))
    else:
        parts.append("no GPU")
    return "; ".join(parts)


def header_lines(scale: Scale, commit: str, hw: str, extra: Optional[list[str]] = None) -> list[str]:
    """The header block of every output file (without comment markers)."""
    lines = scale.header_lines() + [f"code: git commit {commit}", f"hardware: {hw}"]
    return lines + list(extra or [])


def _fmt(v: object) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-Markdown table (no tabulate dependency); ``|`` inside cells is escaped."""
    def cell(v: object) -> str:
        return _fmt(v).replace("|", "\\|")

    cols = [cell(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(cell(row[c]) for c in df.columns) + " |")
    return "\n".join(lines) + "\n"


def _tex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        s = s.replace(a, b)
    return s


def to_latex(df: pd.DataFrame, caption: str) -> str:
    """A booktabs tabular laid out like the paper's table: one column group per metric, each with
    a "paper" and an "ours" column (columns named ``"<metric> (paper)"`` / ``"<metric> (ours)"``)."""
    cols = list(df.columns)
    plain = [c for c in cols if not c.endswith((" (paper)", " (ours)"))]
    groups = [c[: -len(" (paper)")] for c in cols if c.endswith(" (paper)")]
    order = plain + [f"{g} ({w})" for g in groups for w in ("paper", "ours")]
    spec = "l" * len(plain) + "cc" * len(groups)
    top = " & ".join([_tex_escape(c) for c in plain] + [rf"\multicolumn{{2}}{{c}}{{{_tex_escape(g)}}}" for g in groups])
    rules = " ".join(rf"\cmidrule(lr){{{len(plain) + 2 * i + 1}-{len(plain) + 2 * i + 2}}}" for i in range(len(groups)))
    sub = " & ".join([""] * len(plain) + ["paper", "ours"] * len(groups))
    lines = [r"\begin{table}", r"\centering", rf"\caption{{{_tex_escape(caption)}}}", rf"\begin{{tabular}}{{{spec}}}",
             r"\toprule", top + r" \\", rules, sub + r" \\", r"\midrule"]
    for _, row in df.iterrows():
        lines.append(" & ".join(_tex_escape(_fmt(row[c])) for c in order) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def plot_table(df: pd.DataFrame, title: str, path: Path, errors: Optional[pd.DataFrame] = None) -> None:
    """Ours / paper per row and column (1 = the paper's value, log axis), one panel per metric, as PNG.

    ``errors`` (optional, from :func:`reference_models.tables.seeds.spread_columns`): "<metric> (seeds low/high)"
    columns drawn as error bars (95% interval of the mean over seeds)."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    metrics = [c[: -len(" (paper)")] for c in df.columns if c.endswith(" (paper)")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics) + 2.5, 0.45 * len(df) + 1.8), sharey=True,
                             layout="constrained")
    labels = [f"{g} ({s})" for g, s in zip(df["generator"], df["space"])]
    y = np.arange(len(df))
    for ax, m in zip(np.atleast_1d(axes), metrics):
        paper = pd.to_numeric(df[f"{m} (paper)"], errors="coerce").to_numpy(float)
        ours = pd.to_numeric(df[f"{m} (ours)"], errors="coerce").to_numpy(float)
        ratio = ours / paper
        ok = np.isfinite(ratio) & (ratio > 0)
        ax.hlines(y[ok], 1.0, ratio[ok], color="tab:blue", lw=2)
        ax.plot(ratio[ok], y[ok], "o", color="tab:blue")
        lo, hi = (min(ratio[ok].min(), 1.0), max(ratio[ok].max(), 1.0)) if ok.any() else (1.0, 1.0)
        if errors is not None and f"{m} (seeds low)" in errors.columns:
            lo_r = pd.to_numeric(errors[f"{m} (seeds low)"], errors="coerce").to_numpy(float) / paper
            hi_r = pd.to_numeric(errors[f"{m} (seeds high)"], errors="coerce").to_numpy(float) / paper
            eb, lo_plot, cut = log_error_bars(ratio, lo_r, hi_r, ok, lo / 2)
            ax.errorbar(ratio[eb], y[eb], xerr=[ratio[eb] - lo_plot[eb], hi_r[eb] - ratio[eb]], fmt="none",
                        ecolor="tab:red", capsize=3, lw=1)
            # an interval reaching 0 or below has no place on a log axis: drawn to the edge, marked '<'
            ax.plot(lo_plot[cut], y[cut], "<", color="tab:red", ms=5)
        for yi, r in zip(y[ok], ratio[ok]):
            ax.annotate(f"{r:.3g}", (r, yi), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
        measured_nan = [isinstance(v, float) and math.isnan(v) for v in df[f"{m} (ours)"]]
        for yi in y[~ok]:
            ax.text(0.5, yi, "NaN (see the table)" if measured_nan[yi] else "not measured", va="center", ha="center",
                    fontsize=7, color="gray", transform=ax.get_yaxis_transform())
        ax.axvline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xlim(lo / 2, hi * 2)
        # a range under one decade makes matplotlib label minor ticks too, and they overlap
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{m}: ours / paper (log)")
    np.atleast_1d(axes)[0].set_yticks(y, labels, fontsize=8)
    np.atleast_1d(axes)[0].set_ylim(len(df) - 0.4, -0.7)   # first row on top, room for the labels
    fig.suptitle(title, fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def log_error_bars(ratio: np.ndarray, low: np.ndarray, high: np.ndarray, ok: np.ndarray, edge: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Error bars of ``ratio`` on a log axis whose left edge is ``edge``: (drawn, low end to draw, cut).

    A low end at or below 0 (or left of the edge) is drawn at the edge and reported in ``cut``,
    so a seed interval wider than its mean is shown, not dropped."""
    drawn = ok & np.isfinite(low) & np.isfinite(high)
    cut = drawn & (low < edge)
    return drawn, np.where(cut, edge, low), cut


def write_report(out: Path, scale: Scale, measured: dict[str, dict[str, float]], commit: str, hw: str,
                 extra_header: Optional[list[str]] = None, cells: Optional[dict] = None,
                 claims: Optional[pd.DataFrame] = None) -> dict[str, pd.DataFrame]:
    """Write table3/table4 (csv, md, tex, png) and claims (csv, md) into ``out``; returns the frames.

    ``cells`` ({preset: {key: reference_models.tables.seeds.Cell}}): cells shown as mean +- spread, spread
    columns in the CSV and error bars in the plots; ``claims``: a claims frame to write instead of
    :func:`check_claims` on ``measured`` (e.g. :func:`reference_models.tables.seeds.claims_with_confidence`).
    """
    from .seeds import cell_frame, spread_columns

    out.mkdir(parents=True, exist_ok=True)
    head = header_lines(scale, commit, hw, extra_header)
    md_head = "\n".join(f"- {h}" for h in head) + "\n\n"
    tex_head = "".join(f"% {h}\n" for h in head)
    frames = {"table3": table_frame(TABLE3, measured), "table4": table_frame(TABLE4, measured)}
    rows = {"table3": TABLE3, "table4": TABLE4}
    titles = {"table3": "Table 3: perceptual path length and separability (paper: FFHQ 1024x1024)",
              "table4": "Table 4: effect of the mapping network depth (paper: FFHQ 1024x1024)"}
    for name, df in frames.items():
        csv_df = spread_columns(df, cells, rows[name]) if cells is not None else df
        shown = cell_frame(df, cells, rows[name]) if cells is not None else df
        csv_df.to_csv(out / f"{name}.csv.tmp", index=False)
        (out / f"{name}.csv.tmp").replace(out / f"{name}.csv")
        _write_text(out / f"{name}.md", f"# {titles[name]}, reproduced at scale '{scale.name}'\n\n" + md_head
                    + to_markdown(shown))
        _write_text(out / f"{name}.tex", tex_head + to_latex(shown, f"{titles[name]}; ours at scale {scale.name}"))
        plot_table(df, f"{titles[name]}\nscale {scale.name}, commit {commit[:12]}", out / f"{name}.png",
                   errors=csv_df if cells is not None else None)
    claims = check_claims(measured) if claims is None else claims
    frames["claims"] = claims
    claims.to_csv(out / "claims.csv.tmp", index=False)
    (out / "claims.csv.tmp").replace(out / "claims.csv")
    _write_text(out / "claims.md", f"# The paper's qualitative claims at scale '{scale.name}'\n\n" + md_head
                + to_markdown(claims))
    return frames


def claims_text(claims: pd.DataFrame) -> str:
    """One line per claim: holds / fails / not measured, with the margin."""
    lines = []
    for _, r in claims.iterrows():
        state = "not measured" if r["holds"] is None or pd.isna(r["holds"]) else ("HOLDS" if r["holds"] else "FAILS")
        margin = "" if r["margin"] is None or pd.isna(r["margin"]) else f" (margin {r['margin']:+.4g})"
        if "verdict" in r and isinstance(r["verdict"], str) and r["verdict"].startswith("undefined"):
            state, margin = "UNDEFINED", f" ({r['verdict'][len('undefined: '):]})"
        elif "verdict" in r and isinstance(r["verdict"], str) and r["verdict"] != "not measured":
            ci = ("" if r["margin_low"] is None or pd.isna(r["margin_low"])
                  else f", 95% [{r['margin_low']:+.4g}, {r['margin_high']:+.4g}]")
            state = r["verdict"].upper().replace("WITH CONFIDENCE", "(CONFIDENT)").replace("ON THE MEAN ONLY", "(MEAN ONLY)")
            margin = f" (margin {r['margin']:+.4g}{ci}; {r['basis']}; seeds holding {r['seeds_holding']})"
        lines.append(f"  [{state:18s}] {r['claim']}{margin}")
    return "\n".join(lines)
