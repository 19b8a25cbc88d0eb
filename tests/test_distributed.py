import torch

from disentangle_metrics._core import distributed as D
from disentangle_metrics._core import sampling as S
from tests.dist_utils import run_distributed
from tests.suite_helpers import nvidia_standins  # noqa: F401


def _primitives():
    info = D.info()
    t = torch.tensor([float(info.rank + 1)], dtype=torch.float64)
    D.all_reduce_sum_(t)
    idx = torch.tensor(S.rank_indices(10, 3, info.rank, info.world_size))
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
    from disentangle_metrics.metrics.ppl import ppl
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


def _fid_run(ref_dir):
    import tests.fid_helpers as H  # registers the cheap 'test-pixel-stats' extractor
    from disentangle_metrics.features.cache import dataset_stats
    from disentangle_metrics.features.extract import generator_stats
    from disentangle_metrics.features import build_extractor
    ext = build_extractor("test-pixel-stats")
    me = D.info()
    gen = generator_stats(H.ToyGenerator(noise_scale=0.1), ext, 21, 4, seed=1, device="cpu",
                          rank=me.rank, world_size=me.world_size).all_reduce_()
    ref = dataset_stats(ref_dir, ext, batch_size=3, cache=False, progress=False, device="cpu")
    return gen.count, gen.mean(), gen.cov(), ref.count, ref.mean(), ref.cov()


def test_fid_statistics_two_processes_match_one(tmp_path):
    from PIL import Image
    import numpy as np
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    rng = np.random.default_rng(0)
    for i in range(11):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(ref_dir / f"{i:03d}.png")
    one = _fid_run(str(ref_dir))
    out = run_distributed(_fid_run, 2, str(ref_dir), tmp_dir=str(tmp_path))
    for r in out:
        assert r[0] == one[0] == 21 and r[3] == one[3] == 11
        # float64 sums reduced in a different order: equal to round-off, nothing more
        for a, b in ((r[1], one[1]), (r[2], one[2]), (r[4], one[4]), (r[5], one[5])):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def _ls_run():
    from disentangle_metrics.metrics.separability import separability
    from tests._ls_toys import make_classifier, make_generator
    r = separability(make_generator(), make_classifier(), num_samples=46, num_keep=23, batch_size=4,
                     device="cpu", seed=2, keep_samples=True)
    return r.values, r.samples


def test_separability_two_processes_match_one(tmp_path):
    (v1, s1), = run_distributed(_ls_run, 1, tmp_dir=str(tmp_path))
    out = run_distributed(_ls_run, 2, tmp_dir=str(tmp_path))
    for v, s in out:
        assert set(s) == set(s1) and {"latents_z", "latents_w", "logits"} <= set(s)
        for k in s1:                                  # identical SVM inputs, in global order
            assert (s[k] == s1[k]).all(), k
        assert v == v1                                # rank 0's SVM result reaches every rank


def _pr_run(weights, ref_dir):
    from disentangle_metrics.metrics import image as IM
    from disentangle_metrics._core.options import ScoreOptions
    from tests.fid_helpers import ToyGenerator
    opts = ScoreOptions(device="cpu", batch_size=6, num_samples=40, num_real=30, reference=ref_dir, weights=weights,
                        progress=False)
    r, = IM.compute(ToyGenerator(seed=1), [IM.TABLE["pr50k3_full"]], opts)
    return r.values, r.extras["real_features_cached"]


def test_cached_real_features_two_processes_match_one(tmp_path, monkeypatch, nvidia_standins):
    # rank 0 decides whether the cache holds the real features, so both ranks skip (or run) the pass together
    from PIL import Image
    import numpy as np
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    rng = np.random.default_rng(0)
    for i in range(30):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(ref_dir / f"{i:03d}.png")
    w = dict(nvidia_standins)
    one, cached = _pr_run(w, str(ref_dir))
    assert not cached
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other-cache"))   # the spawned ranks start uncached
    for expect_cached in (False, True):
        out = run_distributed(_pr_run, 2, w, str(ref_dir), tmp_dir=str(tmp_path))
        assert [c for _, c in out] == [expect_cached] * 2
        assert all(v == one for v, _ in out)
