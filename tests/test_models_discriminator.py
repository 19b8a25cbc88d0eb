"""The reference discriminator and the attribute classifier."""

import pytest
import torch

import reference_models as rm

SMALL = dict(fmap_base=256, fmap_max=32)


def test_discriminator_shapes_and_labels():
    D = rm.build_discriminator(resolution=32, seed=0, **SMALL)
    assert D(torch.randn(4, 3, 32, 32)).shape == (4, 1)
    Dc = rm.build_discriminator(resolution=16, label_size=5, seed=0, **SMALL)
    x, c = torch.randn(4, 3, 16, 16), torch.eye(5)[:4]
    scores = Dc.dense1  # the per-label scores are projected on the label
    assert scores.weight.shape[0] == 5
    out = Dc(x, c)
    assert out.shape == (4, 1)
    with pytest.raises(ValueError, match="conditional"):
        Dc(x)
    with pytest.raises(ValueError, match=r"expects images \[N, 3, 16, 16\]"):
        Dc(torch.randn(4, 3, 32, 32), c)


def test_discriminator_1024_on_meta():
    D = rm.build_discriminator(resolution=1024, device="meta")
    assert D(torch.empty(2, 3, 1024, 1024, device="meta")).shape == (2, 1)
    assert [b.conv1.fused for b in D.blocks] == [True, True, True, True, False, False, False, False]


def test_minibatch_stddev_couples_samples_in_groups_of_four():
    D = rm.build_discriminator(resolution=8, seed=0, **SMALL).eval()
    x = torch.randn(8, 3, 8, 8)
    with torch.no_grad():
        out = D(x)
        x2 = x.clone()
        x2[1] += 1  # sample 1 is in the group {1, 3, 5, 7} (index % 2)
        out2 = D(x2)
    changed = (out - out2).abs().squeeze(1) > 1e-6
    assert changed.tolist() == [False, True, False, True, False, True, False, True]


def test_discriminator_lod_fade_in():
    D = rm.build_discriminator(resolution=32, seed=0, **SMALL).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        s0, s1 = D(x, lod=0), D(x, lod=1)
        torch.testing.assert_close(D(x, lod=1 - 1e-6), s1, atol=1e-4, rtol=0)
        # at an integer lod the network only sees the box-downsampled image
        xd = torch.nn.functional.avg_pool2d(x, 2).repeat_interleave(2, 2).repeat_interleave(2, 3)
        torch.testing.assert_close(D(xd, lod=1), s1, rtol=1e-5, atol=1e-5)
        assert not torch.allclose(s0, s1)
        vals = torch.stack([D(x, lod=t) for t in torch.linspace(0, 1, 11).tolist()])
        assert (vals[1:] - vals[:-1]).abs().max() < 0.25 * (s1 - s0).abs().max() + 1e-6


def test_classifier_interface():
    C = rm.build_classifier(40, resolution=32, seed=0, **SMALL).eval()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        logits, feats, acts = C(x), C.features(x), C.activations(x)
    assert logits.shape == (3, 40) and feats.shape == (3, 32)
    assert [tuple(a.shape[1:]) for a in acts] == [(16, 32, 32), (32, 16, 16), (32, 8, 8), (32, 4, 4), (32, 4, 4)]
    # logits are the last dense layer of the features, and each image is scored on its own
    torch.testing.assert_close(logits, C.dense1(feats))
    with torch.no_grad():
        torch.testing.assert_close(C(x[:1]), logits[:1])
    with pytest.raises(ValueError, match="expects images"):
        C(torch.rand(1, 3, 64, 64))
