import numpy as np
import pytest
import torch

from disentangle_metrics._core import sampling as S


def test_samples_do_not_depend_on_batching():
    whole = S.randn(7, range(10), [4])
    parts = torch.cat([S.randn(7, range(0, 3), [4]), S.randn(7, range(3, 10), [4])])
    assert torch.equal(whole, parts)


def test_streams_seeds_and_indices_differ():
    a = S.randn(0, [0], [16])
    assert not torch.equal(a, S.randn(1, [0], [16]))
    assert not torch.equal(a, S.randn(0, [1], [16]))
    assert not torch.equal(a, S.randn(0, [0], [16], stream=S.Stream.Z_END))


def test_distribution_is_standard_normal_and_uniform():
    x = S.randn(0, range(2000), [8])
    assert abs(float(x.mean())) < 0.03 and abs(float(x.std()) - 1) < 0.03
    u = S.rand(0, range(5000))
    assert 0 <= float(u.min()) and float(u.max()) < 1 and abs(float(u.mean()) - 0.5) < 0.02


@pytest.mark.parametrize("world", [1, 2, 3])
def test_batch_ranges_partition_the_indices(world):
    got = []
    for r in range(world):
        got += [(b, list(idx)) for b, idx in S.batch_ranges(10, 4, r, world)]
    got.sort()
    assert [b for b, _ in got] == [0, 1, 2]
    assert sum((idx for _, idx in got), []) == list(range(10))


def test_batch_ranges_validates():
    with pytest.raises(ValueError):
        list(S.batch_ranges(10, 0))
    with pytest.raises(ValueError):
        list(S.batch_ranges(10, 2, rank=2, world_size=2))


def test_seeded_restores_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with S.seeded(0, 5):
        inside = torch.rand(3)
    assert torch.equal(torch.rand(3), expected)
    with S.seeded(0, 5):
        assert torch.equal(torch.rand(3), inside)


def test_sample_seeds_fit_torch():
    s = S.sample_seeds(2**40, np.arange(100), 3)
    assert s.dtype == np.uint64 and int(s.max()) < 2**63
