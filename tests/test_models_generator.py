"""The reference generators: shapes, protocol, truncation, noise, mixing, determinism, lod fade-in."""

import math

import pytest
import torch

import reference_models as rm
from disentangle_metrics.generators.protocol import validate_generator
from reference_models.configs import preset_names

SMALL = dict(fmap_base=256, fmap_max=32, latent_size=16)
PRESETS = preset_names()


def small(preset="f-mixing90", resolution=32, seed=0, **kw):
    return rm.build_generator(preset, resolution=resolution, seed=seed, **{**SMALL, **kw}).eval()


@pytest.mark.parametrize("preset", PRESETS)
def test_shapes_at_32(preset):
    G = small(preset)
    assert (G.z_dim, G.w_dim, G.num_ws, G.img_resolution, G.img_channels, G.c_dim) == (16, 16, 8, 32, 3, 0)
    with torch.no_grad():
        ws = G.mapping(torch.randn(2, 16), None)
        img = G.synthesis(ws)
    assert ws.shape == (2, 8, 16) and img.shape == (2, 3, 32, 32) and torch.isfinite(img).all()
    # An untrained generator's outputs are not confined to [-1, 1]; everything else must hold.
    report = validate_generator(G, range_tolerance=float("inf"))
    assert report.ok, str(report)


@pytest.mark.parametrize("preset", PRESETS)
def test_shapes_at_1024_on_meta(preset):
    G = rm.build_generator(preset, resolution=1024, device="meta")
    assert (G.z_dim, G.w_dim, G.num_ws) == (512, 512, 18)
    ws = G.mapping(torch.empty(1, 512, device="meta"))
    assert ws.shape == (1, 18, 512)
    assert G.synthesis(ws, noise_mode="const").shape == (1, 3, 1024, 1024)


@pytest.mark.slow
def test_single_sample_at_1024_on_cpu():
    G = rm.build_generator("f-mixing90", resolution=1024, seed=0).eval()
    with torch.no_grad():
        img = G.synthesis(G.mapping(torch.randn(1, 512)), noise_mode="const")
    assert img.shape == (1, 3, 1024, 1024) and torch.isfinite(img).all()


def test_has_mapping_and_depth0_normalises_z():
    assert small("f-mixing90").has_mapping and small("traditional-map8").has_mapping
    for preset in ("style-map0", "b-traditional"):
        G = small(preset)
        assert not G.has_mapping
        z = torch.randn(3, 16) * 5
        ws = G.mapping(z)
        torch.testing.assert_close(ws[:, 0], z / z.square().mean(1, keepdim=True).add(1e-8).sqrt())
    assert len(small("style-map1").mapping.dense) == 1 and len(small("style-map2").mapping.dense) == 2


def test_truncation():
    G = small()
    G.mapping.w_avg.normal_()
    z = torch.randn(4, 16)
    ws = G.mapping(z)
    torch.testing.assert_close(G.mapping(z, truncation_psi=1.0), ws, rtol=0, atol=0)
    torch.testing.assert_close(G.mapping(z, truncation_psi=0.0), G.w_avg.expand_as(ws))
    cut = G.mapping(z, truncation_psi=0.5, truncation_cutoff=3)
    torch.testing.assert_close(cut[:, :3], G.w_avg + 0.5 * (ws[:, :3] - G.w_avg))
    torch.testing.assert_close(cut[:, 3:], ws[:, 3:])


