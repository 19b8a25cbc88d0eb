"""stylegan2-ada / StyleGAN3 / rosinality generators scored as their own code runs them.

The stylegan2-ada-shaped network is ``tests/fake_nvidia/training/networks.py`` (written for these
tests; float16 blocks that really round, ``noise_const`` buffers, ``force_fp32``, conv_clamp 256).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from disentangle_metrics._core import sampling
from disentangle_metrics.generators.adapters import NvidiaAdapter, RosinalityAdapter, as_generator, nvidia_kind
from disentangle_metrics.generators.conditioning import label_policy
from disentangle_metrics.metrics.ppl import crop_and_downsample, ppl
from disentangle_metrics.generators.precision_guard import PrecisionError, eps_scaling
from disentangle_metrics.generators.sources import GeneratorSource, to_uint8
from tests.toy_generators import RosinalityLike
from tests.toy_generators_ppl import ConvGenerator

FAKE = str(Path(__file__).parent / "fake_nvidia")   # other test modules import it


def sql2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).square().flatten(1).sum(1)


class Naive(torch.nn.Module):
    """What scoring the raw network used to do: its synthesis as the checkpoint says (float16), no
    noise hook (``stale=False`` adds force_fp32 but still no reseed_noise)."""

    def __init__(self, G, force_fp32=False):
        super().__init__()
        self.G, self.force_fp32 = G, force_fp32
        for k in ("z_dim", "w_dim", "num_ws", "img_resolution", "img_channels", "c_dim"):
            setattr(self, k, getattr(G, k))

    def mapping(self, z, c, truncation_psi=1):
        return self.G.mapping(z, c, truncation_psi=truncation_psi)

    def synthesis(self, ws, noise_mode="random"):
        return self.G.synthesis(ws, noise_mode=noise_mode, force_fp32=self.force_fp32)


def reference_ppl_distances(G, n, bs, seed, eps=1e-4):
    """Their PPL sampler's recipe written out on the raw network: float32 (force_fp32), every
    noise_const redrawn before each minibatch (from our per-minibatch generator), W end paths, crop."""
    G = copy.deepcopy(G)
    out = []
    for b, idx in sampling.batch_ranges(n, bs):
        rows = np.arange(idx.start, idx.stop)
        z0 = sampling.randn(seed, rows, [G.z_dim], sampling.Stream.Z)
        z1 = sampling.randn(seed, rows, [G.z_dim], sampling.Stream.Z_END)
        c = torch.zeros([len(rows), 0])
        w0, w1 = G.mapping(torch.cat([z0, z1]), torch.cat([c, c])).chunk(2)
        ws = torch.cat([w0, w0.lerp(w1, eps)])
        gen = sampling.batch_generator(seed, b, sampling.Stream.NOISE)
        for name, buf in G.named_buffers():
            if name.endswith(".noise_const"):
                buf.copy_(torch.randn(buf.shape, generator=gen))
        img = G.synthesis(ws, noise_mode="const", force_fp32=True)
        a, bb = crop_and_downsample(img).chunk(2)
        out.append(sql2(a, bb) / eps ** 2)
    return torch.cat(out).numpy()


def test_recognised_by_class_name_and_structure(nv):
    G = nv.make_generator()
    A = as_generator(G)
    assert isinstance(A, NvidiaAdapter) and A.kind == "stylegan2-ada" and A.module is G
    assert A.fp16_parts() == ["b16", "b32"]
    assert "float16 in b16, b32" in A.precision(False) and A.precision(True).startswith("float32")
    assert len(A.noise_buffer_names()) == 2 * 4 - 1
    # their persistence wrapper: a subclass keeping the name in _orig_class_name, in a generated module
    Wrapped = type("Decorator", (type(G),), {"_orig_class_name": "Generator", "__module__": "_imported_module_1"})
    G2 = copy.deepcopy(G)
    G2.__class__ = Wrapped
    assert nvidia_kind(G2) == "stylegan2-ada"
    # our own reference generators and toy generators are not mistaken for theirs
    assert nvidia_kind(ConvGenerator()) is None


def test_stylegan3_shape_recognised():
    class SynthesisNetwork(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.input = torch.nn.Identity()
            self.layer_names = ["L0_36_512"]
            self.L0_36_512 = torch.nn.Module()
            self.L0_36_512.use_fp16 = True

    class MappingNetwork(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("w_avg", torch.zeros(4))

    class Generator(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.z_dim = self.w_dim = 4
            self.num_ws, self.img_resolution, self.img_channels, self.c_dim = 2, 16, 3, 0
            self.synthesis, self.mapping = SynthesisNetwork(), MappingNetwork()

    A = as_generator(Generator())
    assert A.kind == "stylegan3" and A.noise_buffer_names() == []
    assert "only on CUDA" in A.precision(False, "cpu") and "float16 in L0_36_512" in A.precision(False, "cuda")


def test_ppl_equals_float32_with_per_minibatch_redrawn_noise(nv):
    G = nv.make_generator()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    n, bs = 48, 16
    res = ppl(G, "w", "end", num_samples=n, batch_size=bs, distance=sql2, device="cpu", seed=7)
    want = reference_ppl_distances(G, n, bs, seed=7)
    np.testing.assert_allclose(res.samples["distances"], want, rtol=2e-4)
    assert res.config["precision"] == "float32 (force_fp32)"
    assert res.config["noise"] == "per-minibatch reseed_noise" and res.config["generator"]["adapter"] == "stylegan2-ada"
    assert res.config["precision_check"]["ok"] is True
    for k, v in G.state_dict().items():          # the caller's network (noise buffers included) is untouched
        assert torch.equal(v, before[k]), k

    # Without the adapter's two fixes: float16 swamps the metric (and the guard stops it) ...
    with pytest.raises(PrecisionError, match="does not scale like eps\\^2.*force_fp32"):
        ppl(Naive(G), "w", "end", num_samples=n, batch_size=bs, distance=sql2, device="cpu", seed=7)
    fp16 = ppl(Naive(G), "w", "end", num_samples=n, batch_size=bs, distance=sql2, device="cpu", seed=7,
               precision_check=False)
    assert fp16.value > 3 * res.value
    # ... and float32 with the stored noise_const for every minibatch is a different number.
    stale = ppl(Naive(G, force_fp32=True), "w", "end", num_samples=n, batch_size=bs, distance=sql2, device="cpu", seed=7)
    assert not np.allclose(stale.samples["distances"], want, rtol=1e-2)


def test_fid_type_sampling_runs_the_checkpoint_precision(nv):
    G = nv.make_generator()
    src = GeneratorSource(G, device="cpu")
    assert "float16" in src.describe()["precision"] and src.describe()["adapter"] == "stylegan2-ada"
    batch = next(src.batches(6, 6, seed=2))
    z = sampling.randn(2, range(6), [16])
    with sampling.seeded(2, 0, sampling.Stream.NOISE, "cpu"):
        want = to_uint8(G(z, torch.zeros([6, 0]), noise_mode="random"))     # their metric_utils' call
    assert torch.equal(batch.images, want)
    fp32 = GeneratorSource(G, device="cpu", force_fp32=True)
    assert fp32.describe()["precision"] == "float32 (force_fp32)"


def test_guard_fires_on_quantising_generator_and_not_on_clean_ones(nv):
    class Quantised(ConvGenerator):
        def synthesis(self, ws, noise_mode="random"):
            return torch.round((super().synthesis(ws, noise_mode) + 1) * 127.5) / 127.5 - 1

    bad = eps_scaling(GeneratorSource(Quantised(), device="cpu"))
    assert not bad.ok and bad.pooled_ratio < 2.7 and "does not scale like eps^2" in bad.message
    with pytest.raises(PrecisionError, match="Fix:"):
        ppl(Quantised(), "w", "end", num_samples=8, distance=sql2, device="cpu")
    assert eps_scaling(GeneratorSource(ConvGenerator(), device="cpu")).ok
    assert eps_scaling(GeneratorSource(ConvGenerator(), device="cpu"), space="z").ok
    good = eps_scaling(GeneratorSource(nv.make_generator(), device="cpu", force_fp32=True))
    assert good.ok and 3.9 < good.pooled_ratio < 4.1
    half = eps_scaling(GeneratorSource(nv.make_generator(), device="cpu", force_fp32=False))
    assert not half.ok and half.pooled_ratio < 2.5

    class Coarse(ConvGenerator):        # rounds so coarsely that nothing changes at eps
        def synthesis(self, ws, noise_mode="random"):
            return torch.round(super().synthesis(ws, noise_mode) * 4) / 4
    coarse = eps_scaling(GeneratorSource(Coarse(), device="cpu"))
    assert not coarse.ok and coarse.pooled_ratio < 2.7


def test_truncation_with_cutoff_and_names(nv):
    G = nv.make_generator()
    src = GeneratorSource(G, device="cpu", truncation_psi=0.7, truncation_cutoff=4)
    z = src.latents(0, range(3))
    ws, raw = src.mapping(z, src.labels(0, range(3))), G.mapping(z, torch.zeros([3, 0]))
    torch.testing.assert_close(ws[:, :4], G.mapping.w_avg.lerp(raw[:, :4], 0.7))
    torch.testing.assert_close(ws[:, 4:], raw[:, 4:])
    r = ppl(G, "w", "end", num_samples=8, distance=sql2, device="cpu", truncation_psi=0.7, truncation_cutoff=4)
    assert r.metric == "ppl_wend@custom-sql2+psi0.7-cutoff4" and r.config["truncation_psi"] == 0.7
    r1 = ppl(G, "w", "end", num_samples=8, distance=sql2, device="cpu", truncation_cutoff=4)
    assert r1.metric == "ppl_wend@custom-sql2"      # a cutoff without psi changes nothing, so no tag


def test_fid_name_carries_truncation():
    from disentangle_metrics import fid
    from tests.fid_helpers import ToyGenerator
    from tests.test_fid_metric import dataset_stats_from_generator

    ref = dataset_stats_from_generator(ToyGenerator())
    r = fid(ToyGenerator(), ref, num_samples=16, batch_size=8, device="cpu", extractor="test-pixel-stats", truncation_psi=0.5)
    assert r.metric == "fid16@test-pixel-stats+psi0.5" and r.config["truncation_psi"] == 0.5
    assert fid(ToyGenerator(), ref, num_samples=16, device="cpu", extractor="test-pixel-stats").metric == "fid16@test-pixel-stats"
    src = GeneratorSource(ToyGenerator(), device="cpu", truncation_psi=0.5)       # a prepared source works too
    r2 = fid(src, ref, num_samples=16, batch_size=8, device="cpu", extractor="test-pixel-stats")
    assert r2.metric == r.metric and r2.value == r.value
    with pytest.raises(ValueError, match="set them on the source"):
        fid(src, ref, num_samples=16, device="cpu", extractor="test-pixel-stats", truncation_psi=0.7)


def test_rosinality_truncation_is_seeded_and_cut():
    net = RosinalityLike()
    a, b = as_generator(net), as_generator(copy.deepcopy(net))
    assert isinstance(a, RosinalityAdapter) and torch.equal(a.w_avg, b.w_avg)
    z = torch.randn(2, 8)
    ws = a.mapping(z, None, truncation_psi=0.5, truncation_cutoff=2)
    raw = a.mapping(z, None)
    torch.testing.assert_close(ws[:, :2], a.w_avg.lerp(raw[:, :2], 0.5))
    torch.testing.assert_close(ws[:, 2:], raw[:, 2:])


# ------------------------------------------------------------------------------------------ conditional


def _labels_of(src, num, bs, rank=0, world_size=1):
    return {i: c for b in src.batches(num, bs, seed=5, rank=rank, world_size=world_size) for i, c in zip(b.index, b.c)}


def test_conditional_labels_per_sample_batch_and_world_size_independent(nv):
    G = nv.make_generator(c_dim=5)
    src = GeneratorSource(G, device="cpu")
    a, b = _labels_of(src, 30, 4), _labels_of(src, 30, 7)
    split = {}
    for r in range(3):
        split.update(_labels_of(src, 30, 4, rank=r, world_size=3))
    for i in range(30):
        assert torch.equal(a[i], b[i]) and torch.equal(a[i], split[i])
        assert a[i].sum() == 1                      # one-hot, uniform over the 5 classes by default
    classes = torch.stack([a[i] for i in range(30)]).argmax(1)
    assert len(set(classes.tolist())) >= 4
    fixed = _labels_of(GeneratorSource(G, device="cpu", class_label=3), 10, 4)
    assert all(int(c.argmax()) == 3 for c in fixed.values())
    # one fixed class is not the paper's metric: it shows in the name, after the truncation tag
    assert GeneratorSource(G, device="cpu", class_label=3).name_tags() == ["class3"]
    assert GeneratorSource(G, device="cpu", class_label=0, truncation_psi=0.5).name_tags() == ["psi0.5", "class0"]
    assert src.name_tags() == []
    r = ppl(G, "w", "end", num_samples=8, distance=sql2, device="cpu", class_label=2)
    assert r.metric.endswith("+class2") or r.metric.endswith("@class2"), r.metric
    with pytest.raises(ValueError, match="out of range"):
        GeneratorSource(G, device="cpu", class_label=5)


def test_labels_from_dataset_json_follow_its_distribution(tmp_path, nv):
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [[f"{i:05d}.png", 0 if i < 90 else 2]
                                                                  for i in range(100)]}))
    pol = label_policy(3, labels=str(tmp_path))
    c = pol.draw(0, range(2000))
    frac = c.mean(0).numpy()
    assert frac[1] == 0 and 0.85 < frac[0] < 0.95 and abs(frac[2] - 0.1) < 0.03
    assert pol.describe()["policy"] == "dataset label distribution" and pol.describe()["num_labels"] == 100
    with pytest.raises(ValueError, match="c_dim=5"):
        label_policy(5, labels=str(tmp_path))
    r = ppl(nv.make_generator(c_dim=3), "w", "end", num_samples=8, distance=sql2, device="cpu", labels=str(tmp_path))
    assert r.config["labels"]["source"].endswith("dataset.json")
    with pytest.raises(ValueError, match="unconditional"):
        GeneratorSource(ConvGenerator(), device="cpu", class_label=1)


def test_stylegan3_repos_stylegan2_records_float32_off_cuda(nv):
    """NVlabs/stylegan3's networks_stylegan2.py turns float16 off away from CUDA (``if ws.device.type != 'cuda':
    force_fp32 = True`` in SynthesisBlock.forward); stylegan2-ada-pytorch's does not. The record must say what runs."""
    G = nv.make_generator()
    assert "float16" in as_generator(G).precision(False, "cpu")        # stylegan2-ada-pytorch: float16 on CPU too
    for r in G.synthesis.block_resolutions:
        b = getattr(G.synthesis, f"b{r}")
        b.__class__ = type("SynthesisBlock", (type(b),), {
            "_orig_module_src": "def forward(self, x, img, ws, force_fp32=False):\n"
                                "    if ws.device.type != 'cuda':\n        force_fp32 = True\n"})
    A = as_generator(G)
    assert A.precision(False, "cpu").startswith("float32") and "only on CUDA" in A.precision(False, "cpu")
    assert "float16 in b16, b32" in A.precision(False, "cuda")


def test_fid_of_a_prepared_source_renders_the_reference_at_its_resolution():
    from disentangle_metrics import fid
    from disentangle_metrics.generators.sources import GeneratorSource
    from tests.fid_helpers import ToyGenerator
    src = GeneratorSource(ToyGenerator(resolution=16), device="cpu")
    direct = fid(ToyGenerator(resolution=16), "testbed", num_samples=120, num_real=120, extractor="test-pixel-stats",
                 device="cpu")
    via = fid(src, "testbed", num_samples=120, num_real=120, extractor="test-pixel-stats", device="cpu")
    assert via.value == pytest.approx(direct.value, rel=1e-9) and "16x16" in via.config["reference"]
