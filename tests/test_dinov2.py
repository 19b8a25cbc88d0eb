"""DINOv2 ViT-L/14 extractors: the official key layout, the official position-grid resize, parity of
the network with timm's ViT given identical random weights, each preprocessing against its reference
(EDM2's F.interpolate call, dgm-eval's torchvision PIL transform), and the weights loading code."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from disentangle_metrics._core import weights as W
from disentangle_metrics.features import build_extractor, list_extractors
from disentangle_metrics.features.dinov2 import (DINOv2Extractor, WEIGHTS_NAME, load_dinov2_state_dict)
from disentangle_metrics.features.dinov2_net import (DinoV2ViT, official_shapes, random_dinov2_state_dict,
                                                     resize_pos_embed, write_random_dinov2_weights)

timm = pytest.importorskip("timm")

SMALL = dict(embed_dim=64, depth=2, num_heads=4)   # the ViT-L/14 architecture, narrow and shallow: fast on CPU
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _images(n, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, h, w), generator=g, dtype=torch.uint8)


def _small_net(seed=1):
    net = DinoV2ViT(**SMALL).eval()
    net.load_state_dict(random_dinov2_state_dict(seed, **SMALL), strict=True)
    return net


# ---------------------------------------------------------------- the official file's layout

def test_official_key_set_and_shapes_are_pinned():
    """343 keys (facebookresearch/dinov2 vit_large, block_chunks=0, no registers) with these shapes."""
    shapes = official_shapes()
    assert len(shapes) == 7 + 24 * 14
    pinned = {"cls_token": (1, 1, 1024), "pos_embed": (1, 1370, 1024), "mask_token": (1, 1024),
              "patch_embed.proj.weight": (1024, 3, 14, 14), "patch_embed.proj.bias": (1024,),
              "norm.weight": (1024,), "norm.bias": (1024,),
              "blocks.23.norm1.weight": (1024,), "blocks.23.attn.qkv.weight": (3072, 1024),
              "blocks.23.attn.qkv.bias": (3072,), "blocks.23.attn.proj.weight": (1024, 1024),
              "blocks.23.ls1.gamma": (1024,), "blocks.23.norm2.bias": (1024,),
              "blocks.0.mlp.fc1.weight": (4096, 1024), "blocks.0.mlp.fc2.weight": (1024, 4096),
              "blocks.0.mlp.fc2.bias": (1024,), "blocks.0.ls2.gamma": (1024,)}
    assert {k: shapes[k] for k in pinned} == pinned
    assert not any(k.startswith(("blocks.24", "register_tokens", "head")) for k in shapes)
    n_params = sum(math.prod(s) for s in shapes.values())
    assert n_params == 304_368_640
    # the published file (1,217,586,395 bytes) is these float32 tensors plus ~110 kB of pickle framing
    assert 0 < W.get_spec(WEIGHTS_NAME).size - 4 * n_params < 200_000
    with torch.device("meta"):
        net = DinoV2ViT()
    assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == shapes


def test_random_weights_have_the_official_layout(tmp_path):
    path = write_random_dinov2_weights(tmp_path / "small.pth", seed=3, **SMALL)
    sd = torch.load(path, weights_only=True)
    assert {k: tuple(v.shape) for k, v in sd.items()} == official_shapes(SMALL["embed_dim"], SMALL["depth"])
    assert all(v.dtype == torch.float32 for v in sd.values())
    assert not torch.equal(sd["blocks.0.ls1.gamma"], torch.ones(SMALL["embed_dim"]))  # layer scale really random


# ---------------------------------------------------------------- the 37x37 position grid

def _official_interpolate_pos_encoding(pos_embed, w, h, patch_size=14, offset=0.1):
    """Transcription of DinoVisionTransformer.interpolate_pos_encoding (facebookresearch/dinov2
    models/vision_transformer.py); its w is the input's dim 2 and h its dim 3."""
    N = pos_embed.shape[1] - 1
    w0, h0 = w // patch_size, h // patch_size
    if w0 * h0 == N and w == h:
        return pos_embed
    pe = pos_embed.float()
    M = int(math.sqrt(N))
    dim = pe.shape[-1]
    patch = F.interpolate(pe[:, 1:].reshape(1, M, M, dim).permute(0, 3, 1, 2),
                          scale_factor=(float(w0 + offset) / M, float(h0 + offset) / M), mode="bicubic",
                          antialias=False)
    assert (w0, h0) == patch.shape[-2:]
    patch = patch.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((pe[:, 0].unsqueeze(0), patch), dim=1).to(pos_embed.dtype)


