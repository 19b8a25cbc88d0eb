"""The one sampling source: per-sample seeding, batch/world-size independence, no side effects, image sources."""

import copy

import numpy as np
import pytest
import torch

from disentangle_metrics._core import sampling
from disentangle_metrics.generators.sources import (
    Batch, GeneratorSource, ImageSource, box_downsample, open_source, to_uint8, truncation_tag,
)
from tests.toy_generators import ToyGenerator
from tests.toy_generators_ppl import ConvGenerator, LinearGenerator


def _collect(src, num, bs, **kw):
    out = list(src.batches(num, bs, seed=3, **kw))
    return out


def test_batches_are_per_sample_and_batch_size_independent_without_noise():
    G = LinearGenerator(noise_strength=0.0)
    src = GeneratorSource(G, device="cpu")
    a = torch.cat([b.images for b in _collect(src, 23, 5)])
    b = torch.cat([b.images for b in _collect(src, 23, 8)])
    assert a.dtype == torch.uint8 and a.shape == (23, 3, 16, 16)
    assert torch.equal(a, b)
    za = torch.cat([b.z for b in _collect(src, 23, 5)])
    torch.testing.assert_close(za, sampling.randn(3, range(23), [G.z_dim], sampling.Stream.Z), rtol=0, atol=0)


def test_world_size_split_reassembles_the_single_process_run():
    src = GeneratorSource(ConvGenerator(resolution=16), device="cpu")
    full = {i: img for b in _collect(src, 20, 4) for i, img in zip(b.index, b.images)}
    parts = {}
    for r in range(3):
        for b in _collect(src, 20, 4, rank=r, world_size=3):
            assert b.batch_index % 3 == r
            parts.update({i: img for i, img in zip(b.index, b.images)})
    assert sorted(parts) == list(range(20))
    for i in range(20):
        assert torch.equal(parts[i], full[i]), i


def test_callers_generator_untouched_and_not_moved():
    G = ConvGenerator(resolution=16).train()
    before = copy.deepcopy(G.state_dict())
    src = GeneratorSource(G, device="cpu")
    list(src.batches(8, 4, seed=0, noise="shared"))
    assert G.training and all(p.requires_grad for p in G.parameters())
    for k, v in G.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert src.G is not G


def test_shared_noise_is_one_realisation_per_minibatch():
    src = GeneratorSource(LinearGenerator(noise_strength=1.0), device="cpu")
    ws = src.mapping(src.latents(0, [0, 0]), src.labels(0, [0, 0]))
    a = src.synthesis(ws, seed=0, batch_index=0, noise="shared")
    b = src.synthesis(ws, seed=0, batch_index=1, noise="shared")
    torch.testing.assert_close(a[0], a[1])
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="noise must be one of"):
        src.synthesis(ws, seed=0, batch_index=0, noise="fresh")


def test_keep_ws_and_float_images():
    src = GeneratorSource(ToyGenerator(), device="cpu")
    b = next(src.batches(4, 4, seed=0, keep_ws=True, keep_float=True))
    assert isinstance(b, Batch) and b.ws.shape == (4, 4, 8) and b.float_images.is_floating_point()
    assert torch.equal(to_uint8(b.float_images), b.images)
    assert b.c.shape == (4, 0)


def test_nan_pixels_raise_after_the_last_batch():
    class NaNGen(ToyGenerator):
        def synthesis(self, ws, noise_mode="random"):
            out = super().synthesis(ws, noise_mode)
            out[0, 0, 0, 0] = float("nan")
            return out
    with pytest.raises(ValueError, match="NaN or inf"):
        list(GeneratorSource(NaNGen(), device="cpu").batches(4, 2, seed=0))


def test_describe_is_json_able_and_names_precision():
    import json
    d = GeneratorSource(ToyGenerator(), device="cpu", truncation_psi=0.5).describe()
    json.dumps(d)
    assert d["kind"] == "generator" and d["truncation_psi"] == 0.5 and "precision" in d
    assert d["labels"]["policy"].startswith("none")


def test_truncation_tags():
    assert truncation_tag(1.0) is None and truncation_tag(1.0, 8) is None
    assert truncation_tag(0.7) == "psi0.7" and truncation_tag(0.5, 8) == "psi0.5-cutoff8"
    assert GeneratorSource(ToyGenerator(), device="cpu", truncation_psi=0.7).name_tags() == ["psi0.7"]


def test_box_downsample_is_the_block_mean():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float64).reshape(2, 3, 8, 8)
    y = box_downsample(x, 4)
    assert y.shape == (2, 3, 2, 2)
    assert float(y[0, 0, 0, 0]) == float(x[0, 0, :4, :4].mean())
    assert box_downsample(x, 1) is x
    with pytest.raises(ValueError, match="multiple of the factor"):
        box_downsample(x, 3)


def test_image_source_first_num_in_order(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, size=(10, 8, 8, 3), dtype=np.uint8)
    np.save(tmp_path / "imgs.npy", arr)
    src = open_source(tmp_path / "imgs.npy", device="cpu")
    assert isinstance(src, ImageSource) and src.num_available == 10 and src.resolution == 8
    got = list(src.batches(7, 3))
    assert [b.index for b in got] == [range(0, 3), range(3, 6), range(6, 7)]
    assert all(b.z is None and b.c is None for b in got)
    np.testing.assert_array_equal(torch.cat([b.images for b in got]).permute(0, 2, 3, 1).numpy(), arr[:7])
    r1 = list(src.batches(7, 3, rank=1, world_size=2))
    assert [b.index for b in r1] == [range(3, 6)]
    with pytest.raises(ValueError, match="11 images requested but .* holds 10"):
        list(src.batches(11, 4))


def test_image_source_refuses_mixed_sizes(tmp_path):
    from PIL import Image
    for i, s in enumerate([8, 8, 16]):
        Image.fromarray(np.zeros((s, s, 3), np.uint8)).save(tmp_path / f"{i}.png")
    with pytest.raises(Exception, match="size"):
        list(ImageSource(tmp_path, device="cpu").batches(3, 3))


def test_open_source_dispatch():
    G = ToyGenerator()
    src = open_source(G, device="cpu")
    assert isinstance(src, GeneratorSource) and open_source(src) is src
    with pytest.raises(ValueError, match="existing source"):
        open_source(src, device="cpu")
