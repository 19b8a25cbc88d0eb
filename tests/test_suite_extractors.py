"""VGG16 and Inception-logits extractors: identical random weights against torch-fidelity; NVIDIA's call conventions."""

import pytest
import torch

from disentangle_metrics.features import build_extractor, list_extractors
from disentangle_metrics._core.weights import MissingWeightsError
from tests.fid_helpers import inception_weights, smooth_images  # noqa: F401
from tests.suite_helpers import InceptionStandIn, VGGStandIn, nvidia_standins, random_vgg16_file  # noqa: F401


def test_registered():
    assert {"vgg16-nvidia", "vgg16-torchvision", "inception-v3-tf-logits"} <= set(list_extractors())


@pytest.mark.slow   # a random 138M-parameter VGG16 written as a 528 MB file: ~20 s here
def test_vgg16_torchvision_matches_torch_fidelity(random_vgg16_file):
    from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16
    u = smooth_images(2, 48, seed=4)
    ours = build_extractor("vgg16-torchvision", weights=random_vgg16_file, device="cpu", allow_hash_mismatch=True)
    theirs = FeatureExtractorVGG16("vgg16", ["fc2_relu"], feature_extractor_weights_path=random_vgg16_file)
    with torch.inference_mode():
        f, ref = ours(u), theirs(u)[0]
    assert f.shape == (2, 4096) and (f > 0).float().mean() > 0.2 and (f[0] - f[1]).abs().max() > 1e-3
    assert torch.allclose(f, ref, rtol=1e-4, atol=1e-5 * ref.abs().max().item())


def test_inception_logits_match_torch_fidelity_logits_unbiased(inception_weights):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    u = smooth_images(2, 64, seed=7)
    ours = build_extractor("inception-v3-tf-logits", weights=inception_weights, device="cpu", allow_hash_mismatch=True)
    theirs = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                         feature_extractor_weights_path=inception_weights)
    with torch.inference_mode():
        pool, logits = ours.pool_and_logits(u)
        ref_pool, ref_logits = theirs(u)
        alone = ours(u)
    assert logits.shape == (2, 1008) and logits.std() > 1e-3
    assert torch.allclose(pool, ref_pool, atol=1e-4 * max(1.0, ref_pool.abs().max().item()))
    assert torch.allclose(logits, ref_logits, atol=1e-4 * max(1.0, ref_logits.abs().max().item()))
    assert torch.equal(alone, logits)


def test_nvidia_call_conventions(nvidia_standins):
    u = smooth_images(3, 32, seed=1)
    vgg = build_extractor("vgg16-nvidia", weights=nvidia_standins["vgg16-nvidia"], device="cpu")
    ext = build_extractor("inception-v3-tf-logits", weights=nvidia_standins["inception-v3-tf"], device="cpu")
    assert vgg.weights_name == "vgg16-nvidia" and len(vgg.weights_sha256) == 64
    with torch.inference_mode():
        assert torch.allclose(vgg(u), VGGStandIn()(u, return_features=True))
        probs = InceptionStandIn()(u, no_output_bias=True)
        pool, logits = ext.pool_and_logits(u)
        assert torch.allclose(torch.softmax(logits, 1), probs, rtol=1e-5, atol=1e-7)
        assert torch.allclose(pool, InceptionStandIn()(u, return_features=True))


def test_missing_vgg16_names_file_url_and_path():
    with pytest.raises(MissingWeightsError) as e:
        build_extractor("vgg16-nvidia", device="cpu")
    msg = str(e.value)
    assert "vgg16.pt" in msg and "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/vgg16.pt" in msg
    assert "put it at" in msg


def test_wrong_files_are_refused(tmp_path, inception_weights):
    other = tmp_path / "x.pth"
    torch.save({"a": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match="not a TorchScript archive"):
        build_extractor("vgg16-nvidia", weights=other, device="cpu")
    with pytest.raises(ValueError, match="not a torchvision vgg16 state_dict"):
        build_extractor("vgg16-torchvision", weights=other, device="cpu", allow_hash_mismatch=True)
