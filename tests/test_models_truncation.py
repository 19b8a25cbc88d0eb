"""Truncation: the official G_style pair (truncation_psi, truncation_cutoff) through the official-style
entry points, against tests/_official_numpy.g_style_truncation (transcribed from G_style), and the
project's own mapping() semantics beside it."""

import numpy as np
import pytest
import torch

import reference_models as rm
import tests._official_numpy as ref
from reference_models.convert import convert_official
from tests._official_stylegan import dump, install_fake_dnnlib, make_official_generator, variables_of

FM = dict(fmap_base=128, fmap_max=16)
RES, LATENT = 64, 8  # 10 layers, so the official default cutoff 8 leaves two untouched


def _converted(tmp_path, monkeypatch, static_kwargs=None, seed=0):
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(seed)
    net = make_official_generator(rng, RES, LATENT, FM, static_kwargs=static_kwargs, name="Gs")
    dump(net, tmp_path / "gs.pkl")
    G = rm.load_checkpoint(convert_official(tmp_path / "gs.pkl", tmp_path / "gs")["generator"])
    v = variables_of(net)
    z = rng.standard_normal((3, LATENT))
    ws = np.repeat(ref.mapping(v, z, depth=8)[:, None], G.num_ws, axis=1)
    return G, v, z, ws


def _close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


OFFICIAL_CALLS = [dict(), dict(truncation_psi=0.5), dict(truncation_psi=0.5, truncation_cutoff=3),
                  dict(truncation_psi=0.5, truncation_cutoff=None), dict(truncation_psi=None, truncation_cutoff=3),
                  dict(truncation_psi=1.0, truncation_cutoff=3), dict(truncation_psi=0.5, truncation_cutoff=0),
                  dict(truncation_psi=0.5, truncation_cutoff=-2), dict(truncation_psi=0.5, truncation_cutoff=20)]


@pytest.mark.parametrize("kwargs", OFFICIAL_CALLS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()) or "defaults")
def test_official_mapping_follows_g_style(tmp_path, monkeypatch, kwargs):
    G, v, z, ws = _converted(tmp_path, monkeypatch)
    expect = ref.g_style_truncation(ws, v["dlatent_avg"], **kwargs)
    with torch.no_grad():
        got = G.mapping_official(torch.from_numpy(z).float(), **kwargs).double().numpy()
    _close(got, expect)


def test_official_defaults_come_from_the_pickled_static_kwargs(tmp_path, monkeypatch):
    G, v, z, ws = _converted(tmp_path, monkeypatch, static_kwargs=dict(truncation_psi=0.5, truncation_cutoff=None))
    assert G.cfg.truncation_psi == 0.5 and G.cfg.truncation_cutoff is None
    with torch.no_grad():
        _close(G.mapping_official(torch.from_numpy(z).float()).double().numpy(), ws)  # cutoff None: no truncation
        got = G.mapping_official(torch.from_numpy(z).float(), truncation_cutoff=4).double().numpy()
    _close(got, ref.g_style_truncation(ws, v["dlatent_avg"], 0.5, 4))


def test_run_official_gives_the_official_images(tmp_path, monkeypatch):
    G, v, z, ws = _converted(tmp_path, monkeypatch, seed=1)
    for name, arr in list(v.items()):
        if name.endswith("Noise/weight"):
            v[name] = arr + 1.0  # make the stored noise matter; push the same values into G
    with torch.no_grad():
        for i, e in enumerate(G.synthesis.epilogues):
            e.noise.weight.add_(1.0)
        got = G.run_official(torch.from_numpy(z).float(), None, truncation_psi=0.7, truncation_cutoff=8,
                             randomize_noise=False).double().numpy()
    expect = ref.synthesis(v, ref.g_style_truncation(ws, v["dlatent_avg"], 0.7, 8), RES)
    np.testing.assert_allclose(got, expect, rtol=1e-3, atol=1e-3 * np.abs(expect).max())


def test_project_mapping_keeps_its_own_semantics(tmp_path, monkeypatch):
    # The metrics protocol: cutoff None = every layer; psi 1 (or None) = no truncation.
    G, v, z, ws = _converted(tmp_path, monkeypatch)
    zt = torch.from_numpy(z).float()
    with torch.no_grad():
        _close(G.mapping(zt, None, 0.5).double().numpy(), ref.g_style_truncation(ws, v["dlatent_avg"], 0.5, G.num_ws))
        _close(G.mapping(zt, None, 1.0, 3).double().numpy(), ws)
        _close(G.mapping(zt, None, None).double().numpy(), ws)
        with pytest.raises(ValueError, match="truncation_cutoff"):
            G.mapping(zt, None, 0.5, -1)
