"""The inception-v3-tf extractor against pytorch-fid and torch-fidelity with identical random weights."""

import pytest
import torch

from disentangle_metrics.features import (FeatureExtractor, build_extractor, list_extractors,
                                          register_extractor)
from disentangle_metrics.features.tf_resize import resize_bilinear_tf1
from disentangle_metrics._core.weights import MissingWeightsError, WeightsHashError
from tests.fid_helpers import inception_weights, smooth_images  # noqa: F401


def _pytorch_fid_model(path):
    import pytorch_fid.inception as pfi
    orig = pfi.load_state_dict_from_url
    pfi.load_state_dict_from_url = lambda *a, **k: torch.load(path, weights_only=True)
    try:
        return pfi.InceptionV3([3], resize_input=True, normalize_input=True).eval()
    finally:
        pfi.load_state_dict_from_url = orig


def _check_well_scaled(f):
    # Features that are all zero, huge, or identical across images would make parity vacuous.
    assert 0.05 < f.mean().item() < 5 and (f == 0).float().mean().item() < 0.5
    assert (f[0] - f[1]).abs().mean().item() > 0.01 * f.abs().mean().item()


@pytest.mark.parametrize("fused,channels_last", [(True, True), (True, False), (False, False)])
def test_matches_pytorch_fid_at_299(inception_weights, fused, channels_last):
    u = smooth_images(3, 299, seed=1)
    ours = build_extractor("inception-v3-tf", weights=inception_weights, device="cpu",
                           allow_hash_mismatch=True, fuse_bn=fused, channels_last=channels_last)
    with torch.inference_mode():
        f = ours(u)
        # pytorch-fid maps x in [0, 1] by 2x - 1; x = u / 256 gives exactly (u - 128) / 128.
        ref = _pytorch_fid_model(inception_weights)(u.float() / 256)[0].flatten(1)
    _check_well_scaled(f)
    assert f.shape == (3, 2048) and f.dtype == torch.float32
    assert (f - ref).abs().max().item() < 1e-4 * max(1.0, ref.abs().max().item())


@pytest.mark.parametrize("size", [64, 400])
def test_matches_torch_fidelity_other_sizes(inception_weights, size):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    u = smooth_images(2, size, seed=size)
    ours = build_extractor("inception-v3-tf", weights=inception_weights, device="cpu", allow_hash_mismatch=True)
    theirs = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=inception_weights)
    with torch.inference_mode():
        f, ref = ours(u), theirs(u)[0]
    _check_well_scaled(f)
    assert (f - ref).abs().max().item() < 1e-4 * max(1.0, ref.abs().max().item())


def test_tf_resize_matches_torch_fidelity_and_differs_from_pytorch():
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
    x = smooth_images(2, 37, seed=3).float()
    for size in [(299, 299), (16, 23)]:
        ref = interpolate_bilinear_2d_like_tensorflow1x(x, size=size, align_corners=False)
        assert torch.allclose(resize_bilinear_tf1(x, size), ref, atol=1e-4, rtol=0)
    half_pixel = torch.nn.functional.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    assert (half_pixel - resize_bilinear_tf1(x, (299, 299))).abs().max() > 1


class _NvidiaLike(torch.nn.Module):
    """Stand-in with the interface of NVIDIA's TorchScript detector: m(u8, return_features=True) -> [N, 2048]."""

    def __init__(self, dim: int = 2048):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 4 * 4, dim)

    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = torch.nn.functional.adaptive_avg_pool2d((x.float() - 128) / 128, 4).flatten(1)
        return torch.relu(self.fc(x))


def test_torchscript_alternative_loads_through_the_same_path(tmp_path):
    # The real file cannot be fetched offline: a scripted module with its call interface stands in.
    torch.manual_seed(0)
    m = _NvidiaLike()
    path = tmp_path / "inception-2015-12-05.pt"
    torch.jit.save(torch.jit.script(m), str(path))
    ext = build_extractor("inception-v3-tf", weights=path, device="cpu")
    assert ext.weights_name == "inception-2015-12-05-nvidia" and len(ext.weights_sha256) == 64
    u = smooth_images(3, 50, seed=5)
    with torch.inference_mode():
        assert torch.allclose(ext(u), m(u, return_features=True), atol=1e-6)
    torch.jit.save(torch.jit.script(_NvidiaLike(dim=7)), str(path))
    with pytest.raises(ValueError, match="expected \\[N, 2048\\]"):
        build_extractor("inception-v3-tf", weights=path, device="cpu")(u)


def test_weights_errors_are_clear(inception_weights, tmp_path):
    with pytest.raises(WeightsHashError, match="allow_hash_mismatch"):
        build_extractor("inception-v3-tf", weights=inception_weights, device="cpu")
    with pytest.raises(MissingWeightsError, match="pt_inception-2015-12-05"):
        build_extractor("inception-v3-tf", device="cpu")
    bad = tmp_path / "truncated.pth"
    bad.write_bytes(open(inception_weights, "rb").read()[:5000])
    with pytest.raises(ValueError, match="truncated.pth"):
        build_extractor("inception-v3-tf", weights=bad, device="cpu", allow_hash_mismatch=True)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="missing keys"):
        build_extractor("inception-v3-tf", weights=other, device="cpu", allow_hash_mismatch=True)


def test_input_checks(inception_weights):
    ext = build_extractor("inception-v3-tf", weights=inception_weights, device="cpu", allow_hash_mismatch=True)
    with pytest.raises(ValueError, match="uint8"):
        ext(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="NHWC"):
        ext(torch.zeros(1, 32, 32, 3, dtype=torch.uint8))


def test_registry_is_extensible():
    @register_extractor("test-channel-means")
    def _build(weights=None, device=None):
        class Means(FeatureExtractor):
            feature_dim = 3

            def features(self, images):
                return images.float().mean(dim=(2, 3))
        return Means()

    assert "inception-v3-tf" in list_extractors() and "test-channel-means" in list_extractors()
    ext = build_extractor("test-channel-means", device="cpu")
    assert ext(torch.full((2, 3, 4, 4), 7, dtype=torch.uint8)).tolist() == [[7.0] * 3] * 2
    with pytest.raises(KeyError, match="known:.*inception-v3-tf"):
        build_extractor("no-such-extractor")
