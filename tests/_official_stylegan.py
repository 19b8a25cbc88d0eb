"""Test helper: the variables NVlabs/stylegan's networks create, enumerated from the structure of
training/networks_stylegan.py (G_style / G_mapping / G_synthesis / D_basic), independently of
reference_models, plus a writer of synthetic official pickles with random values."""

from __future__ import annotations

import math
import pickle
import sys
import types

import numpy as np


def nf(stage, fmap_base=8192, fmap_decay=1.0, fmap_max=512):
    return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)


def mapping_vars(latent=512, dlatent=512, depth=8, fmaps=512, label=0):
    out = []
    if label:
        out.append(("LabelConcat/weight", (label, latent)))
    fin = latent * (2 if label else 1)
    for i in range(depth):
        fout = dlatent if i == depth - 1 else fmaps
        out += [(f"Dense{i}/weight", (fin, fout)), (f"Dense{i}/bias", (fout,))]
        fin = fout
    return out


def synthesis_vars(resolution=1024, dlatent=512, styles=True, const=True, noise=True, channels=3, **fm):
    L = int(math.log2(resolution))
    n = lambda s: nf(s, **fm)  # noqa: E731
    out = [("lod", ())]
    if noise:
        out += [(f"noise{i}", (1, 1, 2 ** (i // 2 + 2), 2 ** (i // 2 + 2))) for i in range(2 * L - 2)]

    def epilogue(scope, C):
        v = []
        if noise:
            v.append((f"{scope}/Noise/weight", (C,)))
        v.append((f"{scope}/bias", (C,)))
        if styles:
            v += [(f"{scope}/StyleMod/weight", (dlatent, 2 * C)), (f"{scope}/StyleMod/bias", (2 * C,))]
        return v

    C = n(1)
    if const:
        out += [("4x4/Const/const", (1, C, 4, 4))] + epilogue("4x4/Const", C)
    else:
        out += [("4x4/Dense/weight", (dlatent, C * 16))] + epilogue("4x4/Dense", C)
    out += [("4x4/Conv/weight", (3, 3, C, C))] + epilogue("4x4/Conv", C)
    for res in range(3, L + 1):
        r, cin, c = 2 ** res, n(res - 2), n(res - 1)
        out += [(f"{r}x{r}/Conv0_up/weight", (3, 3, cin, c))] + epilogue(f"{r}x{r}/Conv0_up", c)
        out += [(f"{r}x{r}/Conv1/weight", (3, 3, c, c))] + epilogue(f"{r}x{r}/Conv1", c)
    for res in range(2, L + 1):
        out += [(f"ToRGB_lod{L - res}/weight", (1, 1, n(res - 1), channels)), (f"ToRGB_lod{L - res}/bias", (channels,))]
    return out


def discriminator_vars(resolution=1024, channels=3, mbstd=True, outputs=1, down_name="Conv1_down", **fm):
    L = int(math.log2(resolution))
    n = lambda s: nf(s, **fm)  # noqa: E731
    out = [("lod", ())]
    for res in range(L, 1, -1):
        out += [(f"FromRGB_lod{L - res}/weight", (1, 1, channels, n(res - 1))), (f"FromRGB_lod{L - res}/bias", (n(res - 1),))]
    for res in range(L, 2, -1):
        r = 2 ** res
        out += [(f"{r}x{r}/Conv0/weight", (3, 3, n(res - 1), n(res - 1))), (f"{r}x{r}/Conv0/bias", (n(res - 1),)),
                (f"{r}x{r}/{down_name}/weight", (3, 3, n(res - 1), n(res - 2))), (f"{r}x{r}/{down_name}/bias", (n(res - 2),))]
    out += [("4x4/Conv/weight", (3, 3, n(1) + (1 if mbstd else 0), n(1))), ("4x4/Conv/bias", (n(1),)),
            ("4x4/Dense0/weight", (n(1) * 16, n(0))), ("4x4/Dense0/bias", (n(0),)),
            ("4x4/Dense1/weight", (n(0), outputs)), ("4x4/Dense1/bias", (outputs,))]
    return out


NON_TRAINABLE = ("lod", "dlatent_avg")


def trainable_count(var_list):
    return sum(int(np.prod(s)) for name, s in var_list
               if name.split("/")[-1] not in NON_TRAINABLE and not name.split("/")[-1].startswith("noise"))


# --------------------------------------------------------------------------------------------
# Synthetic pickles


class Network:
    """Stand-in pickled under the name dnnlib.tflib.network.Network with a dnnlib-like state."""

    def __init__(self, state):
        self._state = state

    def __getstate__(self):
        return self._state


Network.__module__ = "dnnlib.tflib.network"


def install_fake_dnnlib(monkeypatch):
    """Make dnnlib.tflib.network.Network importable so pickle can name the stand-in class."""
    dn, tfl, net = (types.ModuleType(n) for n in ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"))
    net.Network = Network
    dn.tflib, tfl.network = tfl, net
    for m in (dn, tfl, net):
        monkeypatch.setitem(sys.modules, m.__name__, m)


def make_network(name, func, var_list, rng, static_kwargs=None, components=None):
    variables = []
    for vname, shape in var_list:
        if vname == "lod":
            variables.append((vname, np.float32(0.0)))  # TF returns a numpy scalar for a 0-d variable
        else:
            variables.append((vname, rng.standard_normal(shape).astype(np.float32)))
    return Network({"version": 3, "name": name, "static_kwargs": dict(static_kwargs or {}),
                    "components": dict(components or {}), "build_module_src": "raise RuntimeError('never run')",
                    "build_func_name": func, "variables": variables})


def make_official_generator(rng, resolution, latent, fm, mapping_depth=8, styles=True, const=True, noise=True,
                            static_kwargs=None, name="G"):
    kw = dict(static_kwargs or {}, resolution=resolution, num_channels=3, label_size=0, latent_size=latent,
              dlatent_size=latent, mapping_fmaps=latent, **fm)
    mapping = make_network("G_mapping", "G_mapping", mapping_vars(latent, latent, mapping_depth, latent), rng, kw)
    synthesis = make_network("G_synthesis", "G_synthesis",
                             synthesis_vars(resolution, latent, styles, const, noise, **fm), rng, kw)
    return make_network(name, "G_style", [("lod", ()), ("dlatent_avg", (latent,))], rng, kw,
                        {"synthesis": synthesis, "mapping": mapping})


def variables_of(net, prefix=""):
    out = {prefix + k: v for k, v in net._state["variables"]}
    for comp in net._state["components"].values():
        out.update(variables_of(comp, prefix + comp._state["name"] + "/"))
    return out


def dump(obj, path, protocol=4):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


def dumps_highest_protocol(obj, numpy_module=None):
    """What training/misc.save_pkl writes on Python >= 3.8: pickle.HIGHEST_PROTOCOL (5), with which
    numpy reduces each contiguous array to ``<module>._frombuffer(buffer, dtype, shape, order)``
    and an in-band buffer. ``numpy_module=None``: the installed numpy writes it (numpy 2 spells the
    module 'numpy._core.numeric'); otherwise a stand-in writes that spelling, e.g. numpy 1.x's
    'numpy.core.numeric' (the official code's)."""
    import io
    if numpy_module is None:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)

    def _frombuffer(buf, dtype, shape, order):  # never called: only its pickled name matters
        raise AssertionError

    _frombuffer.__module__, _frombuffer.__qualname__ = numpy_module, "_frombuffer"
    fake = types.ModuleType(numpy_module)
    fake._frombuffer = _frombuffer

    class Pickler(pickle.Pickler):
        def reducer_override(self, o):
            if type(o) is np.ndarray and o.ndim > 0:
                a = np.ascontiguousarray(o)
                return _frombuffer, (pickle.PickleBuffer(a), a.dtype, a.shape, "C")
            return NotImplemented

    saved = sys.modules.get(numpy_module)
    sys.modules[numpy_module] = fake  # pickle looks the function up by module and name
    try:
        buf = io.BytesIO()
        Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    finally:
        if saved is None:
            del sys.modules[numpy_module]
        else:
            sys.modules[numpy_module] = saved
    return buf.getvalue()
