"""benchmarks/generator_diagnostics.py: the figures behind the demo generator's speckle diagnosis."""

from __future__ import annotations

import re

import torch

import reference_models as rm
from benchmarks.generator_diagnostics import diagnose


def test_diagnostics_find_a_strong_noise_layer(tmp_path, capsys):
    G = rm.build_generator("f-mixing90", resolution=16, seed=0, fmap_base=64, fmap_max=16, latent_size=16)
    strong = [n for n, _ in G.named_parameters() if n.endswith("noise.weight")][-2]
    with torch.no_grad():
        dict(G.named_parameters())[strong].fill_(1.0)   # noise fresh from init is 0 everywhere else
    rm.save_checkpoint(G, tmp_path / "g")
    diagnose(str(tmp_path / "g"), n=16)
    out = capsys.readouterr().out
    assert f"noise strength {strong}: mean |s| 1.000, max 1.000" in out
    energy = {m: float(re.search(rf"noise {m}: ([0-9.]+)", out).group(1)) for m in ("const", "none", "random")}
    assert energy["none"] < energy["const"] and energy["none"] < energy["random"]
    swaps = [float(v) for v in re.search(r"all swapped: (.*)", out).group(1).split()]
    assert len(swaps) == G.num_ws and all(v >= 0 for v in swaps)
