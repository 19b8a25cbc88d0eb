"""End to end: converted synthetic official networks compute what the official graphs compute
(tests/_official_numpy.py transcribes networks_stylegan.py in numpy, float64)."""

import numpy as np
import pytest
import torch

import reference_models as rm
import tests._official_numpy as ref
from tests._official_stylegan import (discriminator_vars, dump, install_fake_dnnlib, make_network,
                                make_official_generator, variables_of)
from reference_models.convert import convert_discriminator, convert_official, read_official_pickle

FM = dict(fmap_base=128, fmap_max=16)
RES, LATENT = 32, 8


def _convert(tmp_path, net, name):
    path = tmp_path / f"{name}.pkl"
    dump(net, path)
    role, folder = next(iter(convert_official(path, tmp_path / name).items()))
    return rm.load_checkpoint(folder)


@pytest.mark.parametrize("fused", ["auto", True])
@pytest.mark.parametrize("lod", [0.0, 0.5, 1.0])
def test_style_generator_matches_official_graph(tmp_path, monkeypatch, fused, lod):
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(0)
    net = make_official_generator(rng, RES, LATENT, FM, static_kwargs={"fused_scale": fused})
    for name, arr in net._state["components"]["synthesis"]._state["variables"]:
        if name.endswith("Noise/weight"):
            arr[:] = rng.standard_normal(arr.shape)  # official init is 0; make noise matter
    G = _convert(tmp_path, net, "g")
    v = variables_of(net)
    z = rng.standard_normal((2, LATENT))
    w = ref.mapping(v, z, depth=8)
    expect = ref.synthesis(v, np.repeat(w[:, None], 2 * 5 - 2, axis=1), RES, fused=fused, lod=lod)
    with torch.no_grad():
        ws = G.mapping(torch.from_numpy(z).float())
        got = G.synthesis(ws, noise_mode="const", lod=lod).double().numpy()
    np.testing.assert_allclose(ws[:, 0].double().numpy(), w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got, expect, rtol=1e-3, atol=1e-3 * np.abs(expect).max())


def test_traditional_generator_matches_official_graph(tmp_path, monkeypatch):
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(1)
    kw = dict(use_styles=False, const_input_layer=False, use_noise=False, use_pixel_norm=True,
              use_instance_norm=False, mapping_layers=0, style_mixing_prob=None)
    net = make_official_generator(rng, RES, LATENT, FM, mapping_depth=0, styles=False, const=False, noise=False,
                                  static_kwargs=kw)
    G = _convert(tmp_path, net, "trad")
    assert not G.has_mapping and not G.cfg.use_styles and G.cfg.use_pixel_norm and not G.cfg.use_instance_norm
    v = variables_of(net)
    z = rng.standard_normal((2, LATENT))
    expect = ref.synthesis(v, ref.mapping(v, z, depth=0)[:, None], RES, styles=False, const=False, noise=False,
                           pixnorm=True, instnorm=False)
    with torch.no_grad():
        got = G.synthesis(G.mapping(torch.from_numpy(z).float()), noise_mode="random").double().numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-3, atol=1e-3 * np.abs(expect).max())


@pytest.mark.parametrize("fused", ["auto", True])
@pytest.mark.parametrize("lod", [0.0, 0.5])
def test_discriminator_matches_official_graph(tmp_path, monkeypatch, fused, lod):
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(2)
    net = make_network("D", "D_basic", discriminator_vars(RES, **FM), rng, dict(resolution=RES, fused_scale=fused, **FM))
    dump(net, tmp_path / "d.pkl")
    D = convert_discriminator(read_official_pickle(tmp_path / "d.pkl"))
    x = rng.standard_normal((8, 3, RES, RES))
    expect = ref.discriminator(variables_of(net), x, RES, fused=fused, lod=lod)
    with torch.no_grad():
        got = D(torch.from_numpy(x).float(), lod=lod).double().numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-3, atol=1e-3 * np.abs(expect).max())


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("lod", [0.0, 1.5])
def test_progan_d_paper_matches_official_graph(tmp_path, monkeypatch, fused, lod):
    # networks_progan.D_paper: fused_scale=True names the down-sampling conv 'Conv1_down'; False names it
    # 'Conv1' and applies downscale2d after bias and leaky ReLU.
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(3)
    down_name = "Conv1_down" if fused else "Conv1"
    net = make_network("D", "D_paper", discriminator_vars(RES, down_name=down_name, **FM), rng,
                       dict(resolution=RES, fused_scale=fused, **FM))
    dump(net, tmp_path / "d.pkl")
    D = convert_discriminator(read_official_pickle(tmp_path / "d.pkl"))
    x = rng.standard_normal((8, 3, RES, RES))
    expect = ref.discriminator(variables_of(net), x, RES, fused=fused, lod=lod, progan=True)
    with torch.no_grad():
        got = D(torch.from_numpy(x).float(), lod=lod).double().numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-3, atol=1e-3 * np.abs(expect).max())


