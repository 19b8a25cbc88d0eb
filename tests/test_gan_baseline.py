"""The DCGAN baseline of issue 18: its networks, and rows the recipe-probe tools read."""

import csv
import json
from pathlib import Path

import pytest
import torch

from benchmarks.gan_baseline import build_dcgan, train_and_score
from benchmarks.recipe_probe import _pending


def test_dcgan_shapes_range_and_width():
    G, D = build_dcgan(8)
    with torch.no_grad():
        x = G(torch.randn(5, 128))
    assert x.shape == (5, 3, 32, 32) and float(x.abs().max()) <= 1.0
    assert D(x).shape == (5, 1)
    assert sum(p.numel() for p in build_dcgan(64)[0].parameters()) == 1_183_619   # Radford et al.'s width


def test_train_and_score_appends_probe_rows_and_learns(tmp_path: Path, monkeypatch):
    import disentangle_metrics as fid_module

    seen = []

    class _Result:
        value = 123.0

    def fake_fid(G, reference, **kw):
        with torch.no_grad():
            z = torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(0))   # the same z each time
            seen.append(G.synthesis(G.mapping(z), noise_mode="random").clone())
        assert reference == "testbed" and kw["extractor"] == "testbed" and kw["seed"] == 123
        return _Result()

    monkeypatch.setattr(fid_module, "fid", fake_fid)
    rows = train_and_score(tmp_path, nf=4, evals=[0.016, 0.032], num_train=16, batch=8, num_gen=8, num_real=8)
    assert [r["kimg"] for r in rows] == [0.016, 0.032]
    with (tmp_path / "curves.csv").open() as fh:
        got = list(csv.DictReader(fh))
    assert list(got[0]) == ["probe", "kimg", "fid", "wall_s", "img_per_s", "spec", "fid_raw_G"]
    assert got[0]["probe"] == "dcgan-nf4" and json.loads(got[0]["spec"])["nf"] == 4
    assert _pending(tmp_path / "curves.csv", {"name": "dcgan-nf4", "evals": [0.016, 0.032, 1]}) == [1.0]
    assert not torch.equal(seen[0], seen[1])          # G trained between the evaluations
    assert (tmp_path / "dcgan-nf4.pt").is_file() and (tmp_path / "dcgan-nf4_fakes0.032kimg.png").is_file()
