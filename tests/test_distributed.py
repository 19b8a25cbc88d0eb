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


def _l2(a, b):
    return (a - b).flatten(1).pow(2).mean(1)


def _ppl_run(space, sampling):
    from disentangle_metrics.ppl import ppl
    from tests.toy_generators_ppl import make_conv
    r = ppl(make_conv(), space=space, sampling=sampling, num_samples=22, batch_size=4, distance=_l2,
            device="cpu", seed=3)
    return r.value, r.samples["distances"], r.samples["t"]


def test_ppl_two_processes_match_one(tmp_path):
    # The 1-process reference also runs under torch.distributed in a worker with the same thread
    # count: PPL divides by eps^2 = 1e-8, so even a different float32 summation order would show.
    for space, samp in (("w", "full"), ("z", "end")):
        (v1, d1, t1), = run_distributed(_ppl_run, 1, space, samp, tmp_dir=str(tmp_path))
        out = run_distributed(_ppl_run, 2, space, samp, tmp_dir=str(tmp_path))
        for v, d, t in out:              # every rank returns the full, identical result
            assert v == v1
            assert (d == d1).all() and (t == t1).all()
