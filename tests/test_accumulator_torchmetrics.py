"""The Accumulator against torchmetrics 1.9 (FrechetInceptionDistance, KernelInceptionDistance).

torchmetrics' Inception is torch-fidelity's FeatureExtractorInceptionV3: the network of
``inception-v3-tf`` with the same state_dict keys, so both load one random weights file. Its input
resize differs: torchmetrics 1.9 resizes with torch's antialiased bilinear by default
(``antialias=True``), the project with TensorFlow 1.x's bilinear (stylegan2-ada's network); at
299x299 input both resizes are the identity and the features agree to float32 round-off (about
1e-4 on features of magnitude ~2: the project folds batch norms into the convolutions; unfused and
in float64 the two networks agree to 2e-13).
A 2048-d FID needs more than 2048 images per side (fewer give a singular covariance, which the
project refuses), too slow for a CPU test at 299x299, so the statistics are compared on a cheap
96-d extractor given to both as the feature network.
"""

import pytest
import torch

from disentangle_metrics.features import build_extractor
from disentangle_metrics.metrics.accumulate import Accumulator
from tests.fid_helpers import PixelStats, inception_weights, smooth_images  # noqa: F401

tm_fid = pytest.importorskip("torchmetrics.image.fid", reason="torchmetrics (the test extra) is not installed")
tm_kid = pytest.importorskip("torchmetrics.image.kid")


def _tm_inception(path, antialias):
    return tm_fid.NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                     feature_extractor_weights_path=str(path), antialias=antialias)


def test_torchmetrics_inception_is_inception_v3_tf_on_the_same_random_weights(inception_weights):
    ours = build_extractor("inception-v3-tf", weights=inception_weights, device="cpu", allow_hash_mismatch=True)
    x299 = smooth_images(2, 299, seed=1)
    x64 = smooth_images(2, 64, seed=2)
    with torch.no_grad():
        a299, a64 = ours(x299), ours(x64)
        for antialias in (False, True):
            tm = _tm_inception(inception_weights, antialias)
            b299, b64 = (tm(x).reshape(2, -1) for x in (x299, x64))
            scale = a299.abs().max()
            assert (a299 - b299).abs().max() < 1e-3 * scale      # identity resize: the same network
            if antialias:     # torchmetrics' default resize is not TensorFlow's: other features
                assert (a64 - b64).abs().max() > 0.05 * a64.abs().max()
            else:             # antialias=False: torch-fidelity's TF1-compatible bilinear, as ours
                assert (a64 - b64).abs().max() < 1e-3 * a64.abs().max()
        # the same function: unfused, in float64, they agree to round-off of float64
        unfused = build_extractor("inception-v3-tf", weights=inception_weights, device="cpu", allow_hash_mismatch=True,
                                  fuse_bn=False).net.double()
        tm = _tm_inception(inception_weights, False).double()
        tm._dtype = torch.float64      # torchmetrics' own switch (set_dtype) for its input cast
        x = x299[:1]
        assert (unfused((x.double() - 128) / 128) - tm(x).reshape(1, -1)).abs().max() < 1e-9


def test_fid_and_kid_equal_torchmetrics_on_the_same_features():
    import tests.fid_helpers  # noqa: F401  (registers test-pixel-stats)
    n = 200
    # the reals darker: a KID well away from 0, where float32 summation order is a relative error of ~1e-6
    gen, real = smooth_images(n, 32, seed=3), (smooth_images(n, 32, seed=4) * 0.7 + 20).to(torch.uint8)
    acc = Accumulator(["fid50k_full", "kid50k_full"], extractor="test-pixel-stats", device="cpu")
    fid = tm_fid.FrechetInceptionDistance(feature=PixelStats(), reset_real_features=False)
    # subsets of all n samples: every subset is a permutation, so KID is the full-sample MMD^2 in
    # both, whatever subsets each draws (torchmetrics from torch's global RNG, ours from RandomState)
    kid = tm_kid.KernelInceptionDistance(feature=PixelStats(), subsets=3, subset_size=n, reset_real_features=False)
    for i in range(0, n, 16):
        for m in (fid, kid):
            m.update(gen[i:i + 16], real=False)
            m.update(real[i:i + 16], real=True)
        acc.update(gen[i:i + 16])
        acc.update(real[i:i + 16], real=True)
    ours = {r.metric.split("@")[0]: r for r in acc.compute()}
    # torchmetrics returns FID in the features' dtype (float32) from float64 sums; ours stays float64
    assert ours["fid200_full"].value == pytest.approx(float(fid.compute()), rel=1e-6)
    kid_mean, _ = kid.compute()
    assert ours["kid200_full"].value == pytest.approx(float(kid_mean), rel=1e-4)
