import torch

from disentangle_metrics import distributed as D
from disentangle_metrics import sampling as S
from tests.dist_utils import run_distributed


def _primitives():
    info = D.info()
    t = torch.tensor([float(info.rank + 1)], dtype=torch.float64)
    D.all_reduce_sum_(t)
    idx = torch.tensor([i for _, r in S.batch_ranges(10, 3, info.rank, info.world_size) for i in r])
    vals = S.randn(0, idx.tolist(), [2])
    full = D.gather_by_index(vals, idx, 10)
    return info.rank, info.world_size, float(t), full, D.broadcast_object({"r": info.rank})


def test_primitives_single_process():
    rank, world, total, full, obj = _primitives()
    assert (rank, world, total) == (0, 1, 1.0)
    assert torch.equal(full, S.randn(0, range(10), [2]))


def test_primitives_two_gloo_processes(tmp_path):
    out = run_distributed(_primitives, 2, tmp_dir=str(tmp_path))
    assert [o[0] for o in out] == [0, 1] and all(o[1] == 2 for o in out)
    assert all(o[2] == 3.0 for o in out)                        # 1 + 2
    expected = S.randn(0, range(10), [2])
    assert all(torch.equal(o[3], expected) for o in out)       # global order on every rank
    assert all(o[4] == {"r": 0} for o in out)


def test_gather_detects_missing_indices():
    import pytest
    with pytest.raises(RuntimeError, match="exactly once"):
        D.gather_by_index(torch.zeros(2), torch.tensor([0, 0]), 2)