# blur2d's filter may have any length, or be 2-D; TF's 'SAME' pads an even-length kernel by one more
# pixel after than before, and the depthwise conv correlates (asymmetric filters are not flipped).
BLUR_FILTERS = [[1, 3, 3, 1], [1, 2, 4], [[1, 2], [3, 4]]]


@pytest.mark.parametrize("blur_filter", BLUR_FILTERS)
def test_generator_blur_filters_match_official_graph(tmp_path, monkeypatch, blur_filter):
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(4)
    net = make_official_generator(rng, RES, LATENT, FM, static_kwargs={"blur_filter": blur_filter})
    G = _convert(tmp_path, net, "g")
    v = variables_of(net)
    z = rng.standard_normal((2, LATENT))
    ws = np.repeat(ref.mapping(v, z, depth=8)[:, None], 2 * 5 - 2, axis=1)
    expect = ref.synthesis(v, ws, RES, blur_filter=blur_filter)
    with torch.no_grad():
        got = G.synthesis(torch.from_numpy(ws).float(), noise_mode="const").double().numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-3, atol=1e-3 * np.abs(expect).max())


@pytest.mark.parametrize("blur_filter", BLUR_FILTERS)
def test_discriminator_blur_filters_match_official_graph(tmp_path, monkeypatch, blur_filter):
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(5)
    net = make_network("D", "D_basic", discriminator_vars(RES, **FM), rng,
                       dict(resolution=RES, blur_filter=blur_filter, **FM))
    dump(net, tmp_path / "d.pkl")
    D = convert_discriminator(read_official_pickle(tmp_path / "d.pkl"))
    x = rng.standard_normal((4, 3, RES, RES))
    expect = ref.discriminator(variables_of(net), x, RES, blur_filter=blur_filter)
    with torch.no_grad():
        got = D(torch.from_numpy(x).float()).double().numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-3, atol=1e-3 * np.abs(expect).max())


def test_build_with_even_blur_filter_runs():
    G = rm.build_generator("f-mixing90", resolution=16, fmap_base=64, fmap_max=16, latent_size=8, seed=0,
                           blur_filter=[1, 3, 3, 1])
    D = rm.build_discriminator(resolution=16, fmap_base=64, fmap_max=16, seed=0, blur_filter=[1, 3, 3, 1])
    with torch.no_grad():
        img = G.synthesis(G.mapping(torch.randn(2, 8, generator=torch.Generator().manual_seed(0))), noise_mode="const")
        assert img.shape == (2, 3, 16, 16) and D(img).shape == (2, 1)


def test_generator_lod_is_the_top_level_networks(tmp_path, monkeypatch):
    # G_style assigns its own 'lod' to G_synthesis's before running it (tf.assign(components.synthesis
    # .find_var('lod'), lod_in)), so Gs.run draws at the top-level lod whatever G_synthesis/lod holds.
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(6)
    net = make_official_generator(rng, RES, LATENT, FM)
    net._state["variables"] = [(k, np.float32(1.5) if k == "lod" else a) for k, a in net._state["variables"]]
    G = _convert(tmp_path, net, "g")
    assert G.lod == 1.5
    v = variables_of(net)
    assert v["G_synthesis/lod"] == 0.0
    z = rng.standard_normal((2, LATENT))
    ws = np.repeat(ref.mapping(v, z, depth=8)[:, None], 2 * 5 - 2, axis=1)
    expect = ref.synthesis(v, ws, RES, lod=1.5)
    with torch.no_grad():
        got = G.synthesis(torch.from_numpy(ws).float(), noise_mode="const").double().numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-3, atol=1e-3 * np.abs(expect).max())
