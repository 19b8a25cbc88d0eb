"""`dmetrics stats` and `dmetrics score --metrics fid50k` end to end (cheap test extractor)."""

import json

import numpy as np
from click.testing import CliRunner

from cli.main import main
from disentangle_metrics._core import sampling
from disentangle_metrics.generators.sources import to_uint8
from tests.fid_helpers import ToyGenerator  # noqa: F401  (also registers test-pixel-stats)


def test_stats_then_score(tmp_path):
    G = ToyGenerator(shift=0.1)
    imgs = to_uint8(G.synthesis(G.mapping(sampling.randn(0, range(120), [8]), None))).permute(0, 2, 3, 1).numpy()
    np.save(tmp_path / "real.npy", imgs)
    out = tmp_path / "stats.npz"
    r = CliRunner().invoke(main, ["stats", str(tmp_path / "real.npy"), "--out", str(out), "--extractor", "test-pixel-stats",
                                  "--mirror", "--device", "cpu", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "120 images" in r.output
    with np.load(out) as f:  # what pytorch-fid reads
        assert f["mu"].shape == (96,) and f["sigma"].shape == (96, 96) and int(f["num"]) == 120
        assert str(f["extractor"]) == "test-pixel-stats" and str(f["mirror"]) == "True"
    results = tmp_path / "results.jsonl"
    r = CliRunner().invoke(main, ["score", "tests.fid_helpers:make_toy_generator", "--metrics", "fid50k", "--reference", str(out),
                                  "--extractor", "test-pixel-stats", "--num-samples", "100", "--device", "cpu",
                                  "--out", str(results), "--no-progress"])
    assert r.exit_code == 0, r.output
    line = json.loads(results.read_text().splitlines()[0])
    assert line["metric"] == "fid100@test-pixel-stats" and line["num_samples"] == 100 and line["value"] > 0


def test_stats_errors_are_one_line(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"junk")
    r = CliRunner().invoke(main, ["stats", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "o.npz"),
                                  "--extractor", "test-pixel-stats", "--device", "cpu"])
    assert r.exit_code != 0 and "bad.npy" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["stats", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "o.npz"),
                                  "--extractor", "nope", "--device", "cpu"])
    assert r.exit_code != 0 and "unknown feature extractor" in r.output
