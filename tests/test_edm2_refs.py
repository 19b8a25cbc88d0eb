"""EDM2 reference statistics (.pkl) -> the project's stats files, through a numpy-only unpickler."""

import os
import pickle

import numpy as np
import pytest
from click.testing import CliRunner

from disentangle_metrics.features.edm2_refs import convert_edm2_reference, read_edm2_reference
from disentangle_metrics.functional.stats import FeatureStats, read_stats_info


def _edm2_stats(seed=0, num=50000):
    """A dict shaped as EDM2's calculate_stats_for_iterable writes it (float64 mu and a PSD sigma)."""
    rng = np.random.default_rng(seed)
    out = {"num_images": num}
    for key, dim in (("fid", 2048), ("fd_dinov2", 1024)):
        a = rng.standard_normal((dim, 8))
        out[key] = dict(mu=rng.standard_normal(dim), sigma=a @ a.T / 8 + np.eye(dim) * 1e-3)
    return out


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_converted_files_hold_the_pickled_statistics(tmp_path, protocol):
    ref = _edm2_stats()
    pkl = tmp_path / "img512.pkl"
    pkl.write_bytes(pickle.dumps(ref, protocol=protocol))
    written = convert_edm2_reference(pkl, tmp_path / "out", resolution=512)
    assert {k: p.name for k, p in written.items()} == {"fid": "img512.inception-v3-tf.npz",
                                                       "fd_dinov2": "img512.dinov2-vitl14.npz"}
    for key, ext in (("fid", "inception-v3-tf"), ("fd_dinov2", "dinov2-vitl14")):
        st = FeatureStats.load(written[key])
        assert np.array_equal(st.mean().numpy(), ref[key]["mu"])
        assert np.array_equal(st.cov().numpy(), ref[key]["sigma"])
        assert st.count == 50000 and st.count_known
        info = read_stats_info(written[key])
        assert info["extractor"] == ext and info["image_resolution"] == "512"
        assert "mirror" not in info   # unknown: recorded in the note, not as a value a run would be checked against


def test_without_num_images_the_count_is_unknown(tmp_path):
    ref = _edm2_stats()
    del ref["num_images"], ref["fid"]
    pkl = tmp_path / "r.pkl"
    pkl.write_bytes(pickle.dumps(ref))
    written = convert_edm2_reference(pkl, tmp_path)
    assert list(written) == ["fd_dinov2"]
    st = FeatureStats.load(written["fd_dinov2"])
    assert not st.count_known and read_stats_info(written["fd_dinov2"])["image_resolution"] == "unknown"
    assert np.array_equal(st.cov().numpy(), ref["fd_dinov2"]["sigma"])


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload, match", [
    ({"fid": {"mu": _Evil(), "sigma": 0}}, "refusing global"),
    ({"fid": {"mu": np.zeros(1024), "sigma": np.zeros((1024, 1024))}}, "expected \\(2048,\\)"),
    ({"fd_dinov2": {"mu": np.full(1024, np.nan), "sigma": np.eye(1024)}}, "NaN"),
    ({"something": 1}, "'fid' and/or 'fd_dinov2'"),
    ({"fid": {"mu": np.zeros(2048)}}, "'mu' and 'sigma'"),
])
def test_bad_pickles_are_refused_with_the_reason(tmp_path, payload, match):
    pkl = tmp_path / "bad.pkl"
    pkl.write_bytes(pickle.dumps(payload))
    with pytest.raises(ValueError, match=match):
        read_edm2_reference(pkl)


def test_cli_converts_and_names_the_files(tmp_path):
    from cli.main import main
    ref = _edm2_stats(num=1000)
    ref["precision"] = {"x": np.zeros(3)}   # a metric this project has no extractor for
    pkl = tmp_path / "cifar.pkl"
    pkl.write_bytes(pickle.dumps(ref))
    res = CliRunner().invoke(main, ["convert-edm2-ref", str(pkl), "--out-dir", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "cifar.dinov2-vitl14.npz (1024-d, extractor dinov2-vitl14, 1000 images)" in res.output
    assert "not converted (no matching extractor): precision" in res.output
    assert (tmp_path / "o" / "cifar.inception-v3-tf.npz").is_file()
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle")
    res = CliRunner().invoke(main, ["convert-edm2-ref", str(bad), "--out-dir", str(tmp_path / "o")])
    assert res.exit_code == 1 and "not a readable EDM2 reference pickle" in res.output


def test_reference_check_takes_the_file_for_its_extractor_only(tmp_path):
    """--reference's check: the converted file goes with dinov2-vitl14 at its resolution, nothing else."""
    import torch
    from disentangle_metrics.features import FeatureExtractor
    from disentangle_metrics.features.cache import reference_stats

    class _Named(FeatureExtractor):
        feature_dim = 1024

    pkl = tmp_path / "img64.pkl"
    pkl.write_bytes(pickle.dumps(_edm2_stats()))
    path = convert_edm2_reference(pkl, tmp_path, resolution=64)["fd_dinov2"]
    ext = _Named()
    kw = dict(device=torch.device("cpu"), num_real=None, mirror=True, seed=0, progress=False)
    ext.registry_name = "dinov2-vitl14"
    st, _ = reference_stats(str(path), ext, resolution=64, **kw)
    assert st.count == 50000
    with pytest.raises(ValueError, match="64x64"):
        reference_stats(str(path), ext, resolution=256, **kw)
    ext.registry_name = "dinov2-vitl14-pil"   # dgm-eval's preprocessing: other features, other statistics
    with pytest.raises(ValueError, match="extractor dinov2-vitl14"):
        reference_stats(str(path), ext, resolution=64, **kw)
