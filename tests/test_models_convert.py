"""Conversion of official (TensorFlow, dnnlib) pickles, tested on synthetic pickles that carry the
official variable names and shapes with random values."""

import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import reference_models as rm
from tests._official_stylegan import (discriminator_vars, dump, dumps_highest_protocol, install_fake_dnnlib,
                                      make_network, make_official_generator, variables_of)
from reference_models.convert import ConversionError, convert_official, read_official_pickle

FM = dict(fmap_base=256, fmap_max=32)
RES, LATENT = 32, 16


def _expected(name, arr):
    """The layout our state_dict should hold an official array in."""
    if arr.ndim == 4 and name.endswith("/weight") and "Const" not in name:
        return arr.transpose(3, 2, 0, 1)  # [kh, kw, in, out] -> [out, in, kh, kw]
    if arr.ndim == 2 and "LabelConcat" not in name:
        return arr.T  # [in, out] -> [out, in]
    return arr


def _our_key_for(name):
    """Independent spelling of where each official generator variable must land."""
    if name == "dlatent_avg":
        return "mapping.w_avg"
    comp, _, rest = name.partition("/")
    if comp == "G_mapping":
        i, what = rest.split("/")
        return f"mapping.dense.{int(i[5:])}.{what}"
    if name == "lod":
        return "synthesis.lod"
    if rest.startswith("noise"):
        return f"synthesis.{rest}"
    if rest == "4x4/Const/const":
        return "synthesis.const"
    if rest.startswith("ToRGB_lod"):
        k = int(rest.split("/")[0][9:])
        return f"synthesis.torgb.{int(np.log2(RES)) - 2 - k}.{rest.split('/')[1]}"
    res, layer, *tail = rest.split("/")
    r = int(np.log2(int(res.split("x")[0])))
    idx = {"Const": 0, "Conv": 1, "Conv0_up": 2 * r - 4, "Conv1": 2 * r - 3}[layer]
    tail = "/".join(tail)
    if tail == "weight":
        return f"synthesis.convs.{idx - 1}.weight"
    return f"synthesis.epilogues.{idx}." + {"bias": "bias", "Noise/weight": "noise.weight",
                                             "StyleMod/weight": "style.affine.weight",
                                             "StyleMod/bias": "style.affine.bias"}[tail]


@pytest.fixture
def official_pickle(tmp_path, monkeypatch):
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(0)
    G = make_official_generator(rng, RES, LATENT, FM, static_kwargs={"style_mixing_prob": 0.9})
    Gs = make_official_generator(rng, RES, LATENT, FM, name="Gs")
    D = make_network("D", "D_basic", discriminator_vars(RES, **FM), rng, dict(resolution=RES, **FM))
    path = tmp_path / "karras2019stylegan-synthetic-32x32.pkl"
    dump((G, D, Gs), path)
    return path, G, D, Gs


def test_every_generator_variable_lands_in_place(official_pickle, tmp_path):
    path, G, D, Gs = official_pickle
    written = convert_official(path, tmp_path / "out")
    assert set(written) == {"Gs", "G", "D"}
    ours = rm.load_checkpoint(written["Gs"])
    state = ours.state_dict()
    official = variables_of(Gs)
    placed = set()
    for name, arr in official.items():
        if name == "G_synthesis/lod":  # G_style overwrites it with its own 'lod' before synthesising
            continue
        key = _our_key_for(name)
        np.testing.assert_array_equal(state[key].numpy(), _expected(name, np.asarray(arr)), err_msg=name)
        placed.add(key)
    assert placed == set(state), f"not filled: {set(state) - placed}"
    assert ours.cfg.resolution == RES and ours.cfg.mapping_layers == 8 and ours.z_dim == LATENT
    assert ours.cfg.fmap_base == 256 and ours.cfg.fmap_max == 32


def test_every_discriminator_variable_lands_in_place(official_pickle, tmp_path):
    path, G, D, Gs = official_pickle
    ours = rm.load_checkpoint(convert_official(path, tmp_path / "out")["D"])
    state = ours.state_dict()
    L = int(np.log2(RES))
    placed = set()
    for name, arr in variables_of(D).items():
        if name == "lod":
            key = "lod"
        elif name.startswith("FromRGB_lod"):
            key = f"fromrgb.{int(name.split('/')[0][11:])}.{name.split('/')[1]}"
        elif name.startswith("4x4/"):
            key = {"Conv": "conv4", "Dense0": "dense0", "Dense1": "dense1"}[name.split("/")[1]] + "." + name.split("/")[2]
        else:
            res, layer, what = name.split("/")
            key = f"blocks.{L - int(np.log2(int(res.split('x')[0])))}.{'conv0' if layer == 'Conv0' else 'conv1'}.{what}"
        np.testing.assert_array_equal(state[key].numpy(), _expected(name, np.asarray(arr)), err_msg=name)
        placed.add(key)
    assert placed == set(state)
    assert ours.cfg.mbstd_group_size == 4 and ours.cfg.blur_filter == [1.0, 2.0, 1.0]


