"""Where results go: ``--out`` checked before any compute, and computed results never lost.

A metric can run for hours; finding out afterwards that ``--out`` cannot be written (a folder in
the way, a parent that is a file, a read-only mount, a full disk) must not cost the numbers. So
every command checks its ``--out`` first (:func:`check_out_file`, :func:`check_out_dir`), and
:class:`ResultWriter` appends results, keeping each one that still fails to write in a fallback
file (and printing it) instead of raising.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import click


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest existing ancestor."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _probe_dir(folder: Path) -> None:
    """Create, write one byte to, sync and remove a file in ``folder``: raises OSError when any step fails
    (permissions, a read-only filesystem, no space left)."""
    fd, tmp = tempfile.mkstemp(prefix=".dmetrics-write-check-", dir=folder)
    try:
        os.write(fd, b"x")
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(tmp)


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def check_out_file(path: str, option: str = "--out") -> None:
    """Refuse (``click.BadParameter``) a results/output file that cannot be written, before any compute.

    Checks what can be checked without leaving anything behind: not a folder, no ancestor that is a
    file, an existing file opens for appending, and the folder it goes in (or the closest existing
    ancestor, as the writers create missing folders) takes a one-byte file.
    """
    p = Path(path)
    if p.is_dir():
        raise click.BadParameter(f"{path} is a folder; give a file name, e.g. {p / 'results.jsonl'}", param_hint=option)
    anc = _nearest_existing(p.parent)
    if not anc.is_dir():
        raise click.BadParameter(f"cannot write {path}: {anc} is a file, not a folder; choose another path",
                                 param_hint=option)
    try:
        if p.exists():
            os.close(os.open(p, os.O_WRONLY | os.O_APPEND))
        if not p.exists() or p.is_file():   # a device or pipe given as --out: only opening it says anything
            _probe_dir(anc)
    except OSError as exc:
        raise click.BadParameter(f"cannot write {path} ({_why(exc)}); choose a writable path before the metrics "
                                 "run", param_hint=option) from None


def check_out_dir(path: str, option: str = "--out") -> None:
    """Refuse (``click.BadParameter``) an output folder that cannot be created or written, before any compute."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise click.BadParameter(f"{path} is a file; give a folder", param_hint=option)
    anc = _nearest_existing(p)
    if not anc.is_dir():
        raise click.BadParameter(f"cannot create {path}: {anc} is a file, not a folder; choose another path",
                                 param_hint=option)
    try:
        _probe_dir(anc)
    except OSError as exc:
        raise click.BadParameter(f"cannot write into {path} ({_why(exc)}); choose a writable folder before the "
                                 "work starts", param_hint=option) from None


def fallback_path(out_path: str) -> Path:
    """Where results that could not be appended to ``out_path`` are kept: the temp folder, named after it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / f"dmetrics-unsaved-{Path(out_path).name}-{stamp}-{os.getpid()}.jsonl"


class ResultWriter:
    """Appends results to ``out_path``; a result that fails to write goes to a fallback file instead.

    After the first failure every later result goes to the fallback file too (the disk that filled
    up rarely empties mid-run). :meth:`report` says what went where.
    """

    def __init__(self, out_path: str, append: Optional[Callable[..., None]] = None) -> None:
        from disentangle_metrics._core.results import append_result
        self.out_path = out_path
        self._append = append or append_result
        self.written = 0                     # results in out_path
        self.saved: list[Any] = []           # results kept elsewhere (the fallback file, or only printed)
        self.error: Optional[str] = None     # why out_path failed
        self.fallback: Optional[Path] = None
        self.fallback_error: Optional[str] = None

    def add(self, result: Any, **kwargs: Any) -> None:
        """Append ``result`` (keyword arguments go to ``append_result``), or keep it safe when that fails."""
        if self.error is None:
            try:
                self._append(self.out_path, result, **kwargs)
                self.written += 1
                return
            except OSError as exc:
                self.error = f"{type(exc).__name__}: {_why(exc)}"
        self.saved.append(result)
        if self.fallback_error is not None:
            return
        if self.fallback is None:
            self.fallback = fallback_path(self.out_path)
        try:
            self._append(self.fallback, result)
        except OSError as exc:
            self.fallback_error = f"{type(exc).__name__}: {_why(exc)}"

    def report(self, echo: Callable[..., None] = click.echo) -> None:
        """Say where the results went; for results that missed ``out_path``, where they are and how to move them."""
        if self.written:
            echo(f"{self.written} result(s) appended to {Path(self.out_path).resolve()}")
        if not self.saved:
            return
        echo(f"error: {len(self.saved)} result(s) could not be appended to {self.out_path} ({self.error})", err=True)
        if self.fallback_error is None:
            echo(f"they are saved in {self.fallback}; once {self.out_path} is writable: "
                 f"cat {self.fallback} >> {self.out_path}", err=True)
        else:
            echo(f"the fallback file {self.fallback} failed too ({self.fallback_error}); the result lines:", err=True)
            for r in self.saved:
                echo(r.to_json())


# the paper's generated sample count per metric family (FID/KID/PR/IS: 50k as in stylegan2-ada's
# metrics; PPL 100k and separability 200k as in the StyleGAN paper), for the "fewer than the paper" note
PAPER_COUNTS = (("fid", 50_000), ("kid", 50_000), ("pr", 50_000), ("is", 50_000), ("ppl_", 100_000), ("ls", 200_000))


def paper_count(name: str) -> Optional[int]:
    """The paper's generated sample count for a metric name (None when the family has none)."""
    return next((n for prefix, n in PAPER_COUNTS if name.startswith(prefix)), None)


