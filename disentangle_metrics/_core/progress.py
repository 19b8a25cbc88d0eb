"""Progress output that suits where it goes: a tqdm bar on a terminal, plain lines in a log.

tqdm redraws its bar with ``\\r`` several times a second; in a file or a CI log that is hundreds of
updates run together on one line. When the stream is not a terminal, :func:`progress_bar` prints
one plain line each time another 10% of ``total`` is done or 30 s have passed since the last
line, whichever comes first, and a last line when it closes short of a printed one.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, Optional, TextIO

EVERY_FRACTION = 0.1    # a line per 10% of total ...
EVERY_SECONDS = 30.0    # ... or per 30 s, whichever first


class _Quiet:
    """What a disabled bar is: accepts the calls and prints nothing."""

    n = 0

    def update(self, n: int = 1) -> None: ...
    def set_postfix(self, **kw: Any) -> None: ...
    def close(self) -> None: ...

    def __enter__(self) -> "_Quiet":
        return self

    def __exit__(self, *exc: Any) -> None: ...


class LineProgress:
    """Plain-line progress for a non-terminal stream (see the module docstring).

    Each line reads ``desc: n/total unit (p%), t s, r unit/s[, postfix]``; without a total only the
    30 s rule applies.
    """

    def __init__(self, total: Optional[int], desc: str, unit: str = "it", initial: int = 0,
                 stream: Optional[TextIO] = None, every_fraction: float = EVERY_FRACTION,
                 every_seconds: float = EVERY_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, int(initial)
        self.stream = stream if stream is not None else sys.stderr
        self.every_seconds, self.clock = every_seconds, clock
        self._step = max(1, math.ceil(total * every_fraction)) if total else None   # units per line
        self._next = self._following(self.n)
        self._start = self._last = clock()
        self._start_n = self._printed_n = self.n
        self._postfix = ""
        self._closed = False

    def _following(self, n: int) -> Optional[int]:
        """The next count that is a multiple of the step (10%, 20%, ...) above ``n``."""
        return None if self._step is None else (n // self._step + 1) * self._step

    def update(self, n: int = 1) -> None:
        """Add ``n`` done units; print a line when a 10% mark is passed or 30 s have gone by."""
        self.n += int(n)
        now = self.clock()
        if (self._next is not None and self.n >= self._next) or now - self._last >= self.every_seconds:
            self._print(now)

    def set_postfix(self, **kw: Any) -> None:
        """Extra ``key=value`` fields appended to the following lines (as tqdm shows them after the bar)."""
        self._postfix = ", ".join(f"{k}={v}" for k, v in kw.items())

    def _print(self, now: float) -> None:
        dt = now - self._start
        rate = (self.n - self._start_n) / dt if dt > 0 else float("nan")
        done = f"{self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)" if self.total else \
            f"{self.n} {self.unit}"
        extra = f", {self._postfix}" if self._postfix else ""
        print(f"{self.desc}: {done}, {dt:.0f} s, {rate:.3g} {self.unit}/s{extra}", file=self.stream, flush=True)
        self._last, self._printed_n = now, self.n
        self._next = self._following(self.n)

    def close(self) -> None:
        """Print the final count unless the last line already showed it."""
        if not self._closed and self.n != self._printed_n:
            self._print(self.clock())
        self._closed = True

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(total: Optional[int], desc: str, enabled: bool = True, *, unit: str = "it", initial: int = 0,
                 unit_scale: bool = False, leave: bool = True, stream: Optional[TextIO] = None) -> Any:
    """A progress bar over ``total`` units: tqdm when ``stream`` (default stderr) is a terminal,
    otherwise :class:`LineProgress` (a line per 10% of ``total`` or per 30 s, whichever first).

    Disabled (``enabled=False``, e.g. on every rank but the main one) it prints nothing. All three
    kinds take ``update(n)``, ``set_postfix(**kw)``, ``close()`` and work as context managers.
    """
    if not enabled:
        return _Quiet()
    out = stream if stream is not None else sys.stderr
    isatty = getattr(out, "isatty", None)
    if isatty is not None and isatty():
        from tqdm.auto import tqdm
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, unit_scale=unit_scale, leave=leave,
                    file=out, dynamic_ncols=True)
    return LineProgress(total, desc, unit=unit, initial=initial, stream=out)
