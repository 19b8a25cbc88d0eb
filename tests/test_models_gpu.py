"""The reference networks on CUDA give the CPU results (skipped without a GPU)."""

import pytest
import torch

import reference_models as rm

pytestmark = pytest.mark.gpu
SMALL = dict(fmap_base=256, fmap_max=32, latent_size=16)


def test_generator_on_cuda_matches_cpu(tmp_path):
    G = rm.build_generator("f-mixing90", resolution=32, seed=0, **SMALL).eval()
    folder = rm.save_checkpoint(G, tmp_path / "g")
    Gc = rm.load_checkpoint(folder, map_location="cuda")
    assert Gc.w_avg.is_cuda and Gc.synthesis.noise0.is_cuda
    z = torch.randn(2, 16)
    with torch.no_grad():
        cpu = G.synthesis(G.mapping(z), "const", lod=0.5)
        gpu = Gc.synthesis(Gc.mapping(z.cuda()), "const", lod=0.5)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-3)
    Gc.reseed_noise(torch.Generator().manual_seed(1))  # CPU generator, CUDA buffers
    G.reseed_noise(torch.Generator().manual_seed(1))
    torch.testing.assert_close(Gc.synthesis.noise3.cpu(), G.synthesis.noise3)
    Gc.train()
    img = Gc(z.cuda(), mixing_prob=1.0, rng=torch.Generator(device="cuda").manual_seed(0))
    assert img.is_cuda and img.shape == (2, 3, 32, 32)


def test_discriminator_and_classifier_on_cuda():
    D = rm.build_discriminator(resolution=32, seed=0, fmap_base=256, fmap_max=32)
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(D.cuda()(x.cuda(), lod=0.3).cpu(), D.cpu()(x, lod=0.3), rtol=1e-3, atol=1e-3)
    C = rm.build_classifier(40, resolution=32, seed=0, fmap_base=256, fmap_max=32).cuda()
    assert C(x.cuda()).shape == (4, 40)
