"""Binary attribute labels: CelebA's ``list_attr_celeba.txt`` layout and a simple CSV.

CelebA layout::

    3
    Male Smiling Eyeglasses
    000001.png  1 -1 -1
    000002.png -1  1  1
    000003.png -1 -1  1

(line 1 the number of images, line 2 the attribute names, then one row per image with +1/-1 values).
CSV layout: a header ``filename,<attr>,...`` and one row per image with 0/1 values.
Every problem raises :class:`LabelFormatError` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from disentangle_metrics._core.results import atomic_write_bytes

CELEBA_FILENAME = "list_attr_celeba.txt"


class LabelFormatError(ValueError):
    """A label file that does not follow its format; the message names the file and line."""


@dataclass
class AttributeLabels:
    """Per-image binary attributes: ``values[i, k]`` is attribute ``names[k]`` of image ``filenames[i]``."""

    filenames: list[str]
    names: list[str]
    values: np.ndarray  # bool [N, A]

    def __post_init__(self) -> None:
        self.filenames = [str(f) for f in self.filenames]
        self.names = [str(n) for n in self.names]
        self.values = np.asarray(self.values)
        if self.values.dtype != bool:
            if not np.isin(self.values, (0, 1)).all():
                raise ValueError("AttributeLabels.values must be boolean or 0/1")
            self.values = self.values.astype(bool)
        if self.values.shape != (len(self.filenames), len(self.names)):
            raise ValueError(f"AttributeLabels.values has shape {self.values.shape}, expected "
                             f"({len(self.filenames)} files, {len(self.names)} attributes)")
        _check_unique(self.names, "attribute name", "AttributeLabels")
        _check_unique(self.filenames, "file name", "AttributeLabels")
        for n in self.names:
            if not n or any(ch.isspace() for ch in n) or "," in n:
                raise ValueError(f"attribute name {n!r} must be non-empty without spaces or commas")
        for f in self.filenames:
            if not f or any(ch.isspace() for ch in f) or "," in f:
                raise ValueError(f"file name {f!r} must be non-empty without spaces or commas "
                                 "(they could not be read back from the label file)")

    def column(self, name: str) -> np.ndarray:
        """Boolean column of one attribute."""
        if name not in self.names:
            raise KeyError(f"no attribute {name!r}; the labels have {self.names}")
        return self.values[:, self.names.index(name)]

    def check_files(self, root: os.PathLike | str, source: str = "labels") -> None:
        """Raise :class:`LabelFormatError` if a labelled file does not exist under ``root``."""
        root = Path(root)
        missing = [f for f in self.filenames if not (root / f).is_file()]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise LabelFormatError(f"{source}: {len(missing)} of {len(self.filenames)} labelled files are missing "
                                   f"from {root}: {shown}")


def _check_unique(items: Sequence[str], what: str, source: str, line: int | None = None) -> None:
    seen: dict[str, int] = {}
    for k, x in enumerate(items):
        if x in seen:
            where = f"{source}, line {line}" if line is not None else source
            raise LabelFormatError(f"{where}: duplicate {what} {x!r} (positions {seen[x] + 1} and {k + 1})")
        seen[x] = k


def write_celeba_attributes(path: os.PathLike | str, labels: AttributeLabels) -> None:
    """Write CelebA's ``list_attr_celeba.txt`` layout, atomically."""
    lines = [str(len(labels.filenames)), " ".join(labels.names)]
    width = max((len(f) for f in labels.filenames), default=0)
    for f, row in zip(labels.filenames, labels.values):
        lines.append(f.ljust(width) + " " + " ".join(" 1" if v else "-1" for v in row))
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def read_celeba_attributes(path: os.PathLike | str, check_dir: os.PathLike | str | None = None) -> AttributeLabels:
    """Read CelebA's layout; with ``check_dir``, also check that every labelled file exists there."""
    path = Path(path)
    lines = _read_lines(path)
    if len(lines) < 2:
        raise LabelFormatError(f"{path}: expected a count on line 1 and attribute names on line 2 "
                               f"(CelebA list_attr_celeba.txt layout); the file has {len(lines)} line(s)")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise LabelFormatError(f"{path}, line 1: expected the number of images, got {lines[0].strip()[:60]!r}") from None
    names = lines[1].split()
    if not names:
        raise LabelFormatError(f"{path}, line 2: expected attribute names, the line is empty")
    _check_unique(names, "attribute name", str(path), line=2)
    filenames: list[str] = []
    rows: list[list[bool]] = []
    for lineno, line in enumerate(lines[2:], start=3):
        tok = line.split()
        if not tok:
            continue
        if len(tok) != len(names) + 1:
            raise LabelFormatError(f"{path}, line {lineno}: expected a file name and {len(names)} values, "
                                   f"got {len(tok) - 1} value(s)")
        bad = [t for t in tok[1:] if t not in ("1", "-1", "+1")]
        if bad:
            raise LabelFormatError(f"{path}, line {lineno}: values must be +1 or -1, got {bad[0]!r} for {tok[0]}")
        filenames.append(tok[0])
        rows.append([t != "-1" for t in tok[1:]])
    if len(filenames) != count:
        raise LabelFormatError(f"{path}: line 1 announces {count} images but {len(filenames)} rows follow "
                               "(truncated or interrupted write?)")
    _check_unique(filenames, "file name", str(path))
    labels = AttributeLabels(filenames, names, np.array(rows, dtype=bool).reshape(len(rows), len(names)))
    if check_dir is not None:
        labels.check_files(check_dir, source=str(path))
    return labels


