"""CLIP ViT-L/14@336 (extractor clip-vitl14-336): OpenAI's file format and key layout, parity with
torch-fidelity's vendored OpenAI CLIP model, and CMMD's preprocessing (google-research cmmd/io_util.py)."""

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from disentangle_metrics._core import weights as W
from disentangle_metrics.features import build_extractor, list_extractors
from disentangle_metrics.features.clip import (CLIP_VITL14_336, CLIPImageEmbedding, cmmd_crop_resize,
                                               load_clip_archive)
from disentangle_metrics.features.clip_net import VIT_L14_336, VisualConfig, read_openai_archive, visual_key_shapes
from disentangle_metrics.features.random_weights import write_random_clip_archive

# Full width, patch and resolution of ViT-L/14@336, two blocks instead of 24: fast, same code paths.
SMALL = VisualConfig(layers=2)
URL = ("https://openaipublic.azureedge.net/clip/models/3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02"
       "/ViT-L-14-336px.pt")


@pytest.fixture(scope="module")
def small_archive(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return write_random_clip_archive(tmp_path_factory.mktemp("clip") / "ViT-L-14-336px.pt", SMALL, seed=3)


def _openai_vitl14_336_visual_keys():
    """OpenAI's ViT-L/14@336px ``visual.*`` state_dict as released (written out, not derived from our module)."""
    w, mlp = 1024, 4096
    keys = {"visual.class_embedding": (w,), "visual.positional_embedding": (577, w), "visual.proj": (w, 768),
            "visual.conv1.weight": (w, 3, 14, 14), "visual.ln_pre.weight": (w,), "visual.ln_pre.bias": (w,),
            "visual.ln_post.weight": (w,), "visual.ln_post.bias": (w,)}
    for i in range(24):
        b = f"visual.transformer.resblocks.{i}."
        keys.update({b + "attn.in_proj_weight": (3 * w, w), b + "attn.in_proj_bias": (3 * w,),
                     b + "attn.out_proj.weight": (w, w), b + "attn.out_proj.bias": (w,),
                     b + "ln_1.weight": (w,), b + "ln_1.bias": (w,), b + "ln_2.weight": (w,), b + "ln_2.bias": (w,),
                     b + "mlp.c_fc.weight": (mlp, w), b + "mlp.c_fc.bias": (mlp,),
                     b + "mlp.c_proj.weight": (w, mlp), b + "mlp.c_proj.bias": (w,)})
    return keys


def test_vitl14_336_key_set_and_shapes_are_openais():
    assert visual_key_shapes(VIT_L14_336) == _openai_vitl14_336_visual_keys()
    assert CLIP_VITL14_336 in list_extractors()


def test_weights_spec_is_openais_file():
    s = W.get_spec(CLIP_VITL14_336)
    assert s.filename == "ViT-L-14-336px.pt" and s.url == URL
    assert s.sha256 == s.url.split("/")[-2]           # OpenAI's URLs carry the file's sha256
    assert s.format == W.WeightsFormat.TORCHSCRIPT


def test_random_archive_is_an_openai_style_torchscript_file(small_archive):
    sd = read_openai_archive(small_archive)
    assert set(sd) == set(visual_key_shapes(SMALL)) | {"text_projection", "logit_scale"}
    half = [k for k, v in sd.items() if v.dtype == torch.float16]
    assert "visual.conv1.weight" in half and "visual.proj" in half
    assert "visual.transformer.resblocks.1.attn.in_proj_weight" in half
    assert sd["visual.ln_pre.weight"].dtype == sd["visual.positional_embedding"].dtype == torch.float32


def _normalised_336(n, seed):
    g = torch.Generator().manual_seed(seed)
    u = (torch.rand(n, 3, 336, 336, generator=g) * 255).to(torch.uint8)
    return u, (u.float() / 255 - torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)) / \
        torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)


def _torch_fidelity_visual(path):
    tf_clip = pytest.importorskip("torch_fidelity.feature_extractor_clip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ext = tf_clip.FeatureExtractorCLIP("clip-vit-l-14-336px", ["clip"], feature_extractor_weights_path=str(path),
                                           verbose=False)
    return ext.model.visual


def test_tower_equals_torch_fidelitys_openai_clip_with_identical_weights(small_archive):
    theirs = _torch_fidelity_visual(small_archive)
    ours = load_clip_archive(small_archive, expect=None)
    assert theirs.transformer.layers == ours.config.layers == 2
    _, x = _normalised_336(2, seed=0)
    with torch.no_grad():
        a, b = theirs(x), ours(x)
    assert torch.equal(a, b)                                   # same operations in the same order
    assert (a[0] - a[1]).abs().max() > 1e-3                     # and the embeddings do depend on the image
    ext = CLIPImageEmbedding(ours)
    u, _ = _normalised_336(2, seed=0)
    e = ext(u)
    assert torch.equal(e, b / b.norm(dim=-1, keepdim=True))
    assert torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-6) and e.shape == (2, 768)