def _tf_conv_same(x, w):
    """TensorFlow's conv2d (cross-correlation, 'SAME', NCHW) in numpy; w is [kh, kw, in, out]."""
    kh = w.shape[0]
    p = kh // 2
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    H, W = x.shape[2:]
    y = np.zeros((x.shape[0], w.shape[3], H, W))
    for u in range(kh):
        for v in range(kh):
            y += np.einsum("nchw,co->nohw", xp[:, :, u:u + H, v:v + W], w[u, v])
    return y


def test_converted_layers_compute_like_the_official_ops(official_pickle, tmp_path):
    path, G, D, Gs = official_pickle
    ours = rm.load_checkpoint(convert_official(path, tmp_path / "out")["Gs"])
    v = variables_of(Gs)
    rng = np.random.default_rng(1)
    # Mapping Dense0: pixel norm, x @ W * sqrt(2)/sqrt(fan_in) * 0.01 + b * 0.01, leaky ReLU.
    z = rng.standard_normal((3, LATENT))
    x = z / np.sqrt((z ** 2).mean(axis=1, keepdims=True) + 1e-8)
    W, b = v["G_mapping/Dense0/weight"], v["G_mapping/Dense0/bias"]
    y = x @ (W * np.sqrt(2) / np.sqrt(LATENT) * 0.01) + b * 0.01
    y = np.maximum(y, 0.2 * y)
    with torch.no_grad():
        t = torch.from_numpy(x).float()
        got = torch.nn.functional.leaky_relu(ours.mapping.dense[0](t), 0.2)
    np.testing.assert_allclose(got.numpy(), y, rtol=1e-4, atol=1e-5)
    # 4x4 conv (3x3, SAME, gain sqrt(2)) and the 8x8 up-sampling conv (nearest x2 then conv).
    C = v["G_synthesis/4x4/Conv/weight"].shape[2]
    feat = rng.standard_normal((2, C, 4, 4))
    w = v["G_synthesis/4x4/Conv/weight"] * np.sqrt(2) / np.sqrt(9 * C)
    with torch.no_grad():
        got = ours.synthesis.convs[0](torch.from_numpy(feat).float()).numpy()
    np.testing.assert_allclose(got, _tf_conv_same(feat, w), rtol=1e-4, atol=1e-4)
    w_up = v["G_synthesis/8x8/Conv0_up/weight"] * np.sqrt(2) / np.sqrt(9 * C)
    up = feat.repeat(2, axis=2).repeat(2, axis=3)
    with torch.no_grad():
        got = ours.synthesis.convs[1](torch.from_numpy(feat).float()).numpy()
    np.testing.assert_allclose(got, _tf_conv_same(up, w_up), rtol=1e-4, atol=1e-4)
    # toRGB at 32x32 (1x1 conv, gain 1, bias).
    Cr = v["G_synthesis/ToRGB_lod0/weight"].shape[2]
    f32 = rng.standard_normal((1, Cr, 32, 32))
    wr = v["G_synthesis/ToRGB_lod0/weight"] / np.sqrt(Cr)
    expect = _tf_conv_same(f32, wr) + v["G_synthesis/ToRGB_lod0/bias"].reshape(1, -1, 1, 1)
    with torch.no_grad():
        got = ours.synthesis.torgb[-1](torch.from_numpy(f32).float()).numpy()
    np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-4)
    # Style modulation of layer 0: dense gain 1, (ys + 1) scale.
    wv = rng.standard_normal((2, LATENT))
    A, Ab = v["G_synthesis/4x4/Const/StyleMod/weight"], v["G_synthesis/4x4/Const/StyleMod/bias"]
    style = wv @ (A / np.sqrt(LATENT)) + Ab
    with torch.no_grad():
        got = ours.synthesis.epilogues[0].style.affine(torch.from_numpy(wv).float()).numpy()
    np.testing.assert_allclose(got, style, rtol=1e-4, atol=1e-4)


def test_classifier_pickle_progan_style(tmp_path, monkeypatch):
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(2)
    net = make_network("D", "D_paper", discriminator_vars(32, mbstd=False, **FM), rng,
                       dict(resolution=32, mbstd_group_size=0, **FM))
    path = tmp_path / "celebahq-classifier-00-male.pkl"
    dump(net, path)
    out = convert_official(path, tmp_path / "clf")["classifier"]
    clf = rm.load_checkpoint(out)
    assert isinstance(clf, rm.AttributeClassifier)
    assert clf.cfg.blur_filter is None and clf.cfg.mbstd_group_size == 0 and clf.num_attributes == 1
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert clf(x).shape == (2, 1)
    # Dense1 landed transposed: logits = features @ W * 1/sqrt(fan_in) + b.
    v = variables_of(net)
    with torch.no_grad():
        f = clf.features(x).numpy()
    expect = f @ (v["4x4/Dense1/weight"] / np.sqrt(f.shape[1])) + v["4x4/Dense1/bias"]
    np.testing.assert_allclose(clf(x).detach().numpy(), expect, rtol=1e-4, atol=1e-5)