def write_csv_attributes(path: os.PathLike | str, labels: AttributeLabels) -> None:
    """Write ``filename,<attr>,...`` with 0/1 values, atomically."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["filename", *labels.names])
    for f, row in zip(labels.filenames, labels.values):
        w.writerow([f, *(int(v) for v in row)])
    atomic_write_bytes(path, buf.getvalue().encode())


def read_csv_attributes(path: os.PathLike | str, check_dir: os.PathLike | str | None = None) -> AttributeLabels:
    """Read the CSV layout; with ``check_dir``, also check that every labelled file exists there."""
    path = Path(path)
    text = "\n".join(_read_lines(path))
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise LabelFormatError(f"{path}: empty file; expected a header 'filename,<attribute>,...'")
    header = [h.strip() for h in rows[0]]
    if not header or header[0] != "filename" or len(header) < 2:
        raise LabelFormatError(f"{path}, line 1: the header must be 'filename,<attribute>,...', got {','.join(header)[:80]!r}")
    names = header[1:]
    _check_unique(names, "attribute name", str(path), line=1)
    filenames: list[str] = []
    values: list[list[bool]] = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise LabelFormatError(f"{path}, line {lineno}: expected {len(header)} columns like the header, got {len(row)}")
        bad = [c for c in row[1:] if c.strip() not in ("0", "1")]
        if bad:
            raise LabelFormatError(f"{path}, line {lineno}: values must be 0 or 1, got {bad[0]!r} for {row[0]}")
        filenames.append(row[0].strip())
        values.append([c.strip() == "1" for c in row[1:]])
    _check_unique(filenames, "file name", str(path))
    labels = AttributeLabels(filenames, names, np.array(values, dtype=bool).reshape(len(values), len(names)))
    if check_dir is not None:
        labels.check_files(check_dir, source=str(path))
    return labels


def read_attributes(path: os.PathLike | str, check_dir: os.PathLike | str | None = None) -> AttributeLabels:
    """Read a label file by its extension: ``.txt`` (CelebA layout) or ``.csv``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".txt":
        return read_celeba_attributes(path, check_dir)
    if suffix == ".csv":
        return read_csv_attributes(path, check_dir)
    raise LabelFormatError(f"{path}: unknown label format {suffix!r}; use .txt (CelebA list_attr_celeba.txt layout) or .csv")


def _read_lines(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LabelFormatError(f"label file {path} does not exist") from None
    except IsADirectoryError:
        raise LabelFormatError(f"label file {path} is a directory; pass the .txt or .csv file inside it") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelFormatError(f"{path}: not a text file (byte {exc.start} is not UTF-8); is this an image or archive?") from None
    return text.splitlines()