def test_noise_modes_and_reseed():
    G = small("e-noise")
    for e in G.synthesis.epilogues:  # official init is 0; make the noise visible
        e.noise.weight.data.fill_(0.5)
    ws = G.mapping(torch.randn(2, 16))
    with torch.no_grad():
        const1, const2 = G.synthesis(ws, "const"), G.synthesis(ws, "const")
        torch.manual_seed(1)
        rand1 = G.synthesis(ws, "random")
        torch.manual_seed(1)
        rand1b = G.synthesis(ws, "random")
        rand2 = G.synthesis(ws, "random")
        none = G.synthesis(ws, "none")
        bufs = [b.clone() for b in G.synthesis.noise_buffers()]
        for b in G.synthesis.noise_buffers():
            b.zero_()
        zero_const = G.synthesis(ws, "const")
        G.reseed_noise(torch.Generator().manual_seed(5))
        seeded = G.synthesis(ws, "const")
        G.reseed_noise(torch.Generator().manual_seed(5))
        seeded2 = G.synthesis(ws, "const")
    assert torch.equal(const1, const2) and torch.equal(rand1, rand1b)
    assert not torch.allclose(rand1, rand2) and not torch.allclose(const1, rand1)
    torch.testing.assert_close(none, zero_const)
    assert torch.equal(seeded, seeded2) and not torch.allclose(seeded, const1)
    # two maps per resolution, never shared between the two convs of a block
    assert [tuple(b.shape) for b in bufs] == [(1, 1, 2 ** (i // 2 + 2), 2 ** (i // 2 + 2)) for i in range(8)]
    assert [b.shape[-1] for b in bufs] == [4, 4, 8, 8, 16, 16, 32, 32]
    assert not torch.equal(bufs[2], bufs[3])
    # const noise is shared by every image of the batch
    with torch.no_grad():
        same = G.synthesis(ws[:1].repeat(2, 1, 1), "const")
    torch.testing.assert_close(same[0], same[1])


def test_traditional_uses_first_w_only_and_no_noise():
    G = small("b-traditional")
    assert G.synthesis.noise_buffers() == [] and not hasattr(G.synthesis, "const")
    ws = G.mapping(torch.randn(2, 16))
    ws2 = ws.clone()
    ws2[:, 1:] = torch.randn_like(ws2[:, 1:])
    with torch.no_grad():
        torch.testing.assert_close(G.synthesis(ws, "random"), G.synthesis(ws2, "none"))


def test_determinism_of_build_and_sampling():
    a, b = small(seed=3), small(seed=3)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    assert not torch.equal(small(seed=4).synthesis.convs[0].weight, a.synthesis.convs[0].weight)
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.equal(a.synthesis(a.mapping(z), "const"), b.synthesis(b.mapping(z), "const"))


def test_equalised_lr_storage():
    G = rm.build_generator("f-mixing90", resolution=8, seed=0)
    # mapping weights are stored N(0, (1/0.01)^2); synthesis convs N(0, 1)
    assert 80 < G.mapping.dense[0].weight.std() < 120
    assert 0.9 < G.synthesis.convs[0].weight.std() < 1.1
    assert torch.all(G.synthesis.const == 1) and torch.all(G.synthesis.epilogues[0].noise.weight == 0)


def test_style_mixing_crossover_statistics():
    G = small("f-mixing90")
    rng = torch.Generator().manual_seed(0)
    n = 4000
    cuts = [G.mixing_cutoff(0.9, lod=0, rng=rng) for _ in range(n)]
    no_mix = sum(c == G.num_ws for c in cuts) / n
    assert abs(no_mix - 0.1) < 0.02
    mixed = [c for c in cuts if c < G.num_ws]
    assert set(mixed) == set(range(1, G.num_ws))  # U{1 .. num_ws - 1}
    for k in range(1, G.num_ws):
        assert abs(mixed.count(k) / len(mixed) - 1 / (G.num_ws - 1)) < 0.03
    # at lod 1 only the active layers count: cur_layers = num_ws - 2
    cuts1 = {G.mixing_cutoff(1.0, lod=1.5, rng=rng) for _ in range(500)}
    assert cuts1 == set(range(1, G.num_ws - 2))
    assert {G.mixing_cutoff(0.0, rng=rng) for _ in range(50)} == {G.num_ws}


def test_training_ws_mix_two_latents_and_update_w_avg():
    G = small("f-mixing90").train()
    z = torch.randn(6, 16)
    w1 = G.mapping(z)
    seen = set()
    for seed in range(40):
        ws = G.training_ws(z, mixing_prob=1.0, rng=torch.Generator().manual_seed(seed))
        same = [torch.equal(ws[:, i], w1[:, i]) for i in range(G.num_ws)]
        k = same.index(False)
        assert all(same[:k]) and not any(same[k:]) and k >= 1
        assert torch.equal(ws[:, k:], ws[:, k:k + 1].expand_as(ws[:, k:]))  # one second latent
        seen.add(k)
    assert len(seen) > 3
    G.mapping.w_avg.zero_()
    G(z, mixing_prob=0.0)
    torch.testing.assert_close(G.w_avg, 0.005 * w1[:, 0].mean(0))
    G.eval()
    before = G.w_avg.clone()
    G(z)
    assert torch.equal(G.w_avg, before)


def test_lod_semantics_and_fade_in_continuity():
    G = small("e-noise")
    L = int(math.log2(G.img_resolution))
    ws = G.mapping(torch.randn(2, 16))
    with torch.no_grad():
        full = G.synthesis(ws, "none", lod=0)
        assert torch.equal(full, G.synthesis(ws, "none"))
        # integer lod k: the 2^-k network's toRGB, nearest-upsampled
        low = G.synthesis(ws, "none", lod=1)
        assert torch.equal(low[:, :, ::2, ::2].repeat_interleave(2, 2).repeat_interleave(2, 3), low)
        coarsest = G.synthesis(ws, "none", lod=L - 2)  # the 4x4 network, upsampled x8
        assert torch.equal(coarsest, coarsest[:, :, ::8, ::8].repeat_interleave(8, 2).repeat_interleave(8, 3))
        assert not torch.equal(coarsest, low)
        # fraction: lerp between consecutive integer levels
        half = G.synthesis(ws, "none", lod=0.25)
        torch.testing.assert_close(half, full + 0.25 * (low - full))
        # smooth: small lod steps give small changes, and the ends meet the integer levels
        prev, steps = None, []
        for t in torch.linspace(0, 2, 41).tolist():
            img = G.synthesis(ws, "none", lod=t)
            if prev is not None:
                steps.append(float((img - prev).abs().max()))
            prev = img
        span = float((G.synthesis(ws, "none", lod=2) - full).abs().max())
        assert max(steps) < 0.2 * span
        torch.testing.assert_close(G.synthesis(ws, "none", lod=1 - 1e-6), low, atol=1e-4, rtol=0)
    G.lod = 1
    assert G.lod == 1.0 and torch.equal(G.synthesis(ws, "none"), low)
    with pytest.raises(ValueError, match="lod must be within"):
        G.synthesis(ws, lod=L - 1)


def test_errors_for_people():
    G = small()
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(G.mapping(torch.randn(1, 16)), noise_mode="fixed")
    with pytest.raises(ValueError, match=r"ws must have shape \[N, 8, 16\]"):
        G.synthesis(torch.randn(1, 16))
    with pytest.raises(KeyError, match="unknown generator preset"):
        rm.build_generator("g-nonexistent")
    with pytest.raises(TypeError, match="no field"):
        rm.build_generator("f-mixing90", resolution=32, fmap_bsae=4)


def test_label_conditioning():
    G = small(label_size=3)
    assert G.c_dim == 3
    c = torch.eye(3)
    ws = G.mapping(torch.randn(3, 16), c)
    assert ws.shape == (3, 8, 16)
    with pytest.raises(ValueError, match="conditional"):
        G.mapping(torch.randn(3, 16))
