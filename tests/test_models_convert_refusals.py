"""`convert-official` refuses files that are not StyleGAN v1 TensorFlow pickles with one line naming
what the file is and the command that fits it. The foreign pickles here are synthetic: they carry
the module and class names their writers use (stylegan2-ada-pytorch's torch_utils.persistence,
training.networks; rosinality's 'g_ema' checkpoint layout; StyleGAN2-TF's G_main), no code of theirs."""

import pickle
import sys
import types

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import reference_models as rm
from reference_models.convert import ConversionError, convert_official
from tests._official_stylegan import discriminator_vars, dump, install_fake_dnnlib, make_network, make_official_generator



def score_cmd(path):
    return f"`dmetrics score {path} --trust-pickle --code-path DIR_OF_THEIR_REPO`"


def _fake_module(monkeypatch, name, **attrs):
    mod = types.ModuleType(name)
    for key, value in attrs.items():
        if isinstance(value, type) or callable(value):
            value.__module__, value.__qualname__ = name, key
        setattr(mod, key, value)
    monkeypatch.setitem(sys.modules, name, mod)
    parent = name.rpartition(".")[0]
    if parent and parent not in sys.modules:  # pickle imports the dotted name, parent first
        monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    return mod


def _ada_pickle(monkeypatch, path):
    """A stylegan2-ada-pytorch snapshot's layout: persistent objects reduce to
    torch_utils.persistence._reconstruct_persistent_obj(meta)."""
    def _reconstruct_persistent_obj(meta):
        raise AssertionError("never called")

    _fake_module(monkeypatch, "torch_utils.persistence", _reconstruct_persistent_obj=_reconstruct_persistent_obj)

    class Persistent:
        def __init__(self, cls):
            self.meta = dict(type="class", version=6, module_src="raise RuntimeError('never run')", class_name=cls,
                             state={"w_avg": np.zeros(4, np.float32)})

        def __reduce__(self):
            return _reconstruct_persistent_obj, (self.meta,)

    snapshot = dict(training_set_kwargs=dict(class_name="training.dataset.ImageFolderDataset", path="x.zip"),
                    G=Persistent("Generator"), D=Persistent("Discriminator"), G_ema=Persistent("Generator"))
    with open(path, "wb") as f:
        pickle.dump(snapshot, f)
    return path


def _convert_error(tmp_path, path):
    with pytest.raises(ConversionError) as info:
        convert_official(path, tmp_path / "out")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(path))
    assert not (tmp_path / "out").exists()
    return msg


def test_stylegan2_ada_pickle(tmp_path, monkeypatch):
    path = _ada_pickle(monkeypatch, tmp_path / "network-snapshot-000000.pkl")
    msg = _convert_error(tmp_path, path)
    assert "stylegan2-ada-pytorch / StyleGAN3 network pickle" in msg
    assert "torch_utils.persistence._reconstruct_persistent_obj" in msg and score_cmd(path) in msg


def test_unwrapped_training_networks_class(tmp_path, monkeypatch):
    class Generator:
        pass

    _fake_module(monkeypatch, "training.networks_stylegan3", Generator=Generator)
    path = tmp_path / "sg3.pkl"
    dump({"G_ema": Generator()}, path)
    msg = _convert_error(tmp_path, path)
    assert "stylegan2-ada-pytorch / StyleGAN3" in msg and "training.networks_stylegan3.Generator" in msg
    assert score_cmd(path) in msg


def test_rosinality_checkpoint(tmp_path):
    path = tmp_path / "550000.pt"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(2, 2)}, "latent_avg": torch.zeros(2),
                "g": {"style.1.weight": torch.zeros(2, 2)}}, path)
    msg = _convert_error(tmp_path, path)
    assert "rosinality/stylegan2-pytorch checkpoint" in msg
    assert score_cmd(path) in msg


def test_plain_pytorch_checkpoint_and_own_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    assert "a PyTorch checkpoint (torch.save archive)" in _convert_error(tmp_path, path)
    own = tmp_path / "own.pt"
    G = rm.build_generator("f-mixing90", resolution=8, fmap_base=32, fmap_max=8, latent_size=4, seed=0)
    torch.save(rm.network_record(G), own)
    assert "already a reference_models checkpoint" in _convert_error(tmp_path, own)
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(1)}, legacy, _use_new_zipfile_serialization=False)
    assert "legacy (pre-1.6) torch.save format" in _convert_error(tmp_path, legacy)


def test_stylegan2_tensorflow_pickle(tmp_path, monkeypatch):
    install_fake_dnnlib(monkeypatch)
    rng = np.random.default_rng(0)
    Gs = make_official_generator(rng, 8, 4, dict(fmap_base=32, fmap_max=8), mapping_depth=1, name="Gs")
    Gs._state.update(version=4, build_func_name="G_main")
    D = make_network("D", "D_stylegan2", discriminator_vars(8, fmap_base=32, fmap_max=8), rng)
    D._state["version"] = 4
    path = tmp_path / "stylegan2-ffhq-config-f.pkl"
    dump((Gs, D, Gs), path)
    msg = _convert_error(tmp_path, path)
    assert "StyleGAN2 TensorFlow network" in msg and f"`python legacy.py --source {path} --dest OUT.pkl`" in msg
    assert score_cmd("OUT.pkl") in msg


def test_unsupported_v1_network(tmp_path, monkeypatch):
    install_fake_dnnlib(monkeypatch)
    net = make_network("G", "G_paper", [("lod", ())], np.random.default_rng(0))
    dump(net, tmp_path / "progan-g.pkl")
    assert "supports the StyleGAN v1 networks G_style, D_basic, D_paper only, not G_paper" in \
        _convert_error(tmp_path, tmp_path / "progan-g.pkl")


def test_cli_refusal_is_one_line(tmp_path, monkeypatch):
    from cli.main import main
    path = _ada_pickle(monkeypatch, tmp_path / "network-snapshot-000000.pkl")
    res = CliRunner().invoke(main, ["convert-official", str(path), "--out", str(tmp_path / "out")])
    assert res.exit_code != 0
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and score_cmd(path) in lines[0], res.output
