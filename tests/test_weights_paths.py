"""Issue 15, item 4: --allow-hash-mismatch holds on every resolution path of the FID Inception, and
NVIDIA's TorchScript file found in the weights folder is used without --weights."""

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cli.main import main
from disentangle_metrics._core import sampling
from disentangle_metrics._core import weights as W
from disentangle_metrics.features import build_extractor
from disentangle_metrics.generators.sources import to_uint8
from disentangle_metrics._core.weights import WeightsHashError, sha256_of
from tests.fid_helpers import ToyGenerator, inception_weights  # noqa: F401

PT_NAME = "pt_inception-2015-12-05-6726825d.pth"


class _NvidiaLike(torch.nn.Module):
    """The call interface of NVIDIA's TorchScript Inception, cheap: m(u8, return_features=True) -> [N, 2048]."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 4 * 4, 2048)

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        return torch.tanh(self.fc(torch.nn.functional.adaptive_avg_pool2d((x.float() - 128) / 128, 4).flatten(1)))


def _place(kind, src, tmp_path, monkeypatch, name=PT_NAME):
    """Put ``src`` where resolution path ``kind`` looks; return the weights= argument that path needs."""
    if kind == "explicit":
        dst = tmp_path / "given" / name
    elif kind == "env":
        dst = tmp_path / "wdir" / name
        monkeypatch.setenv("DMETRICS_WEIGHTS_DIR", str(dst.parent))
    else:
        dst = W.weights_cache_dir() / name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return str(dst) if kind == "explicit" else None


@pytest.mark.parametrize("kind", ["explicit", "env", "cache"])
def test_flag_honoured_on_every_path(kind, inception_weights, tmp_path, monkeypatch):
    weights = _place(kind, inception_weights, tmp_path, monkeypatch)
    with pytest.raises(WeightsHashError, match="allow-hash-mismatch"):
        build_extractor("inception-v3-tf", weights=weights, device="cpu")
    ext = build_extractor("inception-v3-tf", weights=weights, device="cpu", allow_hash_mismatch=True)
    assert ext.weights_sha256 == sha256_of(inception_weights)


@pytest.mark.parametrize("kind", ["env", "cache"])
def test_stats_cli_honours_the_flag(kind, inception_weights, tmp_path, monkeypatch):
    _place(kind, inception_weights, tmp_path, monkeypatch)
    np.save(tmp_path / "real.npy", np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8))
    args = ["stats", str(tmp_path / "real.npy"), "--out", str(tmp_path / "s.npz"), "--device", "cpu", "--no-progress"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "allow-hash-mismatch" in r.output
    r = CliRunner().invoke(main, args + ["--allow-hash-mismatch"])
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "s.npz") as f:
        assert str(f["weights_sha256"]) == sha256_of(inception_weights)


def test_score_cli_honours_the_flag(inception_weights, tmp_path, monkeypatch):
    import numpy as np

    from disentangle_metrics.functional.stats import FeatureStats
    _place("env", inception_weights, tmp_path, monkeypatch)
    ref = tmp_path / "x.npz"
    FeatureStats.from_mean_cov(np.zeros(2048), np.eye(2048), 3000).save(ref, extractor="inception-v3-tf")
    args = ["score", "tests.fid_helpers:make_toy_generator", "--metrics", "fid50k", "--reference", str(ref),
            "--num-samples", "2", "--device", "cpu", "--no-progress", "--out", str(tmp_path / "r.jsonl")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "WeightsHashError" in r.output
    r = CliRunner().invoke(main, args + ["--allow-hash-mismatch"])
    # past the weights: a value, with the next guard's finding stated (2 samples: a rank-1 covariance)
    assert r.exit_code == 0 and "WeightsHashError" not in r.output and "rank at most 1 < 2048" in r.output, r.output


def test_nvidia_torchscript_in_the_weights_folder_is_used(tmp_path, monkeypatch):
    torch.manual_seed(0)
    wdir = tmp_path / "wdir"
    wdir.mkdir()
    torch.jit.save(torch.jit.script(_NvidiaLike()), str(wdir / "inception-2015-12-05.pt"))
    monkeypatch.setenv("DMETRICS_WEIGHTS_DIR", str(wdir))
    sha = sha256_of(wdir / "inception-2015-12-05.pt")
    n = 2100                                              # > 2048: a full-rank covariance on both sides
    G = ToyGenerator(resolution=8, shift=0.2)
    imgs = to_uint8(G.synthesis(G.mapping(sampling.randn(3, range(n), [8]), None))).permute(0, 2, 3, 1).numpy()
    np.save(tmp_path / "real.npy", imgs)
    r = CliRunner().invoke(main, ["stats", str(tmp_path / "real.npy"), "--out", str(tmp_path / "s.npz"),
                                  "--device", "cpu", "--no-progress", "--batch-size", "700"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(main, ["score", "tests.fid_helpers:make_toy_generator", "--metrics", "fid50k",
                                  "--reference", str(tmp_path / "s.npz"), "--num-samples", str(n), "--batch-size",
                                  "700", "--device", "cpu", "--no-progress", "--out", str(out)])
    assert r.exit_code == 1 and "16x16" in r.output     # the stats file is 8x8: refused (item 6) ...
    r = CliRunner().invoke(main, ["score", "tests.guard_helpers:good", "--metrics", "fid50k",
                                  "--reference", str(tmp_path / "s.npz"), "--num-samples", str(n), "--batch-size",
                                  "700", "--device", "cpu", "--no-progress", "--out", str(out)])
    assert r.exit_code == 0, r.output                   # ... and used at the generator's 8x8
    line = json.loads(out.read_text().splitlines()[-1])
    assert line["weights"] == {"inception-2015-12-05-nvidia": sha} and line["metric"] == "fid2100"


def test_missing_error_names_the_nvidia_alternative():
    with pytest.raises(W.MissingWeightsError, match="inception-2015-12-05.pt"):
        build_extractor("inception-v3-tf", device="cpu")
