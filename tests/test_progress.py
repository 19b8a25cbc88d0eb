"""Issue 24, progress: on a terminal a tqdm bar; in a log (not a terminal) a plain line every 10% or
every 30 s, never a run of ``\\r`` redraws on one line."""

from __future__ import annotations

import io

from disentangle_metrics._core.progress import LineProgress, progress_bar


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_plain_line_per_ten_percent():
    out = io.StringIO()
    with progress_bar(1000, "stats x", True, unit="img", stream=out) as bar:
        for _ in range(100):
            bar.update(10)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert [ln.split("(")[1].split(")")[0] for ln in lines] == [f"{p}%" for p in range(10, 101, 10)]
    assert lines[0].startswith("stats x: 100/1000 img (10%), ") and lines[-1].startswith("stats x: 1000/1000 img")


def test_a_slow_run_prints_every_30_seconds_and_its_last_count_on_close():
    out, clock = io.StringIO(), _Clock()
    bar = LineProgress(1000, "train", unit="img", stream=out, clock=clock)
    clock.t = 29.0
    bar.update(1)                      # below 10% and under 30 s: nothing
    assert out.getvalue() == ""
    clock.t = 31.0
    bar.update(1)                      # 30 s since the start
    bar.set_postfix(kimg="0.00")
    clock.t = 40.0
    bar.update(3)
    bar.close()                        # 5 done, 2 printed: one last line
    bar.close()                        # and only one
    lines = out.getvalue().splitlines()
    assert lines == ["train: 2/1000 img (0%), 31 s, 0.0645 img/s",
                     "train: 5/1000 img (0%), 40 s, 0.125 img/s, kimg=0.00"]


def test_a_resumed_run_counts_from_its_initial_value():
    out = io.StringIO()
    bar = progress_bar(100, "train", True, initial=45, stream=out)
    bar.update(4)                      # 49: below the next mark (50)
    bar.update(1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train: 50/100 it (50%)")


def test_a_terminal_gets_tqdm_and_a_disabled_bar_prints_nothing():
    from tqdm import tqdm

    tty = _Tty()
    bar = progress_bar(100, "fid", True, stream=tty)
    assert isinstance(bar, tqdm)
    bar.update(50)
    bar.close()
    assert "\r" in tty.getvalue()
    quiet = io.StringIO()
    with progress_bar(100, "fid", False, stream=quiet) as bar:
        bar.update(100)
    assert quiet.getvalue() == ""


def test_the_real_side_statistics_pass_writes_plain_lines_to_a_captured_stderr(capfd):
    from disentangle_metrics.features import build_extractor
    from disentangle_metrics.features.cache import testbed_stats
    from tests.fid_helpers import ToyGenerator  # noqa: F401  registers 'test-pixel-stats'

    testbed_stats(build_extractor("test-pixel-stats"), 40, 16, batch_size=4, cache=False, progress=True, device="cpu")
    err = capfd.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("stats testbed@16:")]
    assert "\r" not in err and len(lines) == 10 and lines[-1].startswith("stats testbed@16: 40/40 img (100%)")
