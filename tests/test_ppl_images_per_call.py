"""PPL's images per generator call apart from its noise batch (pairs per noise draw).

The noise batch (``batch_size``, 16 in the paper) is part of the definition: its pairs share one noise
realisation. The images per call only split the generator calls of a noise batch (the two ends of a
pair may land in different calls); every call sees the batch's realisation, so it may change float32
rounding and nothing else.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

from disentangle_metrics.metrics.ppl import CPU_PIXELS_PER_CALL, images_per_call_for, ppl
from tests.sg3_shaped import make_generator as make_sg3
from tests.test_ppl import Recorder, sql2
from tests.toy_generators_ppl import ConvGenerator, LinearGenerator

# Relative change of a distance allowed between call sizes of a float32 generator. d = |G(w + eps dw) -
# G(w)|^2 / eps^2 keeps about 3 of float32's 7 digits in the difference at eps = 1e-4: on ConvGenerator,
# float32 against float64 differ by 1e-3 (median) and 3e-3 (largest), and so do two call sizes
# (test_images_per_call_is_float32_rounding below pins that against float64 on every run).
ROUNDING = 1e-2


def test_table_rule():
    cpu = torch.device("cpu")
    assert images_per_call_for(cpu, "stylegan3", 64, 16)[0] == CPU_PIXELS_PER_CALL["stylegan3"] // 64 ** 2 == 1
    assert images_per_call_for(cpu, "stylegan3", 1024, 16)[0] == 1              # never below one image
    assert images_per_call_for(cpu, "stylegan2-ada", 8, 16)[0] == 32            # never above the noise batch
    assert images_per_call_for(cpu, "stylegan2-ada", 8, 2)[0] == 4
    assert images_per_call_for(cpu, "stylegan2-ada", 256, 16)[0] == 1
    images, rule = images_per_call_for(cpu, "rosinality", 64, 16)               # not in the table: the protocol row
    assert images == CPU_PIXELS_PER_CALL["protocol"] // 64 ** 2 and "protocol" in rule
    assert images_per_call_for(torch.device("cuda"), "stylegan3", 1024, 16) == (32, "cuda: the noise batch in one call")


def test_every_call_of_a_minibatch_sees_its_noise_realisation():
    n, bs = 40, 16
    rec = Recorder(LinearGenerator(noise_strength=1.0))
    r = ppl(rec, "w", "full", num_samples=n, batch_size=bs, images_per_call=7, distance=sql2, device="cpu",
            dtype=torch.float64, precision_check=False, bootstrap=0)
    # 16, 16, 8 pairs per noise draw (32, 32, 16 images), split in calls of 7 images: a pair's ends may part
    assert [ws.shape[0] for ws in rec.synthesis_in] == [7, 7, 7, 7, 4] * 2 + [7, 7, 2]
    batch_of_call = [0] * 5 + [1] * 5 + [2] * 3
    for i, b in enumerate(batch_of_call):
        first = batch_of_call.index(b)
        assert torch.equal(rec.noise_states[i], rec.noise_states[first])          # same realisation in a batch
    assert not torch.equal(rec.noise_states[0], rec.noise_states[5])            # a new one per batch
    assert r.config["batch_size"] == bs and r.config["images_per_call"] == 7
    assert r.config["images_per_call_rule"] == "given"
    whole = ppl(LinearGenerator(noise_strength=1.0), "w", "full", num_samples=n, batch_size=bs, images_per_call=2 * bs,
                distance=sql2, device="cpu", dtype=torch.float64, precision_check=False, bootstrap=0)
    np.testing.assert_allclose(r.samples["distances"], whole.samples["distances"], rtol=1e-12)


def test_images_per_call_changes_rounding_only_noise_batch_changes_the_draws(nv):
    """stylegan2-ada shape with redrawn noise: the images per call are invisible beyond float32 rounding; the
    noise batch regroups the noise draws and so changes every distance (what the batch size changes)."""
    G = nv.make_generator(resolution=32)
    kw = dict(num_samples=32, distance=sql2, device="cpu", seed=3, precision_check=False, bootstrap=0)
    runs = {k: ppl(G, "w", "end", batch_size=16, images_per_call=k, **kw) for k in (1, 3, 6, 32)}
    ref = runs[32].samples["distances"]
    for k in (1, 3, 6):
        rel = np.abs(runs[k].samples["distances"] / ref - 1)
        # This network computes in float32 whatever dtype is asked and takes its own path for a batch of
        # one, where one distance of 32 moves by 1.3e-2 (a float64 run moves it as much: rounding inside)
        assert np.median(rel) < ROUNDING / 5 and rel.max() < 2 * ROUNDING, (k, np.median(rel), rel.max())
        assert runs[k].config["images_per_call"] == k
    regrouped = ppl(G, "w", "end", batch_size=8, images_per_call=16, **kw).samples["distances"]
    # pairs 0..7: noise batch 0 under both groupings, the same draw
    assert np.abs(regrouped[:8] / ref[:8] - 1).max() < ROUNDING
    # pairs 8..15: noise batch 1 of 8 pairs vs batch 0 of 16, another draw: a different sample of the metric
    assert np.median(np.abs(regrouped[8:16] / ref[8:16] - 1)) > 10 * ROUNDING


def test_images_per_call_is_float32_rounding():
    G = ConvGenerator(resolution=32)
    kw = dict(num_samples=32, batch_size=16, distance=sql2, device="cpu", seed=3, precision_check=False, bootstrap=0)
    d = {(k, dt): ppl(G, "w", "full", images_per_call=k, dtype=dt, **kw).samples["distances"]
         for k in (1, 32) for dt in (torch.float32, torch.float64)}
    # in float64 the images per call are invisible: only the rounding of the float32 runs can differ ...
    np.testing.assert_allclose(d[1, torch.float64], d[32, torch.float64], rtol=1e-9)
    # ... and they differ by no more than float32 differs from float64
    f32_error = np.abs(d[32, torch.float32] / d[32, torch.float64] - 1).max()
    assert np.abs(d[1, torch.float32] / d[32, torch.float32] - 1).max() <= 2 * f32_error < ROUNDING


def test_auto_images_per_call_recorded_for_stylegan3_shape():
    G = make_sg3("t", resolution=32, scale=64)    # 32x32: the table gives 4 images per call, fewer than the batch
    r = ppl(G, "w", "end", num_samples=8, batch_size=8, distance=sql2, device="cpu", seed=0, bootstrap=0)
    want = images_per_call_for(torch.device("cpu"), "stylegan3", 32, 8)
    assert want[0] == 4
    assert (r.config["images_per_call"], r.config["images_per_call_rule"]) == want
    assert r.config["batch_size"] == 8 and r.config["generator"]["adapter"] == "stylegan3"
    one = ppl(G, "w", "end", num_samples=8, batch_size=8, images_per_call=16, distance=sql2, device="cpu", seed=0,
              bootstrap=0, precision_check=False)
    rel = np.abs(r.samples["distances"] / one.samples["distances"] - 1)
    assert rel.max() < ROUNDING, rel.max()


def test_bad_images_per_call():
    with pytest.raises(ValueError, match="images_per_call must be >= 1"):
        ppl(LinearGenerator(), num_samples=4, distance=sql2, device="cpu", images_per_call=0)
    with pytest.raises(ValueError, match="compute_batch must be >= 1"):
        ppl(LinearGenerator(), num_samples=4, distance=sql2, device="cpu", compute_batch=0)
    with pytest.raises(ValueError, match="not both"):
        ppl(LinearGenerator(), num_samples=4, distance=sql2, device="cpu", compute_batch=1, images_per_call=2)


def test_compute_batch_in_pairs_is_a_deprecated_alias():
    kw = dict(num_samples=8, batch_size=4, distance=sql2, device="cpu", precision_check=False, bootstrap=0)
    with pytest.warns(DeprecationWarning, match="images_per_call=2"):
        old = ppl(LinearGenerator(), "w", "end", compute_batch=1, **kw)
    new = ppl(LinearGenerator(), "w", "end", images_per_call=2, **kw)
    assert old.config["images_per_call"] == 2
    np.testing.assert_array_equal(old.samples["distances"], new.samples["distances"])


def test_precision_check_runs_at_the_images_per_call(monkeypatch):
    # the check runs on a private copy of the generator, so the calls are seen on the source class
    from disentangle_metrics.generators.sources import GeneratorSource
    calls = []
    plain = GeneratorSource.synthesis

    def spy(self, ws, **kw):
        calls.append(ws.shape[0])
        return plain(self, ws, **kw)
    monkeypatch.setattr(GeneratorSource, "synthesis", spy)
    kw = dict(num_samples=4, batch_size=4, images_per_call=3, distance=sql2, device="cpu", bootstrap=0)
    ppl(LinearGenerator(), "w", "end", precision_check=False, **kw)
    assert calls == [3, 3, 2]                          # the metric's 8 images
    calls.clear()
    ppl(LinearGenerator(), "w", "end", **kw)
    assert sum(calls) == 24 + 8 and max(calls) == 3    # the check's 24 images too, in calls of 3


def test_distance_sees_the_whole_noise_batch():
    calls = []

    def spy(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        calls.append((a.shape[0], b.shape[0]))
        return sql2(a, b)

    r = ppl(LinearGenerator(), "w", "end", num_samples=40, batch_size=16, images_per_call=5, distance=spy,
            device="cpu", precision_check=False, bootstrap=0)
    assert calls == [(16, 16), (16, 16), (8, 8)]          # the generator ran 17 times, the distance 3 times
    whole = ppl(LinearGenerator(), "w", "end", num_samples=40, batch_size=16, images_per_call=32, distance=sql2,
                device="cpu", precision_check=False, bootstrap=0)
    np.testing.assert_allclose(r.samples["distances"], whole.samples["distances"], rtol=ROUNDING)