def _cmmd_read_image(path, reshape_to):
    """google-research cmmd/io_util.py ``_read_image`` with ``_center_crop_and_resize`` (tf.io.gfile -> open)."""
    with open(path, "rb") as f:
        im = Image.open(f)
        im.load()
    if reshape_to > 0:
        w, h = im.size
        l = min(w, h)
        top = (h - l) // 2
        left = (w - l) // 2
        im = im.crop((left, top, left + l, top + l))
        im = im.resize((reshape_to, reshape_to), resample=Image.BICUBIC)
    return np.asarray(im).astype(np.float32)


@pytest.mark.parametrize("hw", [(336, 336), (300, 400), (500, 250), (341, 337), (64, 64)])
def test_preprocessing_equals_cmmd_io_util_and_embedding(tmp_path, hw, small_archive):
    rng = np.random.default_rng(hw[0])
    img = rng.integers(0, 256, size=(*hw, 3), dtype=np.uint8)
    path = tmp_path / "im.png"
    Image.fromarray(img).save(path)
    ref = _cmmd_read_image(path, 336)[None] / 255.0                       # io_util: float32 / 255.0
    mean = np.array([0.48145466, 0.4578275, 0.40821073]).astype(np.float32)   # scenic IMAGE_MEAN in JAX float32
    std = np.array([0.26862954, 0.26130258, 0.27577711]).astype(np.float32)
    ref = (ref - mean) / std                                              # scenic normalize_image
    u = torch.from_numpy(img).permute(2, 0, 1)[None]
    assert torch.equal(cmmd_crop_resize(u), torch.from_numpy(_cmmd_read_image(path, 336)).permute(2, 0, 1)[None].to(torch.uint8))
    ext = CLIPImageEmbedding(load_clip_archive(small_archive, expect=None))
    ours = ext.normalised_input(u)
    assert ours.dtype == torch.float32
    assert torch.equal(ours, torch.from_numpy(np.ascontiguousarray(ref.transpose(0, 3, 1, 2))))


def test_builder_refuses_a_tower_that_is_not_vitl14_336(small_archive):
    with pytest.raises(ValueError, match="not a CLIP ViT with"):
        build_extractor(CLIP_VITL14_336, weights=small_archive, device="cpu", allow_hash_mismatch=True)


def test_builder_checks_the_hash_and_the_format(small_archive, tmp_path):
    with pytest.raises(W.WeightsHashError, match="3035c92b"):
        build_extractor(CLIP_VITL14_336, weights=small_archive, device="cpu")
    buf = io.BytesIO()
    torch.save({"visual.proj": torch.zeros(2, 2)}, buf)          # a plain state_dict is not OpenAI's format
    plain = tmp_path / "plain.pt"
    plain.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="not a TorchScript archive"):
        build_extractor(CLIP_VITL14_336, weights=plain, device="cpu", allow_hash_mismatch=True)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a TorchScript archive"):
        build_extractor(CLIP_VITL14_336, weights=junk, device="cpu", allow_hash_mismatch=True)


def test_missing_weights_message_names_file_url_and_path():
    with pytest.raises(W.MissingWeightsError) as info:
        build_extractor(CLIP_VITL14_336, device="cpu")        # conftest: empty cache, offline
    msg = str(info.value)
    assert "ViT-L-14-336px.pt" in msg and URL in msg and str(W.weights_cache_dir() / "ViT-L-14-336px.pt") in msg


@pytest.mark.slow
def test_full_vitl14_336_random_weights_through_the_builder_equal_torch_fidelity(tmp_path):
    """The real loading path on a full-size archive (24 blocks, ~0.6 GB float16): builder vs torch-fidelity."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        path = write_random_clip_archive(tmp_path / "ViT-L-14-336px.pt", seed=5)
    ext = build_extractor(CLIP_VITL14_336, weights=path, device="cpu", allow_hash_mismatch=True)
    assert ext.feature_dim == 768 and ext.weights_sha256 == W.sha256_of(path)
    u, x = _normalised_336(1, seed=1)
    with torch.no_grad():
        ours = ext(u)
        theirs = _torch_fidelity_visual(path)(x)
    assert torch.equal(ours, theirs / theirs.norm(dim=-1, keepdim=True))
