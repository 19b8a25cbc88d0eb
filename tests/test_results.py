import json
import math
import os

import numpy as np
import pytest

from disentangle_metrics._core import results as R


def _res(v=1.5, **kw):
    return R.MetricResult(metric="ppl_wend", value=v, values={"ppl_wend": v}, seed=0, num_samples=10, **kw)


def test_json_line_round_trip(tmp_path):
    r = _res(samples={"distances": np.arange(5.0)})
    line = r.to_json()
    assert "\n" not in line
    d = json.loads(line)
    assert d["sample_arrays"] == {"distances": [5]} and d["torch_version"] and d["library_version"]
    back = R.MetricResult.from_dict(d)
    assert back.value == 1.5 and back.metric == "ppl_wend"


def test_non_finite_values_stay_valid_json():
    r = _res(v=float("nan"))
    d = json.loads(r.to_json())
    assert d["value"] == "nan"


def test_append_keeps_previous_lines_and_writes_samples(tmp_path):
    path = tmp_path / "results.jsonl"
    R.append_result(path, _res(1.0))
    R.append_result(path, _res(2.0, samples={"d": np.ones(3)}), samples_dir=tmp_path / "samples")
    got = R.read_results(path)
    assert [g.value for g in got] == [1.0, 2.0]
    assert np.load(got[1].samples_file)["d"].tolist() == [1, 1, 1]


def test_append_repairs_missing_trailing_newline(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(_res(1.0).to_json())
    R.append_result(path, _res(2.0))
    assert len(R.read_results(path)) == 2


def test_atomic_write_uses_ordinary_file_mode(tmp_path):
    old = os.umask(0o022)
    try:
        R.atomic_write_bytes(tmp_path / "a.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644


def test_samples_file_name_is_safe(tmp_path):
    r = R.MetricResult(metric="ppl_wend@pkg.mod:fn", value=1.0, samples={"d": np.zeros(2)})
    R.append_result(tmp_path / "r.jsonl", r, samples_dir=tmp_path)
    assert ":" not in os.path.basename(r.samples_file) and os.path.exists(r.samples_file)
