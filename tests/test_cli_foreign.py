"""CLI on foreign checkpoints: pickles that need their authors' code (--code-path), refusals, check, truncation."""

from __future__ import annotations

import json
import pickle
import sys

import pytest
from click.testing import CliRunner

from cli.main import main
from tests.test_foreign_generators import FAKE


@pytest.fixture
def snapshot(tmp_path, monkeypatch):
    """A pickle written the way stylegan2-ada's training loop writes snapshots ({'G_ema': G, ...}),
    with their code (here the stand-in) then taken off the path, as on a user's machine."""
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] in ("training", "torch_utils")}
    sys.path.insert(0, FAKE)
    try:
        import training.networks as networks
        G = networks.make_generator()
        path = tmp_path / "network-snapshot-000100.pkl"
        with open(path, "wb") as f:
            pickle.dump({"G": G, "D": None, "G_ema": G, "augment_pipe": None, "training_set_kwargs": {}}, f)
    finally:
        sys.path.remove(FAKE)
        for k in [k for k in sys.modules if k.split(".")[0] in ("training", "torch_utils")]:
            del sys.modules[k]
    monkeypatch.setattr(sys, "path", list(sys.path))       # --code-path edits sys.path: restored after the test
    yield path
    for k in [k for k in sys.modules if k.split(".")[0] in ("training", "torch_utils")]:
        del sys.modules[k]
    sys.modules.update(saved)


def test_refusal_names_the_route_for_the_file(snapshot):
    r = CliRunner().invoke(main, ["check", str(snapshot)])
    assert r.exit_code != 0
    assert "it looks like a stylegan2-ada-pytorch / StyleGAN3 pickle" in r.output and "--code-path" in r.output
    assert "convert-official" in r.output          # and which files that converter is for


def test_missing_code_names_module_repository_and_flag(snapshot):
    r = CliRunner().invoke(main, ["check", str(snapshot), "--trust-pickle"])
    assert r.exit_code != 0
    assert "'training'" in r.output and "NVlabs/stylegan2-ada-pytorch" in r.output and "--code-path" in r.output


def test_code_path_loads_adapts_and_checks_precision(snapshot):
    r = CliRunner().invoke(main, ["check", str(snapshot), "--trust-pickle", "--code-path", FAKE])
    assert r.exit_code == 0, r.output
    assert "adapter: stylegan2-ada" in r.output and "PPL runs it in float32 (force_fp32): eps^2 scaling ok" in r.output
    assert "FID-type metrics run it as its checkpoint says: float16 in b16, b32" in r.output


def test_check_fails_on_a_quantising_generator():
    r = CliRunner().invoke(main, ["check", "tests.test_cli_foreign:make_quantised"])
    assert r.exit_code == 1 and "PPL precision check" in r.output and "FAILS" in r.output


def test_score_with_truncation_and_code_path(snapshot, tmp_path):
    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(main, [
        "score", str(snapshot), "--trust-pickle", "--code-path", FAKE, "--metrics", "ppl_wend",
        "--distance", "tests.toy_generators_ppl:sql2_distance", "--num-samples", "8", "--truncation-psi", "0.7",
        "--device", "cpu", "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    line = json.loads(out.read_text().splitlines()[0])
    assert line["metric"].endswith("+psi0.7") and line["config"]["precision"] == "float32 (force_fp32)"
    assert line["config"]["generator"]["adapter"] == "stylegan2-ada"


def test_missing_code_path_folder_is_an_error(snapshot):
    r = CliRunner().invoke(main, ["check", str(snapshot), "--trust-pickle", "--code-path", str(snapshot) + ".nope"])
    assert r.exit_code != 0 and "no such folder" in r.output


def make_quantised():
    """Factory for the check test: a generator whose output is rounded to 256 levels."""
    import torch

    from tests.toy_generators_ppl import ConvGenerator

    class Quantised(ConvGenerator):
        def synthesis(self, ws, noise_mode="random"):
            return torch.round((super().synthesis(ws, noise_mode) + 1) * 127.5) / 127.5 - 1
    return Quantised()


def test_rosinality_training_checkpoint_rebuilt_from_code_path(tmp_path, monkeypatch):
    """rosinality's train.py saves {'g', 'd', 'g_ema', ..., 'args'} (state_dicts and an argparse Namespace)."""
    import argparse

    import torch

    from disentangle_metrics.generators.adapters import RosinalityAdapter
    from cli.loading import load_generator

    code = str(__import__("pathlib").Path(__file__).parent / "fake_rosinality")
    monkeypatch.setattr(sys, "path", [code] + list(sys.path))
    saved = sys.modules.pop("model", None)
    try:
        import model
        torch.manual_seed(0)
        g = model.Generator(32, 8, 2, channel_multiplier=2)
        args = argparse.Namespace(size=32, latent=8, n_mlp=2, channel_multiplier=2)
        path = tmp_path / "080000.pt"
        torch.save({"g": g.state_dict(), "g_ema": g.state_dict(), "args": args}, path)
        del sys.modules["model"]
        sys.path.remove(code)
        r = CliRunner().invoke(main, ["check", str(path)])
        assert r.exit_code != 0 and "it looks like a rosinality stylegan2-pytorch checkpoint" in r.output
        r = CliRunner().invoke(main, ["check", str(path), "--trust-pickle"])
        assert r.exit_code != 0 and "'model'" in r.output and "rosinality/stylegan2-pytorch" in r.output
        r = CliRunner().invoke(main, ["check", str(path), "--trust-pickle", "--code-path", code])
        assert r.exit_code == 0, r.output
        assert "adapter: rosinality" in r.output and "eps^2 scaling ok" in r.output
        G = load_generator(str(path), trust_pickle=True, code_path=[code])
        assert isinstance(G, RosinalityAdapter) and (G.img_resolution, G.z_dim, G.num_ws) == (32, 8, 8)
        for k, v in g.state_dict().items():
            assert torch.equal(G.module.state_dict()[k], v), k
    finally:
        sys.modules.pop("model", None)
        if saved is not None:
            sys.modules["model"] = saved


def test_pickle_kind_reads_opcodes_only(tmp_path):
    from cli.loading import pickle_kind
    tf = tmp_path / "karras2019stylegan-ffhq-1024x1024.pkl"
    tf.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\n)\x81.")      # never unpickled: dnnlib is absent
    assert "convert-official" in pickle_kind(tf)
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle")
    assert pickle_kind(junk) == "a pickle of unknown origin"
