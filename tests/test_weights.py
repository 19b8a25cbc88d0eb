import hashlib
import os
from pathlib import Path

import pytest

from disentangle_metrics._core import weights as W


def _spec(tmp_path, content=b"weights-v1", torch_hub=False, name="test-weights", filename="test-w.pth"):
    src = tmp_path / "origin" / filename
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(content)
    return W.WeightSpec(name=name, filename=filename, url=src.as_uri(),
                        sha256=hashlib.sha256(content).hexdigest(), format=W.WeightsFormat.STATE_DICT,
                        torch_hub=torch_hub, description="test file"), src


@pytest.fixture
def spec(tmp_path, monkeypatch):
    s, src = _spec(tmp_path, torch_hub=True)
    monkeypatch.setitem(W.REGISTRY, s.name, s)
    return s, src


def _put(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(content)
    return folder / name


def test_resolution_order(spec, tmp_path, monkeypatch):
    s, src = spec
    hub = _put(W.torch_hub_checkpoint_dir(), s.filename, b"weights-v1")
    assert W.resolve(s.name, allow_download=False) == hub
    cache = _put(W.weights_cache_dir(), s.filename, b"weights-v1")
    assert W.resolve(s.name, allow_download=False) == cache          # cache beats torch hub
    env_dir = tmp_path / "envdir"
    env = _put(env_dir, s.filename, b"weights-v1")
    monkeypatch.setenv("DMETRICS_WEIGHTS_DIR", str(env_dir))
    assert W.resolve(s.name, allow_download=False) == env            # env dir beats cache
    assert W.resolve(s.name, path=src) == src                         # explicit path beats all


def test_torch_hub_only_for_torchvision_files(tmp_path, monkeypatch):
    s, _ = _spec(tmp_path, torch_hub=False, name="no-hub")
    monkeypatch.setitem(W.REGISTRY, s.name, s)
    _put(W.torch_hub_checkpoint_dir(), s.filename, b"weights-v1")
    with pytest.raises(W.MissingWeightsError):
        W.resolve(s.name, allow_download=False)


def test_hash_mismatch_refused_unless_overridden(spec, tmp_path):
    s, _ = spec
    bad = _put(tmp_path / "bad", s.filename, b"corrupted")
    with pytest.raises(W.WeightsHashError) as info:
        W.resolve(s.name, path=bad)
    msg = str(info.value)
    assert str(bad) in msg and s.sha256 in msg and "allow_hash_mismatch" in msg
    assert W.resolve(s.name, path=bad, allow_hash_mismatch=True) == bad
    # a corrupt file in the cache is refused too, not skipped in favour of a download
    _put(W.weights_cache_dir(), s.filename, b"corrupted")
    with pytest.raises(W.WeightsHashError):
        W.resolve(s.name)


def test_missing_weights_message_names_file_url_and_path(spec):
    s, _ = spec
    with pytest.raises(W.MissingWeightsError) as info:
        W.resolve(s.name)  # conftest sets DMETRICS_OFFLINE
    msg = str(info.value)
    assert s.filename in msg and s.url in msg
    assert str(W.weights_cache_dir() / s.filename) in msg
    assert "DMETRICS_OFFLINE" in msg


def test_missing_real_registry_entry_offline():
    with pytest.raises(W.MissingWeightsError) as info:
        W.resolve("inception-2015-12-05-pytorch-fid")
    assert "pt_inception-2015-12-05-6726825d.pth" in str(info.value)
    assert "github.com/mseitzer/pytorch-fid" in str(info.value)


def test_download_is_verified_and_atomic(spec, monkeypatch):
    s, _ = spec
    monkeypatch.delenv("DMETRICS_OFFLINE")
    p = W.resolve(s.name)                                  # file:// URL stands in for the network
    assert p == W.weights_cache_dir() / s.filename and p.read_bytes() == b"weights-v1"
    assert not [f for f in os.listdir(p.parent) if f.endswith(".part")]


def test_download_with_wrong_hash_leaves_nothing(tmp_path, monkeypatch):
    s, src = _spec(tmp_path, name="bad-dl")
    s = W.WeightSpec(**{**s.__dict__, "sha256": "0" * 64})
    monkeypatch.setitem(W.REGISTRY, s.name, s)
    monkeypatch.delenv("DMETRICS_OFFLINE")
    with pytest.raises(W.WeightsHashError):
        W.resolve(s.name)
    assert not W.weights_cache_dir().exists() or not os.listdir(W.weights_cache_dir())


def test_failed_download_becomes_missing_weights_error(tmp_path, monkeypatch):
    s, src = _spec(tmp_path, name="gone")
    src.unlink()
    monkeypatch.setitem(W.REGISTRY, s.name, s)
    monkeypatch.delenv("DMETRICS_OFFLINE")
    with pytest.raises(W.MissingWeightsError, match="download failed"):
        W.resolve(s.name)


def test_add_identifies_file_by_hash(spec, tmp_path):
    s, src = spec
    renamed = tmp_path / "whatever.bin"
    renamed.write_bytes(src.read_bytes())
    dest = W.add(renamed)
    assert dest == W.weights_cache_dir() / s.filename
    assert W.status(s.name, check_hash=True).ok


def test_status_reports_mismatch(spec):
    s, _ = spec
    _put(W.weights_cache_dir(), s.filename, b"other")
    st = W.status(s.name, check_hash=True)
    assert not st.ok and "MISMATCH" in st.message


def test_registry_has_the_files_the_metrics_need():
    files = {s.filename for s in W.REGISTRY.values()}
    assert {"pt_inception-2015-12-05-6726825d.pth", "inception-2015-12-05.pt",
            "vgg16-397923af.pth", "vgg16.pt"} <= files
    for s in W.REGISTRY.values():
        if s.sha256 is not None:
            # torch hub convention: the file name carries the hash prefix
            stem = s.filename.rsplit(".", 1)[0]
            if "-" in stem and len(stem.rsplit("-", 1)[1]) == 8:
                assert s.sha256.startswith(stem.rsplit("-", 1)[1])


def test_a_file_without_a_registered_hash_is_used_with_a_warning_naming_its_sha256(tmp_path):
    from disentangle_metrics._core import weights as W
    f = tmp_path / "vgg16.pt"
    f.write_bytes(b"not really NVIDIA's file")
    with pytest.warns(W.UnverifiedWeightsWarning, match=W.sha256_of(f)):
        assert W.resolve("vgg16-nvidia", f) == f
