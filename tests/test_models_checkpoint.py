"""Checkpoints: config.json + state_dict round trips, training checkpoints, and errors for people."""

import json
import pickle

import pytest
import torch

import reference_models as rm
from reference_models.checkpoint import CheckpointError, network_record

SMALL = dict(fmap_base=256, fmap_max=32, latent_size=16)


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("build", [
    lambda: rm.build_generator("f-mixing90", resolution=16, seed=1, **SMALL),
    lambda: rm.build_generator("b-traditional", resolution=16, seed=1, **SMALL),
    lambda: rm.build_discriminator(resolution=16, seed=1, fmap_base=256, fmap_max=32),
    lambda: rm.build_classifier(3, resolution=16, seed=1, fmap_base=256, fmap_max=32),
])
def test_folder_round_trip(build, tmp_path):
    model = build()
    with torch.no_grad():
        for buf in model.buffers():
            if buf.dtype.is_floating_point:
                buf.add_(0.5)  # buffers (w_avg, noise, lod) must survive too
    folder = rm.save_checkpoint(model, tmp_path / "ckpt")
    meta = json.loads((folder / "config.json").read_text())
    assert meta["kind"] == model.kind and meta["format_version"] == 1 and meta["config"]["resolution"] == 16
    loaded = rm.load_checkpoint(folder)
    assert type(loaded) is type(model) and not loaded.training and loaded.cfg == model.cfg
    assert _same(loaded, model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary leftovers
    rm.save_checkpoint(build(), folder)  # overwriting is atomic too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_generator_outputs_survive_round_trip(tmp_path):
    G = rm.build_generator("e-noise", resolution=16, seed=2, **SMALL).eval()
    G2 = rm.load_checkpoint(rm.save_checkpoint(G, tmp_path / "g"))
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.equal(G.synthesis(G.mapping(z), "const"), G2.synthesis(G2.mapping(z), "const"))


def test_single_file_and_training_checkpoint(tmp_path):
    G = rm.build_generator("f-mixing90", resolution=16, seed=0, **SMALL)
    D = rm.build_discriminator(resolution=16, seed=0, fmap_base=256, fmap_max=32)
    torch.save(network_record(G), tmp_path / "g.pt")
    assert _same(rm.load_checkpoint(tmp_path / "g.pt"), G)
    train = {"G": network_record(G), "D": network_record(D), "G_ema": network_record(G), "cur_nimg": 1000,
             "G_opt": {"state": {}, "param_groups": []}}
    torch.save(train, tmp_path / "train.pt")
    assert _same(rm.load_checkpoint(tmp_path / "train.pt"), G)
    assert _same(rm.load_checkpoint(tmp_path / "train.pt", key="D"), D)
    torch.save({"G": network_record(G)}, tmp_path / "noema.pt")
    with pytest.raises(CheckpointError, match="no network 'G_ema'.*holds G"):
        rm.load_checkpoint(tmp_path / "noema.pt")


def test_cli_loader_uses_checkpoints(tmp_path):
    from cli.loading import load_generator
    G = rm.build_generator("style-map0", resolution=16, seed=0, **SMALL)
    folder = rm.save_checkpoint(G, tmp_path / "g")
    loaded = load_generator(str(folder))
    assert loaded.has_mapping is False and loaded.z_dim == 16


def test_errors_name_the_file_and_the_fix(tmp_path):
    G = rm.build_generator("f-mixing90", resolution=16, seed=0, **SMALL)
    folder = rm.save_checkpoint(G, tmp_path / "g")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"empty.*config.json is missing"):
        rm.load_checkpoint(tmp_path / "empty")

    (folder / "model.pt").write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match=r"model.pt.*corrupt"):
        rm.load_checkpoint(folder)
    torch.save(network_record(G), tmp_path / "whole.pt")
    data = (tmp_path / "whole.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated.pt.*corrupt or truncated"):
        rm.load_checkpoint(tmp_path / "truncated.pt")

    folder = rm.save_checkpoint(G, tmp_path / "g")
    meta = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(meta, format_version=99)))
    with pytest.raises(CheckpointError, match="format version 99 is newer.*upgrade"):
        rm.load_checkpoint(folder)

    (folder / "config.json").write_text("{ not json")
    with pytest.raises(CheckpointError, match="corrupt JSON"):
        rm.load_checkpoint(folder)

    cfg = dict(meta["config"], mapping_layers=2)
    (folder / "config.json").write_text(json.dumps(dict(meta, config=cfg)))
    with pytest.raises(CheckpointError, match=r"unexpected keys mapping.dense.2"):
        rm.load_checkpoint(folder)

    cfg = dict(meta["config"], future_option=True)
    (folder / "config.json").write_text(json.dumps(dict(meta, config=cfg)))
    with pytest.raises(CheckpointError, match="no field.*future_option"):
        rm.load_checkpoint(folder)

    state = G.state_dict()
    del state["synthesis.const"]
    torch.save({"kind": "generator", "config": meta["config"], "state_dict": state}, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"missing.pt.*missing keys synthesis.const"):
        rm.load_checkpoint(tmp_path / "missing.pt")

    torch.save({"kind": "vae", "config": {}, "state_dict": {}}, tmp_path / "kind.pt")
    with pytest.raises(CheckpointError, match="unknown network kind 'vae'"):
        rm.load_checkpoint(tmp_path / "kind.pt")


class _Code:
    def __reduce__(self):
        return (print, ("hi",))


def test_foreign_pickles_raise_unpickling_error(tmp_path):
    torch.save({"G_ema": _Code()}, tmp_path / "foreign.pt")
    with pytest.raises(pickle.UnpicklingError):
        rm.load_checkpoint(tmp_path / "foreign.pt")


def test_cli_init_model(tmp_path):
    from click.testing import CliRunner

    from cli.main import main
    res = CliRunner().invoke(main, ["init-model", "style-map1", "--out", str(tmp_path / "g"), "--resolution", "16",
                                    "--fmap-base", "256", "--fmap-max", "32", "--latent-size", "16", "--seed", "3"])
    assert res.exit_code == 0, res.output
    G = rm.load_checkpoint(tmp_path / "g")
    assert G.cfg.mapping_layers == 1 and G.z_dim == 16
    assert _same(G, rm.build_generator("style-map1", resolution=16, seed=3, **SMALL))
    res = CliRunner().invoke(main, ["init-model", "h-unknown", "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "unknown generator preset" in res.output


def test_checkpoint_folder_has_ordinary_mode(tmp_path):
    import os
    from reference_models import build_generator, save_checkpoint
    old = os.umask(0o022)
    try:
        out = save_checkpoint(build_generator("f-mixing90", resolution=8, fmap_base=32, fmap_max=8, latent_size=8), tmp_path / "g")
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o755
