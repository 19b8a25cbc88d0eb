"""PPL's compute batch (pairs per generator call) apart from its noise batch (pairs per noise draw).

The noise batch (``batch_size``, 16 in the paper) is part of the definition: its pairs share one noise
realisation. The compute batch only splits the generator and distance calls of a noise batch; every
call sees the batch's realisation, so it may change float32 rounding and nothing else.
"""

from __future__ import annotations


import numpy as np
import pytest
import torch

from disentangle_metrics.metrics.ppl import CPU_PIXELS_PER_CALL, compute_batch_for, ppl
from tests.sg3_shaped import make_generator as make_sg3
from tests.test_ppl import Recorder, sql2
from tests.toy_generators_ppl import ConvGenerator, LinearGenerator

# Relative change of a distance allowed between compute batches of a float32 generator. d = |G(w + eps dw) -
# G(w)|^2 / eps^2 keeps about 3 of float32's 7 digits in the difference at eps = 1e-4: on ConvGenerator,
# float32 against float64 differ by 1e-3 (median) and 3e-3 (largest), and so do two compute batches
# (test_compute_batch_is_float32_rounding below pins that against float64 on every run).
ROUNDING = 1e-2


def test_table_rule():
    cpu = torch.device("cpu")
    per_pair = 2 * 64 ** 2
    assert compute_batch_for(cpu, "stylegan3", 64, 16)[0] == CPU_PIXELS_PER_CALL["stylegan3"] // per_pair == 1
    assert compute_batch_for(cpu, "stylegan3", 1024, 16)[0] == 1              # never below one pair
    assert compute_batch_for(cpu, "stylegan2-ada", 32, 16)[0] == 16            # never above the noise batch
    assert compute_batch_for(cpu, "stylegan2-ada", 32, 2)[0] == 2
    pairs, rule = compute_batch_for(cpu, "rosinality", 256, 16)                # not in the table: the protocol row
    assert pairs == max(1, CPU_PIXELS_PER_CALL["protocol"] // (2 * 256 ** 2)) and "protocol" in rule
    assert compute_batch_for(torch.device("cuda"), "stylegan3", 1024, 16) == (16, "cuda: the noise batch in one call")


def test_every_call_of_a_minibatch_sees_its_noise_realisation():
    n, bs = 40, 16
    rec = Recorder(LinearGenerator(noise_strength=1.0))
    r = ppl(rec, "w", "full", num_samples=n, batch_size=bs, compute_batch=5, distance=sql2, device="cpu",
            dtype=torch.float64, precision_check=False, bootstrap=0)
    # 16, 16, 8 pairs per noise draw, split in calls of 5 pairs (10 images: both ends of each pair)
    assert [ws.shape[0] for ws in rec.synthesis_in] == [10, 10, 10, 2, 10, 10, 10, 2, 10, 6]
    batch_of_call = [0] * 4 + [1] * 4 + [2] * 2
    for i, b in enumerate(batch_of_call):
        first = batch_of_call.index(b)
        assert torch.equal(rec.noise_states[i], rec.noise_states[first])          # same realisation in a batch
    assert not torch.equal(rec.noise_states[0], rec.noise_states[4])            # a new one per batch
    assert r.config["batch_size"] == bs and r.config["compute_batch"] == 5 and r.config["compute_batch_rule"] == "given"
    whole = ppl(LinearGenerator(noise_strength=1.0), "w", "full", num_samples=n, batch_size=bs, compute_batch=bs,
                distance=sql2, device="cpu", dtype=torch.float64, precision_check=False, bootstrap=0)
    np.testing.assert_allclose(r.samples["distances"], whole.samples["distances"], rtol=1e-12)


def test_compute_batch_changes_rounding_only_noise_batch_changes_the_draws(nv):
    """stylegan2-ada shape with redrawn noise: the compute batch is invisible beyond float32 rounding; the
    noise batch regroups the noise draws and so changes every distance (what the batch size changes)."""
    G = nv.make_generator(resolution=32)
    kw = dict(num_samples=32, distance=sql2, device="cpu", seed=3, precision_check=False, bootstrap=0)
    runs = {k: ppl(G, "w", "end", batch_size=16, compute_batch=k, **kw) for k in (1, 3, 16)}
    ref = runs[16].samples["distances"]
    for k in (1, 3):
        rel = np.abs(runs[k].samples["distances"] / ref - 1)
        assert rel.max() < ROUNDING, (k, rel.max())
        assert runs[k].config["compute_batch"] == k
    regrouped = ppl(G, "w", "end", batch_size=8, compute_batch=8, **kw).samples["distances"]
    # pairs 0..7: noise batch 0 under both groupings, the same draw
    assert np.abs(regrouped[:8] / ref[:8] - 1).max() < ROUNDING
    # pairs 8..15: noise batch 1 of 8 pairs vs batch 0 of 16, another draw: a different sample of the metric
    assert np.median(np.abs(regrouped[8:16] / ref[8:16] - 1)) > 10 * ROUNDING


def test_compute_batch_is_float32_rounding():
    G = ConvGenerator(resolution=32)
    kw = dict(num_samples=32, batch_size=16, distance=sql2, device="cpu", seed=3, precision_check=False, bootstrap=0)
    d = {(k, dt): ppl(G, "w", "full", compute_batch=k, dtype=dt, **kw).samples["distances"]
         for k in (1, 16) for dt in (torch.float32, torch.float64)}
    # in float64 the compute batch is invisible: only the rounding of the float32 runs can differ ...
    np.testing.assert_allclose(d[1, torch.float64], d[16, torch.float64], rtol=1e-9)
    # ... and they differ by no more than float32 differs from float64
    f32_error = np.abs(d[16, torch.float32] / d[16, torch.float64] - 1).max()
    assert np.abs(d[1, torch.float32] / d[16, torch.float32] - 1).max() <= 2 * f32_error < ROUNDING


def test_auto_compute_batch_recorded_for_stylegan3_shape():
    G = make_sg3("t", resolution=32, scale=64)    # 32x32: the table gives 4 pairs per call, fewer than the batch
    r = ppl(G, "w", "end", num_samples=8, batch_size=8, distance=sql2, device="cpu", seed=0, bootstrap=0)
    want = compute_batch_for(torch.device("cpu"), "stylegan3", 32, 8)
    assert want[0] == 4
    assert (r.config["compute_batch"], r.config["compute_batch_rule"]) == want
    assert r.config["batch_size"] == 8 and r.config["generator"]["adapter"] == "stylegan3"
    one = ppl(G, "w", "end", num_samples=8, batch_size=8, compute_batch=8, distance=sql2, device="cpu", seed=0,
              bootstrap=0, precision_check=False)
    rel = np.abs(r.samples["distances"] / one.samples["distances"] - 1)
    assert rel.max() < ROUNDING, rel.max()


def test_bad_compute_batch():
    with pytest.raises(ValueError, match="compute_batch must be >= 1"):
        ppl(LinearGenerator(), num_samples=4, distance=sql2, device="cpu", compute_batch=0)


def test_distance_sees_the_whole_noise_batch():
    calls = []

    def spy(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        calls.append((a.shape[0], b.shape[0]))
        return sql2(a, b)

    r = ppl(LinearGenerator(), "w", "end", num_samples=40, batch_size=16, compute_batch=5, distance=spy, device="cpu",
            precision_check=False, bootstrap=0)
    assert calls == [(16, 16), (16, 16), (8, 8)]          # the generator ran 10 times, the distance 3 times
    whole = ppl(LinearGenerator(), "w", "end", num_samples=40, batch_size=16, compute_batch=16, distance=sql2,
                device="cpu", precision_check=False, bootstrap=0)
    np.testing.assert_allclose(r.samples["distances"], whole.samples["distances"], rtol=ROUNDING)