def fewer_than_paper_note(name: str, num_samples: Optional[int], shown: Optional[str] = None) -> Optional[str]:
    """The warning for a run of metric ``name`` (printed as ``shown``) with fewer generated samples than
    the paper's, or None."""
    paper = paper_count(name)
    if num_samples is None or paper is None or num_samples >= paper:
        return None
    return (f"note: {shown or name} with {num_samples} samples instead of the paper's {paper}: a quick estimate, not "
            "comparable with published numbers")


@contextlib.contextmanager
def notes_from_results() -> Iterator[None]:
    """Silence the library's :class:`RecordedWarning` inside: the command prints :func:`result_notes`
    of each result instead, so every finding shows once."""
    from disentangle_metrics._core.results import RecordedWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordedWarning)
        yield


def result_notes(res: Any) -> list[str]:
    """What a result says about itself that a reader must see: a rank-deficient covariance, a resized
    reference, notes of a comparison of statistics files (one line each)."""
    ex = res.extras or {}
    lines = [f"note: {res.metric}: {n}" for n in ex.get("rank_deficient", [])]
    if ex.get("reference_resized"):
        lines.append(f"note: {res.metric}: {ex['reference_resized']}")
    lines += [f"note: {res.metric}: {n}" for n in ex.get("notes", [])]
    return lines


def time_text(res: Any) -> str:
    """The time a result took, honestly: its own step plus, for metrics computed together in one
    pass over the images (FID/KID/PR/IS), the shared generation and reference passes."""
    own = res.wall_time_s or 0.0
    ex = res.extras or {}
    shared = float(ex.get("shared_generate_s", 0.0) or 0.0) + float(ex.get("shared_real_s", 0.0) or 0.0)
    if not shared:
        return f"{own:.1f} s"
    with_n = len(ex.get("shared_with") or ())
    of = f" of {with_n} metrics" if with_n > 1 else ""
    return f"{own:.1f} s + shared pass{of} {shared:.1f} s"


def interrupted_text(written: int, out_path: str, done: list[str], pending: list[str],
                     argv: Optional[list[str]] = None) -> str:
    """What Ctrl-C during `score` leaves: results saved, where, and the command that continues."""
    import shlex
    lines = [f"interrupted: {written} result(s) saved to {Path(out_path).resolve()}"
             + (f" ({', '.join(done)})" if done else "")]
    if pending:
        lines.append(f"not finished: {', '.join(pending)} (a metric cut short starts again from its beginning)")
    cmd = "the same command with --resume"
    if argv and "score" in argv:
        args = argv[argv.index("score"):]
        cmd = "dmetrics " + shlex.join(args + ([] if "--resume" in args else ["--resume"]))
    lines.append(f"to continue, run {cmd}: it skips what is already in {out_path}")
    return "\n".join(lines)