def test_protocol2_pickle_with_old_numpy_spelling(tmp_path, monkeypatch):
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(3)
    net = make_official_generator(rng, 8, 8, dict(fmap_base=64, fmap_max=16), mapping_depth=2)
    raw = pickle.dumps(net, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in raw and b"_codecs" in raw
    path = tmp_path / "g.pkl"
    path.write_bytes(raw)
    G = rm.load_checkpoint(convert_official(path, tmp_path / "g")["generator"])
    np.testing.assert_array_equal(G.mapping.dense[1].weight.detach().numpy(), variables_of(net)["G_mapping/Dense1/weight"].T)


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned",))


def test_refuses_pickles_that_run_code(tmp_path):
    path = tmp_path / "evil.pkl"
    dump(_Evil(), path)
    with pytest.raises(ConversionError, match="refusing to load global"):
        read_official_pickle(path)


def test_cli_convert_official(official_pickle, tmp_path):
    from cli.main import main
    path = official_pickle[0]
    res = CliRunner().invoke(main, ["convert-official", str(path), "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    for role in ("Gs", "G", "D"):
        assert (tmp_path / "cli" / role / "config.json").is_file()
    from cli.loading import load_generator
    G = load_generator(str(tmp_path / "cli" / "Gs"))
    assert G.synthesis(G.mapping(torch.randn(1, LATENT), None), noise_mode="const").shape == (1, 3, RES, RES)
    bad = CliRunner().invoke(main, ["convert-official", str(tmp_path / "cli" / "Gs" / "config.json"), "--out",
                                    str(tmp_path / "x")])
    assert bad.exit_code != 0 and "Error" in bad.output


@pytest.mark.parametrize("numpy_module", ["numpy.core.numeric", None])
def test_protocol5_pickle_as_save_pkl_writes_it(tmp_path, monkeypatch, numpy_module):
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(4)
    G = make_official_generator(rng, RES, LATENT, FM)
    Gs = make_official_generator(rng, RES, LATENT, FM, name="Gs")
    D = make_network("D", "D_basic", discriminator_vars(RES, **FM), rng, dict(resolution=RES, **FM))
    raw = dumps_highest_protocol((G, D, Gs), numpy_module)
    assert raw[:2] == b"\x80\x05" and b"\x8c\x0b_frombuffer" in raw
    assert (numpy_module or np.ndarray.__reduce_ex__(np.zeros(1), 5)[0].__module__).encode() in raw
    path = tmp_path / "network-snapshot-000000.pkl"
    path.write_bytes(raw)
    written = convert_official(path, tmp_path / "out")
    ours = rm.load_checkpoint(written["Gs"]).state_dict()
    for name, arr in variables_of(Gs).items():
        if name != "G_synthesis/lod":
            np.testing.assert_array_equal(ours[_our_key_for(name)].numpy(), _expected(name, np.asarray(arr)), err_msg=name)
    d = rm.load_checkpoint(written["D"]).state_dict()
    np.testing.assert_array_equal(d["dense1.weight"].numpy(), variables_of(D)["4x4/Dense1/weight"].T)


def test_unpickler_allows_only_array_reconstruction_from_numpy():
    from reference_models.convert import RestrictedUnpickler
    import io
    for module, name in [("numpy", "load"), ("numpy.core.numeric", "fromstring"), ("numpy._core.numeric", "array"),
                         ("numpy.lib.npyio", "load"), ("numpy.core.numeric", "_frombuffer_x")]:
        raw = b"\x80\x04\x8c" + bytes([len(module)]) + module.encode() + b"\x8c" + bytes([len(name)]) + name.encode() + b"\x93."
        with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
            RestrictedUnpickler(io.BytesIO(raw)).load()


def test_d_paper_scopes_and_labels(tmp_path, monkeypatch):
    # D_paper's fused_scale is one bool for every block, and its Dense1 has one output, no LabelSwitch.
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(5)
    var_list = discriminator_vars(RES, down_name="Conv1", **FM)
    var_list = [(n.replace("32x32/Conv1/", "32x32/Conv1_down/"), s) for n, s in var_list]
    net = make_network("D", "D_paper", var_list, rng, dict(resolution=RES, **FM))
    dump((net,), tmp_path / "mixed.pkl")
    from reference_models.convert import convert_discriminator
    with pytest.raises(ConversionError, match="mix 'Conv1' and 'Conv1_down'"):
        convert_discriminator(read_official_pickle(tmp_path / "mixed.pkl")[0])
    net = make_network("D", "D_paper", discriminator_vars(RES, down_name="Conv1", **FM), rng,
                       dict(resolution=RES, label_size=3, fused_scale=False, **FM))
    dump(net, tmp_path / "d.pkl")
    D = convert_discriminator(read_official_pickle(tmp_path / "d.pkl"))
    assert D.cfg.label_size == 0 and D.cfg.downscale_after_act and D.cfg.fused_scale is False
    assert D(torch.zeros(4, 3, RES, RES)).shape == (4, 1)
