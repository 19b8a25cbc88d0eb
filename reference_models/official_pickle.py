"""Read NVIDIA's StyleGAN (v1) TensorFlow pickles without TensorFlow and without running their code,
and recognise the files that are not such pickles.

A dnnlib pickle holds ``dnnlib.tflib.network.Network`` objects whose pickled state is a dict with
``version`` (3 for StyleGAN v1, 4 for StyleGAN2), ``name``, ``static_kwargs``, ``components``,
``build_module_src`` (Python source that the official loader *executes*), ``build_func_name`` and
``variables`` (list of (local name, numpy array)). :class:`RestrictedUnpickler` maps the Network
class to :class:`OfficialNetwork`, a stub that only stores that state (the source is never
executed), allows exactly the numpy names that rebuild arrays, and refuses every other global.
"""

from __future__ import annotations

import importlib
import os
import pickle
import pickletools
import zipfile
from typing import Any

import numpy as np


class ConversionError(ValueError):
    """An official pickle cannot be converted; the message says why."""


class OfficialNetwork:
    """Inert stand-in for ``dnnlib.tflib.network.Network``: keeps the pickled state, runs nothing."""

    def __setstate__(self, state: dict) -> None:
        if not isinstance(state, dict) or "variables" not in state:
            raise ConversionError("a dnnlib Network in this pickle has no 'variables' in its state")
        self.state = state

    @property
    def name(self) -> str:
        """The network's name (its TensorFlow scope), e.g. 'Gs' or 'G_synthesis'."""
        return str(self.state.get("name"))

    @property
    def build_func_name(self) -> str:
        """Name of the official build function, e.g. 'G_style', 'D_basic', 'D_paper'."""
        return str(self.state.get("build_func_name"))

    @property
    def static_kwargs(self) -> dict:
        """The keyword arguments the network was built with."""
        return dict(self.state.get("static_kwargs") or {})

    @property
    def components(self) -> dict:
        """Sub-networks by role, e.g. {'synthesis': ..., 'mapping': ...}."""
        return dict(self.state.get("components") or {})

    def own_variables(self) -> dict[str, np.ndarray]:
        """This network's own variables by local name (sub-networks excluded)."""
        return {str(k): np.asarray(v) for k, v in self.state["variables"]}

    def variables(self) -> dict[str, np.ndarray]:
        """All variables as ``Network.vars`` names them: sub-networks prefixed by their name."""
        out = self.own_variables()
        for comp in self.components.values():
            if not isinstance(comp, OfficialNetwork):
                raise ConversionError("a component of a dnnlib Network is not a Network")
            out.update((f"{comp.name}/{k}", v) for k, v in comp.variables().items())
        return out

    def __repr__(self) -> str:
        return f"OfficialNetwork(name={self.name!r}, build_func_name={self.build_func_name!r})"


class _EasyDictStub(dict):
    """Stand-in for ``dnnlib.util.EasyDict`` (a plain dict subclass)."""


def _numpy_global(module: str, name: str) -> Any:
    # numpy 2 moved numpy.core to numpy._core; pickles name either spelling.
    for mod in (module.replace("numpy.core", "numpy._core"), module):
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"numpy global {module}.{name} is not available")


def _safe_reconstructor(cls: type, base: type, state: Any) -> Any:
    """copyreg._reconstructor (protocol 0/1 pickles) limited to the stand-in classes."""
    if cls not in (OfficialNetwork, _EasyDictStub) or base not in (object, dict):
        raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r} from {base!r}")
    obj = base.__new__(cls)
    if base is dict and state is not None:
        dict.__init__(obj, state)
    return obj


_STUBS = {
    ("dnnlib.tflib.network", "Network"): OfficialNetwork,
    ("dnnlib.util", "EasyDict"): _EasyDictStub,
    ("dnnlib", "EasyDict"): _EasyDictStub,
    ("collections", "OrderedDict"): dict,
    ("copyreg", "_reconstructor"): _safe_reconstructor,
    ("builtins", "object"): object,
    ("builtins", "dict"): dict,
}
# Exactly the names numpy's own pickling of arrays, scalars and dtypes refers to: _reconstruct
# (protocols 0-4), _frombuffer (protocol 5, which misc.save_pkl's HIGHEST_PROTOCOL is on
# Python >= 3.8), scalar, ndarray, dtype; each under numpy 1's and numpy 2's module spelling.
_NUMPY = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
          ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
          ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
          ("numpy", "ndarray"), ("numpy", "dtype")}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler for dnnlib pickles: dnnlib classes become inert stubs, numpy arrays are rebuilt,
    and any other global (which could run code) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        """Resolve a pickled global: a stub, a numpy reconstructor, or refusal."""
        if (module, name) in _STUBS:
            return _STUBS[(module, name)]
        if (module, name) in _NUMPY:
            return _numpy_global(module, name)
        if module == "_codecs" and name == "encode":
            import _codecs
            return _codecs.encode  # protocol-2 pickles of bytes; only encodes a string
        raise RefusedGlobal(module, name)


