import pickle

import torch
from click.testing import CliRunner

import disentangle_metrics
from cli.loading import UntrustedPickleError, load_generator
from cli.main import main
from tests.toy_generators import ToyGenerator

import pytest


def test_version():
    out = CliRunner().invoke(main, ["--version"])
    assert out.exit_code == 0 and disentangle_metrics.__version__ in out.output


def test_check_factory_ok():
    out = CliRunner().invoke(main, ["check", "tests.toy_generators:tiny_factory"])
    assert out.exit_code == 0, out.output
    assert "follows the protocol" in out.output


def test_check_reports_violations_with_exit_1(tmp_path, monkeypatch):
    mod = tmp_path / "badgen.py"
    mod.write_text(
        "from tests.toy_generators import ToyGenerator\n"
        "class Bad(ToyGenerator):\n"
        "    def synthesis(self, ws, noise_mode='random'):\n"
        "        return (super().synthesis(ws, noise_mode) + 1) * 127.5\n"
        "def make():\n    return Bad()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = CliRunner().invoke(main, ["check", "badgen:make"])
    assert out.exit_code == 1 and "range" in out.output


def test_pickle_refused_without_trust(tmp_path):
    path = tmp_path / "net.pkl"
    with open(path, "wb") as f:
        pickle.dump({"G_ema": ToyGenerator()}, f)
    with pytest.raises(UntrustedPickleError, match="--trust-pickle"):
        load_generator(str(path))
    out = CliRunner().invoke(main, ["check", str(path)])
    assert out.exit_code != 0 and "--trust-pickle" in out.output
    G = load_generator(str(path), trust_pickle=True)
    assert isinstance(G, ToyGenerator)
    out = CliRunner().invoke(main, ["check", str(path), "--trust-pickle"])
    assert out.exit_code == 0, out.output


def test_code_pickle_with_pt_suffix_refused(tmp_path):
    path = tmp_path / "net.pt"
    torch.save(ToyGenerator(), path)   # a whole module: loading it runs code
    with pytest.raises(UntrustedPickleError, match="weights_only"):
        load_generator(str(path))


def test_unknown_generator_spec():
    out = CliRunner().invoke(main, ["check", "no/such/file.pt"])
    assert out.exit_code != 0 and "no such file" in out.output


def test_weights_list_and_verify(tmp_path):
    r = CliRunner().invoke(main, ["weights", "list"])
    assert r.exit_code == 0 and "vgg16-397923af.pth" in r.output and "missing" in r.output
    r = CliRunner().invoke(main, ["weights", "verify"])
    assert r.exit_code == 0
    bad = tmp_path / "vgg16-397923af.pth"
    bad.write_bytes(b"not vgg")
    r = CliRunner().invoke(main, ["weights", "add", str(bad)])
    assert r.exit_code != 0 and "sha256" in r.output
