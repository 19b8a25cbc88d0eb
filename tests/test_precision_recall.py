"""Precision/recall from features: torch-fidelity, stylegan2-ada-pytorch's loop, planted answers, bounded blocks."""

import pytest
import torch

from disentangle_metrics.functional import precision_recall as PR
from disentangle_metrics.functional.precision_recall import precision_recall_from_features
from tests import _sg2ada_formulas as sg2


def _overlapping(n_gen=700, n_real=600, dim=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n_gen, dim, generator=g)
    b = 1.05 * torch.randn(n_real, dim, generator=g) + 0.3
    return a, b


def test_matches_torch_fidelity_float32():
    from torch_fidelity.metric_prc import calculate_precision_recall_full
    a, b = _overlapping()
    theirs = calculate_precision_recall_full(a, b, 3, 10000)
    ours = precision_recall_from_features(a, b, feature_dtype=None, row_batch_size=256, col_batch_size=200,
                                          device="cpu")
    assert 0.05 < ours.precision < 0.95 and 0.05 < ours.recall < 0.95     # neither trivially 0 nor 1
    assert (ours.precision, ours.recall) == pytest.approx(theirs, abs=1e-7)


def test_matches_stylegan2_ada_transcription_float16():
    a, b = _overlapping(dim=64, seed=1)
    a, b = 20 * a, 20 * b                 # VGG-like magnitudes, where float16 rounding is visible
    theirs = sg2.precision_recall(a, b, nhood_size=3, row_batch_size=300, col_batch_size=250)
    ours = precision_recall_from_features(a, b, row_batch_size=300, col_batch_size=250, device="cpu")
    assert ours.feature_dtype == "float16"
    # float16 products round differently from float32 products of float16 values: at most a
    # probe or two may sit within that margin of a radius
    assert ours.precision == pytest.approx(theirs[0], abs=2.5 / len(a))
    assert ours.recall == pytest.approx(theirs[1], abs=2.5 / len(b))


def test_identical_sets_give_one_and_disjoint_sets_zero():
    a, _ = _overlapping(n_gen=300)
    same = precision_recall_from_features(a, a.clone(), device="cpu")
    assert same.precision == 1.0 and same.recall == 1.0
    far = precision_recall_from_features(a, a + 100.0, device="cpu")
    assert far.precision == 0.0 and far.recall == 0.0


def test_planted_half_overlap():
    # uniform squares [0,1]^2 (real) and [0.5,1.5]x[0,1] (generated): half of each lies in the other
    g = torch.Generator().manual_seed(2)
    real = torch.rand(4000, 2, generator=g)
    gen = torch.rand(4000, 2, generator=g) + torch.tensor([0.5, 0.0])
    r = precision_recall_from_features(gen, real, feature_dtype=None, device="cpu", row_batch_size=1500)
    assert r.precision == pytest.approx(0.5, abs=0.03) and r.recall == pytest.approx(0.5, abs=0.03)


def test_block_sizes_do_not_change_the_answer_and_bound_memory(monkeypatch):
    a, b = _overlapping(n_gen=530, n_real=470)
    seen = []
    orig = PR._Blocks.__call__

    def spy(self, x, x_sq, y, y_sq, same=False):
        d = orig(self, x, x_sq, y, y_sq, same)
        seen.append(tuple(d.shape))
        return d
    monkeypatch.setattr(PR._Blocks, "__call__", spy)
    ref = precision_recall_from_features(a, b, row_batch_size=2000, device="cpu")
    assert max(r * c for r, c in seen) == 530 * 530          # one block: the whole self-distance matrix
    seen.clear()
    small = precision_recall_from_features(a, b, row_batch_size=128, col_batch_size=96, device="cpu")
    assert (small.precision, small.recall) == (ref.precision, ref.recall)
    assert max(r for r, _ in seen) <= 128 and max(c for _, c in seen) <= 128     # never more than a block
    # self distances: upper triangle of row blocks only (530 -> 5 blocks: 15 of 25; 470 -> 4: 10 of 16);
    # generated x real: 5 x 5 blocks of 128 x 96, once for precision and recall together
    assert len(seen) == 15 + 10 + 5 * 5


def test_errors():
    a, b = _overlapping(n_gen=3, n_real=10)
    with pytest.raises(ValueError, match="more than k features"):
        precision_recall_from_features(a, b)
    with pytest.raises(ValueError, match="32-d but real ones 4-d"):
        precision_recall_from_features(torch.zeros(10, 32), torch.zeros(10, 4))


@pytest.mark.gpu
def test_cuda_equals_cpu():
    from disentangle_metrics.functional.kid import kid_from_features
    a, b = _overlapping(n_gen=3000, n_real=2500, dim=256)
    cpu = precision_recall_from_features(a, b, device="cpu", row_batch_size=1024)
    gpu = precision_recall_from_features(a, b, device="cuda", row_batch_size=1024)
    assert gpu.precision == pytest.approx(cpu.precision, abs=2 / len(a))
    assert gpu.recall == pytest.approx(cpu.recall, abs=2 / len(b))
    k_cpu = kid_from_features(a.relu(), b.relu(), num_subsets=5, seed=0, device="cpu")
    k_gpu = kid_from_features(a.relu(), b.relu(), num_subsets=5, seed=0, device="cuda")
    assert k_gpu.mean == pytest.approx(k_cpu.mean, rel=1e-4)