def read_official_pickle(path: str | os.PathLike) -> Any:
    """Unpickle an official dnnlib pickle with :class:`RestrictedUnpickler` (no code runs).

    A file of another kind (a PyTorch checkpoint, a stylegan2-ada-pytorch / StyleGAN3 pickle, ...)
    raises a :class:`ConversionError` that names what it is and the command that fits it.
    """
    if zipfile.is_zipfile(path):
        try:
            what = describe_torch_archive(path)
        except zipfile.BadZipFile as exc:
            what = f"a damaged zip archive (a torch.save checkpoint?), not an official StyleGAN v1 pickle ({exc})"
        raise ConversionError(f"{path}: {what}")
    with open(path, "rb") as f:
        try:
            obj = RestrictedUnpickler(f, encoding="latin1").load()
        except RefusedGlobal as exc:
            raise ConversionError(f"{path}: {describe_refused_global(exc.module, exc.name, path)}") from None
        except pickle.UnpicklingError as exc:
            raise ConversionError(f"{path}: {exc}") from None
        except Exception as exc:  # any other failure of a well-formed unpickle means a damaged file
            raise ConversionError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc}); the file is "
                                  "corrupt or truncated") from None
    if isinstance(obj, int) and obj == _TORCH_LEGACY_MAGIC:
        raise ConversionError(f"{path}: a PyTorch checkpoint in the legacy (pre-1.6) torch.save format, not an official "
                              f"StyleGAN v1 TensorFlow pickle; {_score_trusted(path)}")
    return obj


# --------------------------------------------------------------------------------------------
# Files that are not official StyleGAN v1 pickles: say what they are and what reads them

_ADA = "stylegan2-ada-pytorch / StyleGAN3"
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first object of a legacy torch.save file
_V1_FUNCS = ("G_style", "D_basic", "D_paper")
_STYLEGAN2_FUNCS = ("G_main", "D_stylegan2", "D_stylegan", "G_synthesis_stylegan2", "G_synthesis_stylegan_revised")


def _score_cmd(path: Any, whose: str = "a clone of their repository") -> str:
    return f"score it with `dmetrics score {path} --trust-pickle --code-path DIR_OF_THEIR_REPO` ({whose})"


def _score_trusted(path: Any) -> str:
    return "if you trust the file, " + _score_cmd(path, "the repository whose code wrote it")


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a global that :class:`RestrictedUnpickler` does not allow."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"refusing to load global '{module}.{name}'")
        self.module, self.name = module, name


def describe_refused_global(module: str, name: str, path: Any = "FILE") -> str:
    """One line saying what a pickle that names ``module.name`` is, and which command fits it."""
    top = module.split(".")[0]
    what = f"it references {module}.{name}"
    if top == "torch_utils" or module.startswith(("training.networks", "training.augment")):
        return (f"a {_ADA} network pickle ({what}), not an official StyleGAN v1 TensorFlow pickle; {_score_cmd(path)}")
    if top == "tfutil":
        return (f"an original ProGAN pickle (tkarras/progressive_growing_of_gans, {what}); convert-official reads "
                "NVlabs/stylegan v1 pickles (dnnlib.tflib.network.Network) only")
    if top == "torch":
        return (f"a pickled PyTorch object ({what}), not an official StyleGAN v1 TensorFlow pickle; {_score_trusted(path)}")
    return (f"refusing to load global '{module}.{name}': only dnnlib Networks and numpy arrays may appear in an "
            "official StyleGAN v1 pickle (this file is not one, or may run code when unpickled)")


def _pickle_strings(data: bytes) -> set[str]:
    """Every string constant of a pickle, read with pickletools (nothing is executed)."""
    out = set()
    try:
        for op, arg, _ in pickletools.genops(data):
            if (isinstance(arg, str) and "UNICODE" in op.name) or op.name in ("GLOBAL", "INST"):
                out.update(str(arg).split(" "))
    except ValueError:  # a damaged tail hides only the strings after it, and the caller's fallback text stays true
        return out
    return out


def describe_torch_archive(path: str | os.PathLike) -> str:
    """One line saying what a torch.save zip archive is (by its keys, read without unpickling)."""
    with zipfile.ZipFile(path) as zf:
        pkl = [n for n in zf.namelist() if n.endswith("data.pkl")]
        strings = _pickle_strings(zf.read(pkl[0])) if pkl else set()
    if {"format_version", "kind", "config"} <= strings or {"kind", "state_dict"} <= strings:
        return "already a reference_models checkpoint (torch.save archive); pass it to `dmetrics score` as it is"
    if "g_ema" in strings:
        return ("a rosinality/stylegan2-pytorch checkpoint (torch.save archive with a 'g_ema' state_dict), not an "
                f"official StyleGAN v1 TensorFlow pickle; {_score_trusted(path)}")
    if any(s.split(".")[0] == "torch_utils" or s.startswith("training.networks") for s in strings):
        return f"a {_ADA} network saved with torch.save, not an official StyleGAN v1 TensorFlow pickle; {_score_cmd(path)}"
    return f"a PyTorch checkpoint (torch.save archive), not an official StyleGAN v1 TensorFlow pickle; {_score_trusted(path)}"


def check_stylegan_v1(net: OfficialNetwork, path: Any = "PKL") -> None:
    """Refuse a dnnlib Network that is not one of StyleGAN v1's (G_style, D_basic, D_paper), saying what it is."""
    func, version = net.build_func_name, net.state.get("version")
    if func in _STYLEGAN2_FUNCS or (isinstance(version, int) and version >= 4):
        raise ConversionError(
            f"{net!r} is a StyleGAN2 TensorFlow network (dnnlib Network version {version}); convert-official reads "
            f"StyleGAN v1 pickles only: convert it with stylegan2-ada-pytorch's `python legacy.py --source {path} --dest "
            f"OUT.pkl`, then {_score_cmd('OUT.pkl')}")
    if func not in _V1_FUNCS:
        raise ConversionError(f"{net!r}: convert-official supports the StyleGAN v1 networks {', '.join(_V1_FUNCS)} "
                              f"only, not {func}")
