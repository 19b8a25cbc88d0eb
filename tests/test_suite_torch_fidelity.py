"""KID and IS end to end against torch-fidelity: the same image folders, identical random Inception weights."""

import pytest
from PIL import Image

from tests.fid_helpers import inception_weights, smooth_images  # noqa: F401

N = 8


def _folder(path, seed):
    path.mkdir()
    for i, img in enumerate(smooth_images(N, 32, seed=seed)):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(path / f"{i:03d}.png")
    return str(path)


@pytest.mark.slow   # 32 Inception passes at 299x299 on the CPU: 15 s of CPU, ~45 s on the shared machine
def test_kid_and_is_equal_torch_fidelity(tmp_path, inception_weights):
    import torch_fidelity
    gen, real = _folder(tmp_path / "gen", 1), _folder(tmp_path / "real", 2)
    theirs = torch_fidelity.calculate_metrics(
        input1=gen, input2=real, kid=True, isc=True, kid_subset_size=N, kid_subsets=3, isc_splits=2,
        samples_shuffle=False, feature_extractor_weights_path=inception_weights, cuda=False, cache=False,
        verbose=False)
    from disentangle_metrics.metrics import image as IM
    from disentangle_metrics._core.options import ScoreOptions
    opts = ScoreOptions(device="cpu", num_samples=N, reference=real, weights={"inception-v3-tf": inception_weights},
                        allow_hash_mismatch=True, progress=False)
    kid, is_ = IM.compute(gen, [IM.TABLE["kid50k_full"], IM.with_params(IM.TABLE["is50k"], num_splits=2)], opts)
    # subset size = set size: every subset is the whole set, whatever the draw (KID's is 3 subsets of 8 here)
    assert kid.config["subset_size"] == N
    assert kid.value == pytest.approx(theirs["kernel_inception_distance_mean"], rel=2e-3, abs=1e-6)
    assert abs(kid.value) > 1e-4
    # is50k's constants but 2 splits (8 images); one shared pass computed both (pool + logits)
    assert is_.values["is8_mean"] == pytest.approx(theirs["inception_score_mean"], rel=1e-4)
    assert is_.values["is8_std"] == pytest.approx(theirs["inception_score_std"], rel=1e-2, abs=1e-6)
    assert is_.values["is8_mean"] > 1.0