def test_pos_grid_resize_is_the_official_one_and_not_timms():
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(1, 1370, 1024, generator=g)
    for hw in [(224, 224), (112, 224), (518, 518)]:
        ours = resize_pos_embed(pos, hw[0] // 14, hw[1] // 14)
        assert torch.equal(ours, _official_interpolate_pos_encoding(pos, *hw)), hw
    ours = resize_pos_embed(pos, 16, 16)
    # timm's default (size-based, antialiased) resample is a different grid
    timm_pos = timm.layers.resample_abs_pos_embed(pos, (16, 16), num_prefix_tokens=1)
    assert (timm_pos - ours).abs().max() > 0.5
    # and so is a size-based bicubic without the 0.1 offset: the scale factor itself matters
    by_size = F.interpolate(pos[:, 1:].reshape(1, 37, 37, 1024).permute(0, 3, 1, 2), size=(16, 16), mode="bicubic")
    assert (by_size.permute(0, 2, 3, 1).reshape(1, 256, 1024) - ours[:, 1:]).abs().max() > 1e-2


# ---------------------------------------------------------------- the network against timm

def _timm_vit(img_size, dynamic=False, **cfg):
    from timm.models.vision_transformer import VisionTransformer
    return VisionTransformer(img_size=img_size, patch_size=14, init_values=1.0, num_classes=0, global_pool="token",
                             dynamic_img_size=dynamic, embed_dim=cfg["embed_dim"], depth=cfg["depth"],
                             num_heads=cfg["num_heads"]).eval()


def _timm_state(sd):
    return {k: v for k, v in sd.items() if k != "mask_token"}   # timm's _convert_dinov2 drops it too


@pytest.mark.parametrize("cfg", [SMALL, pytest.param(dict(embed_dim=1024, depth=24, num_heads=16),
                                                     marks=pytest.mark.slow, id="vitl14")])
def test_network_equals_timm_vit_with_identical_weights(cfg):
    sd = random_dinov2_state_dict(2, **cfg)
    ours = DinoV2ViT(**cfg).eval()
    ours.load_state_dict(sd, strict=True)
    x = torch.randn(2 if cfg is SMALL else 1, 3, 224, 224, generator=torch.Generator().manual_seed(4))
    # timm at 224 given the officially resized 16x16 grid: the same network
    ref = _timm_vit(224, **cfg)
    ref.load_state_dict({**_timm_state(sd), "pos_embed": _official_interpolate_pos_encoding(sd["pos_embed"], 224, 224)})
    with torch.no_grad():
        a, b = ours(x), ref(x)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert a.abs().max() > 0.5 and a.std() > 0.1   # not a degenerate output that anything would match
    if cfg is SMALL:
        # timm's own route to 224 (its checkpoint filter resamples the 37x37 grid its way) gives other features
        from timm.models.vision_transformer import checkpoint_filter_fn
        timm_own = _timm_vit(224, **cfg)
        timm_own.load_state_dict(checkpoint_filter_fn(dict(sd), timm_own))
        with torch.no_grad():
            assert (timm_own(x) - a).abs().max() > 1e-2
        # at 518x518 nothing is resized: timm's 518 model equals ours there
        ref518 = _timm_vit(518, **cfg)
        ref518.load_state_dict(_timm_state(sd))
        x518 = torch.randn(1, 3, 518, 518, generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            torch.testing.assert_close(ours(x518), ref518(x518), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- preprocessing against each reference

def test_torch_variant_is_edm2s_interpolate_call():
    net = _small_net()
    ext = DINOv2Extractor(net, "torch").eval()
    for u in (_images(2, 256, 256), _images(1, 64, 96, seed=1)):
        # EDM2 calculate_metrics.py DINOv2Detector, resize_mode 'torch'
        x = torch.nn.functional.interpolate(u.to(torch.float32), size=(224, 224), mode="bicubic", antialias=True)
        x = x.to(torch.float32) / 255
        x = x - torch.tensor(MEAN, dtype=x.dtype).reshape(1, -1, 1, 1)
        x = x / torch.tensor(STD, dtype=x.dtype).reshape(1, -1, 1, 1)
        assert torch.equal(ext.preprocess(u), x)
        with torch.no_grad():
            assert torch.equal(ext(u), net(x))


def test_pil_variant_is_dgm_evals_transform():
    import PIL.Image
    import torchvision.transforms as TF
    net = _small_net()
    ext = DINOv2Extractor(net, "pil").eval()
    u = _images(2, 256, 256)
    # dgm-eval models/dinov2.py DINOv2Encoder.transform on each PIL image, then the batch
    tf = TF.Compose([TF.Resize((224, 224), TF.InterpolationMode.BICUBIC), TF.ToTensor()])
    norm = TF.Normalize(np.array(MEAN), np.array(STD))
    ref = torch.stack([norm(tf(PIL.Image.fromarray(im.permute(1, 2, 0).numpy(), "RGB"))) for im in u])
    assert torch.equal(ext.preprocess(u), ref)
    with torch.no_grad():
        assert torch.equal(ext(u), net(ref))
    # the two recipes are close but not the same: their statistics must not mix
    d = (ext.preprocess(u) - DINOv2Extractor(net, "torch").preprocess(u)).abs()
    assert 0 < d.mean() < 0.2


def test_tf1_mode_is_torch_fidelitys_dinov2_input():
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x
    import torchvision
    ext = DINOv2Extractor(_small_net(), "tf1")
    for u in (_images(2, 256, 256), _images(1, 64, 96, seed=1)):
        # torch-fidelity feature_extractor_dinov2.py FeatureExtractorDinoV2.forward
        x = interpolate_bilinear_2d_like_tensorflow1x(u.to(torch.float32), size=(224, 224), align_corners=False)
        x = torchvision.transforms.functional.normalize(
            x, (255 * 0.485, 255 * 0.456, 255 * 0.406), (255 * 0.229, 255 * 0.224, 255 * 0.225), inplace=False)
        assert torch.equal(ext.preprocess(u), x)


def test_extractors_are_registered_and_check_input():
    assert {"dinov2-vitl14", "dinov2-vitl14-pil", "dinov2-vitl14-tf1"} <= set(list_extractors())
    ext = DINOv2Extractor(_small_net(), "torch")
    with pytest.raises(ValueError, match="uint8"):
        ext(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="resize mode"):
        DINOv2Extractor(_small_net(), "lanczos")


# ---------------------------------------------------------------- the loading code

@pytest.mark.parametrize("name", ["dinov2-vitl14", "dinov2-vitl14-pil"])
def test_missing_file_names_file_url_and_path(name):
    with pytest.raises(W.MissingWeightsError) as info:
        build_extractor(name, device="cpu")
    msg = str(info.value)
    spec = W.get_spec(WEIGHTS_NAME)
    assert "dinov2_vitl14_pretrain.pth" in msg
    assert "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth" in msg
    assert str(W.weights_cache_dir() / spec.filename) in msg
    assert str(W.torch_hub_checkpoint_dir() / spec.filename) in msg   # where torch hub (EDM2, dgm-eval) put it


def test_wrong_file_is_refused_by_size_then_by_keys(tmp_path):
    path = write_random_dinov2_weights(tmp_path / "dinov2_vitl14_pretrain.pth", **SMALL)
    with pytest.raises(W.WeightsHashError, match="1217586395"):
        build_extractor("dinov2-vitl14", weights=path, device="cpu")
    with pytest.warns(W.UnverifiedWeightsWarning), pytest.raises(ValueError, match="missing keys"):
        build_extractor("dinov2-vitl14", weights=path, device="cpu", allow_hash_mismatch=True)
    (tmp_path / "trunc.pth").write_bytes(open(path, "rb").read()[:5000])
    with pytest.raises(ValueError, match="not a readable"):
        load_dinov2_state_dict(tmp_path / "trunc.pth")


@pytest.mark.slow
def test_real_format_file_loads_through_the_registry(tmp_path, monkeypatch):
    """A full-size random file in the official format, found in $DMETRICS_WEIGHTS_DIR like the real one."""
    path = write_random_dinov2_weights(tmp_path / "dinov2_vitl14_pretrain.pth", seed=5)
    monkeypatch.setenv("DMETRICS_WEIGHTS_DIR", str(tmp_path))
    with pytest.warns(W.UnverifiedWeightsWarning):
        ext = build_extractor("dinov2-vitl14-pil", device="cpu", allow_hash_mismatch=True)
    assert ext.weights_sha256 == W.sha256_of(path) and ext.registry_name == "dinov2-vitl14-pil"
    ref = DinoV2ViT().eval()
    ref.load_state_dict(torch.load(path, weights_only=True))
    u = _images(1, 256, 256)
    with torch.no_grad():
        f = ext(u)
        assert f.shape == (1, 1024) and f.dtype == torch.float32
        assert torch.equal(f, ref(ext.preprocess(u)))
