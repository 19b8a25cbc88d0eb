"""Issue 15, item 3: appends from many processes at once lose nothing and tear nothing."""

import json
import multiprocessing as mp
import os
import warnings

import pytest

from disentangle_metrics._core import results as R

N_PROC, N_EACH = 6, 40


def _writer(path: str, who: int, start) -> None:
    start.wait()
    for i in range(N_EACH):
        # a large extras blob makes each line span several KB, so overlapping writes would show
        r = R.MetricResult(metric=f"m{who}", value=float(i), extras={"who": who, "i": i, "pad": "x" * 3000})
        R.append_result(path, r)


def test_many_processes_appending_keep_every_line(tmp_path):
    path = str(tmp_path / "results.jsonl")
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(path, w, start)) for w in range(N_PROC)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = open(path).read().splitlines()
    assert len(lines) == N_PROC * N_EACH
    got = {(d["extras"]["who"], d["extras"]["i"]) for d in map(json.loads, lines)}
    assert got == {(w, i) for w in range(N_PROC) for i in range(N_EACH)}


def test_append_never_rewrites_earlier_lines(tmp_path, monkeypatch):
    # the old implementation rewrote the whole file through a temporary copy and a rename
    path = tmp_path / "r.jsonl"
    R.append_result(path, R.MetricResult(metric="a", value=1.0))
    inode = os.stat(path).st_ino
    monkeypatch.setattr(os, "replace", lambda *a: pytest.fail("append must not replace the file"))
    R.append_result(path, R.MetricResult(metric="b", value=2.0))
    assert os.stat(path).st_ino == inode and [r.metric for r in R.read_results(path)] == ["a", "b"]


def test_failed_write_leaves_the_file_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "results.jsonl"
    R.append_result(path, R.MetricResult(metric="a", value=1.0))
    before = path.read_bytes()

    def boom(fd, data):
        raise OSError("disk full")
    monkeypatch.setattr(os, "write", boom)
    with pytest.raises(OSError):
        R.append_result(path, R.MetricResult(metric="b", value=2.0))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["results.jsonl"]


def test_cut_tail_is_moved_aside_by_the_next_append(tmp_path):
    path = tmp_path / "r.jsonl"
    R.append_result(path, R.MetricResult(metric="a", value=1.0))
    with open(path, "ab") as f:        # what kill -9 in the middle of a write leaves
        f.write(b'{"metric": "cut", "val')
    with pytest.warns(RuntimeWarning, match="incomplete last line"):
        assert [r.metric for r in R.read_results(path, strict=True)] == ["a"]   # not a line yet
    with pytest.warns(RuntimeWarning, match="cut short"):
        R.append_result(path, R.MetricResult(metric="b", value=2.0))
    assert [r.metric for r in R.read_results(path, strict=True)] == ["a", "b"]
    assert (tmp_path / "r.jsonl.torn").read_bytes() == b'{"metric": "cut", "val\n'


def test_valid_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(R.MetricResult(metric="a", value=1.0).to_json())     # edited by hand
    R.append_result(path, R.MetricResult(metric="b", value=2.0))
    assert [r.metric for r in R.read_results(path, strict=True)] == ["a", "b"]
    assert not (tmp_path / "r.jsonl.torn").exists()


def test_broken_whole_line_is_reported(tmp_path):
    path = tmp_path / "r.jsonl"
    R.append_result(path, R.MetricResult(metric="a", value=1.0))
    with open(path, "ab") as f:
        f.write(b'{"metric": "broken"\n')
    R.append_result(path, R.MetricResult(metric="b", value=2.0))
    with pytest.warns(RuntimeWarning, match="line 2"):
        got = R.read_results(path)
    assert [r.metric for r in got] == ["a", "b"]
    with pytest.raises(ValueError, match="line 2"):
        R.read_results(path, strict=True)


def test_kill_9_while_appending_leaves_only_whole_lines(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path
    path = tmp_path / "r.jsonl"
    code = ("import sys; from disentangle_metrics._core import results as R\n"
            "i = 0\n"
            "while True:\n"
            "    R.append_result(sys.argv[1], R.MetricResult(metric='m', value=float(i), extras={'pad': 'x' * 20000}))\n"
            "    i += 1\n")
    repo = Path(__file__).resolve().parents[1]
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=repo) for _ in range(3)]
    deadline = time.monotonic() + 60
    while (not path.exists() or len(path.read_bytes().splitlines()) < 30) and time.monotonic() < deadline:
        time.sleep(0.05)
    for p in procs:
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
    # a SIGKILL can cut a large write(2) between pages, so the tail may be a fragment; the next
    # writer moves it aside, after which every line must be whole
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        R.append_result(path, R.MetricResult(metric="after", value=0.0))
    got = R.read_results(path, strict=True)        # raises on any torn line
    assert len(got) >= 31 and got[-1].metric == "after"
    torn = tmp_path / "r.jsonl.torn"
    if torn.exists():                              # at most one fragment per killed writer
        assert len(torn.read_bytes().splitlines()) <= len(procs)
