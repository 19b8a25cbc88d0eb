"""The Accumulator (metrics/accumulate.py): the same results as dm.score on the same images, whatever
the update sizes, merged halves, a state_dict round trip, and 2 gloo processes."""

import io

import numpy as np
import pytest
import torch

import disentangle_metrics as dm
from disentangle_metrics.generators.sources import GeneratorSource
from disentangle_metrics.metrics.accumulate import Accumulator
from tests.dist_utils import run_distributed
from tests.fid_helpers import ToyGenerator
from tests.suite_helpers import nvidia_standins  # noqa: F401
from tests.test_image_metrics import _export

N = 120
NAMES = ["fid50k_full", "kid50k_full", "pr50k3_full", "is50k"]


@pytest.fixture(scope="module")
def real_folder(tmp_path_factory):
    return _export(ToyGenerator(seed=7, shift=0.3), tmp_path_factory.mktemp("real") / "img", N, seed=3)


def _images(n=N, seed=0, gen_seed=1):
    src = GeneratorSource(ToyGenerator(seed=gen_seed), device="cpu")
    return torch.cat([b.images for b in src.batches(n, 8, seed=seed)])


def _kw(weights):
    # FID/KID on the 96-d test extractor; PR and IS on NVIDIA's file interface (stand-ins)
    return dict(extractor="test-pixel-stats", weights=dict(weights), device="cpu")


def _acc(weights, reference, **kw):
    import tests.fid_helpers  # noqa: F401  (registers test-pixel-stats)
    return Accumulator(NAMES, reference=None if reference is None else str(reference), batch_size=8,
                       **_kw(weights), **kw)


def _feed(acc, x, sizes, real=False):
    i, k = 0, 0
    while i < x.shape[0]:
        n = sizes[k % len(sizes)]
        acc.update(x[i:i + n], real=real)
        i, k = i + n, k + 1


def _by_name(results):
    return {r.metric: r for r in results}


def _same(a, b, fid_rtol=0.0, is_rtol=0.0):
    """Equal names, values and intervals; FID's to ``fid_rtol`` (float64 summation order), IS's to
    ``is_rtol`` (the stand-in Inception's logits are a float32 matmul whose rounding depends on the
    batch it is given, so other update sizes change the logits, not the accumulation)."""
    a, b = _by_name(a), _by_name(b)
    assert sorted(a) == sorted(b)
    for name in a:
        ra, rb = a[name], b[name]
        tol = fid_rtol if name.startswith("fid") else is_rtol if name.startswith("is") else 0.0
        assert ra.values.keys() == rb.values.keys()
        for k in ra.values:
            assert ra.values[k] == pytest.approx(rb.values[k], rel=tol, abs=0), (name, k)
        assert ra.intervals.keys() == rb.intervals.keys()
        for k in ra.intervals:
            for f in ("value", "stderr", "low", "high"):
                assert ra.intervals[k][f] == pytest.approx(rb.intervals[k][f], rel=tol * 1e3, abs=0), (name, k, f)
            assert ra.intervals[k]["method"] == rb.intervals[k]["method"]


def test_equals_score_on_the_same_images(nvidia_standins, real_folder):
    x = _images()
    ref = dm.score(x, NAMES, reference=str(real_folder), num_samples=N, batch_size=8, **_kw(nvidia_standins))
    acc = _acc(nvidia_standins, real_folder)
    _feed(acc, x, [8])                       # score's batches: bit for bit
    got = acc.compute()
    assert [r.metric for r in got] == [r.metric for r in ref] == \
        ["fid120_full@test-pixel-stats", "kid120_full@test-pixel-stats", "pr1203_full", "is120"]
    _same(got, ref)
    fid = got[0]
    assert fid.ci95 == ref[0].ci95 and "jackknife" in fid.ci_method
    assert fid.config["num_real"] == ref[0].config["num_real"] == N
    assert fid.config["reference"] == ref[0].config["reference"]
    assert fid.weights == ref[0].weights and fid.config["generated"]["num_fed"] == N
    kid = _by_name(got)["kid120_full@test-pixel-stats"]
    assert kid.config["subset_seed"] == 0 and kid.config["num_real"] == N


def test_update_sizes_and_real_interleaving_do_not_change_results(nvidia_standins, real_folder):
    x, r = _images(), _images(gen_seed=7, seed=3)
    a = _acc(nvidia_standins, None)
    _feed(a, x, [8])
    _feed(a, r, [8], real=True)
    for cap in (None, N):      # without a cap rows go in chunks; with one, in one buffer read in place
        b = _acc(nvidia_standins, None, max_features=cap)
        for i, n in enumerate([5, 13, 1, 30, 2, 40, 29]):      # ragged, reals fed in between
            lo = sum([5, 13, 1, 30, 2, 40, 29][:i])
            b.update(x[lo:lo + n])
            b.update(r[lo:lo + n], real=True)
        _same(b.compute(), a.compute(), fid_rtol=1e-12, is_rtol=1e-6)
    res = _by_name(a.compute())
    assert "update(real=True) (120 at 16x16)" in res["fid120_full@test-pixel-stats"].config["reference"]


def test_fed_reals_equal_the_reference_folder(nvidia_standins, real_folder):
    from disentangle_metrics.data.images import open_source
    src = open_source(real_folder)
    reals = torch.from_numpy(np.stack([src.read(i) for i in range(len(src))])).permute(0, 3, 1, 2)
    x = _images()
    a = _acc(nvidia_standins, real_folder)
    b = _acc(nvidia_standins, None)
    _feed(a, x, [8])
    _feed(b, x, [8])
    _feed(b, reals, [8], real=True)
    va = {k: v for r in a.compute() for k, v in r.values.items()}
    vb = {k: v for r in b.compute() for k, v in r.values.items()}
    assert va.keys() == vb.keys()
    for k in va:
        assert vb[k] == pytest.approx(va[k], rel=1e-9), k


def test_merge_of_halves_and_state_dict_round_trip_equal_the_whole(nvidia_standins, real_folder):
    x = _images()
    whole = _acc(nvidia_standins, real_folder)
    _feed(whole, x, [8])
    want = whole.compute()
    first, second = _acc(nvidia_standins, real_folder), _acc(nvidia_standins, real_folder)
    _feed(first, x[:64], [8])                # 64: a multiple of batch_size, so the FID groups line up too
    _feed(second, x[64:], [8])
    _same(first.merge(second).compute(), want, fid_rtol=1e-12)
    # a resumed run: save half way, load into a fresh accumulator, feed the rest
    half = _acc(nvidia_standins, real_folder)
    _feed(half, x[:56], [8])
    state = half.state_dict()
    half.update(x[56:64])                    # the saved state is a copy: later updates leave it alone
    buf = io.BytesIO()
    torch.save(state, buf)
    resumed = _acc(nvidia_standins, real_folder)
    resumed.load_state_dict(torch.load(io.BytesIO(buf.getvalue()), weights_only=True))
    _feed(resumed, x[56:], [8])
    _same(resumed.compute(), want)
    other = Accumulator(["fid50k_full"], reference=str(real_folder), **_kw(nvidia_standins))
    with pytest.raises(ValueError, match="state_dict metrics"):
        other.load_state_dict(half.state_dict())


def test_reset_keeps_the_real_side_and_names_carry_the_count_fed(nvidia_standins, real_folder):
    x = _images()
    acc = _acc(nvidia_standins, None)
    _feed(acc, _images(gen_seed=7, seed=3), [8], real=True)
    _feed(acc, x, [8])
    first = acc.compute()
    acc.reset()
    _feed(acc, x[:100], [10])
    assert [r.metric for r in acc.compute()][:2] == ["fid100_full@test-pixel-stats", "kid100_full@test-pixel-stats"]
    acc.reset()
    _feed(acc, x, [8])
    _same(acc.compute(), first)


def test_float_images_are_quantised_as_generator_output(nvidia_standins, real_folder):
    g = torch.Generator().manual_seed(0)
    xf = torch.rand(N, 3, 16, 16, generator=g) * 2 - 1
    u8 = ((xf * 127.5 + 128).clamp(0, 255)).to(torch.uint8)     # (x + 1) / 2 * 255 + 0.5
    a, b = _acc(nvidia_standins, real_folder), _acc(nvidia_standins, real_folder, image_range=(-1, 1))
    _feed(a, u8, [8])
    _feed(b, xf, [8])
    _same(b.compute(), a.compute())
    with pytest.raises(ValueError, match="image_range"):
        _acc(nvidia_standins, real_folder).update(xf[:4])


def test_refusals_are_one_line_errors(nvidia_standins, real_folder):
    with pytest.raises(ValueError, match="not an image metric"):
        Accumulator(["ppl_wend"], device="cpu")
    acc = _acc(nvidia_standins, real_folder, max_features=20)
    acc.update(_images(16))
    with pytest.raises(ValueError, match="max_features=20 reached"):
        acc.update(_images(16))
    with pytest.raises(ValueError, match="comes from reference"):
        acc.update(_images(8), real=True)
    with pytest.raises(ValueError, match="need real images"):
        fresh = _acc(nvidia_standins, None)
        fresh.update(_images(100))
        fresh.compute()


def _dist_run(weights, reference, x):
    import tests.fid_helpers  # noqa: F401
    from disentangle_metrics._core import distributed as D
    me = D.info()
    acc = Accumulator(NAMES, reference=reference, batch_size=8, extractor="test-pixel-stats", weights=dict(weights),
                      device="cpu")
    mine = x[me.rank::me.world_size]          # sample c of rank r is global sample c W + r
    for i in range(0, mine.shape[0], 7):
        acc.update(mine[i:i + 7])
    return [(r.metric, r.values, r.intervals) for r in acc.compute()]


def test_two_gloo_processes_equal_one(nvidia_standins, real_folder, tmp_path):
    x = _images()
    one, = run_distributed(_dist_run, 1, dict(nvidia_standins), str(real_folder), x, tmp_dir=str(tmp_path))
    out = run_distributed(_dist_run, 2, dict(nvidia_standins), str(real_folder), x, tmp_dir=str(tmp_path))
    for got in out:                           # every rank holds the full result
        assert [m for m, _, _ in got] == [m for m, _, _ in one]
        for (m, v, iv), (_, v1, iv1) in zip(got, one):
            tol = 1e-12 if m.startswith("fid") else 1e-6 if m.startswith("is") else 0.0   # IS: see _same
            for k in v1:
                assert v[k] == pytest.approx(v1[k], rel=tol, abs=0), (m, k)
            for k in iv1:
                assert iv[k]["stderr"] == pytest.approx(iv1[k]["stderr"], rel=tol * 1e3, abs=0), (m, k)


def test_equals_dm_fid_and_dm_kid_on_the_testbed():
    from disentangle_metrics.data.testbed import render
    from disentangle_metrics.data.testbed_config import TestbedConfig
    x = render(TestbedConfig(seed=5).replace(resolution=32), list(range(N)), device="cpu")
    kw = dict(num_samples=N, num_real=200, extractor="testbed", device="cpu", batch_size=8)
    fid, kid = dm.fid(x, "testbed", **kw), dm.kid(x, "testbed", **kw)
    acc = Accumulator(["fid50k", "kid50k_full"], reference="testbed", extractor="testbed", device="cpu",
                      num_real=200, batch_size=8)
    _feed(acc, x, [8])
    _same(acc.compute(), [fid, kid])
    assert fid.metric == "fid120@testbed" and kid.metric == "kid120_full@testbed"


def test_a_stats_file_reference_serves_fid_as_in_score(nvidia_standins, real_folder, tmp_path):
    import tests.fid_helpers  # noqa: F401
    from disentangle_metrics.features.cache import dataset_stats
    st = dataset_stats(real_folder, "test-pixel-stats", resolution=16, device="cpu", progress=False)
    st.save(tmp_path / "ref.npz", extractor="test-pixel-stats", mirror=False, image_resolution=16)
    x = _images()
    by_file = Accumulator(["fid50k_full"], reference=str(tmp_path / "ref.npz"), **_kw(nvidia_standins))
    by_folder = Accumulator(["fid50k_full"], reference=str(real_folder), **_kw(nvidia_standins))
    for acc in (by_file, by_folder):
        _feed(acc, x, [8])
    a, b = by_file.compute()[0], by_folder.compute()[0]
    assert a.value == pytest.approx(b.value, rel=1e-12) and a.config["reference"].startswith("stats file")
    with pytest.raises(ValueError, match="needs? real images, not a statistics file"):
        Accumulator(["kid50k_full"], reference=str(tmp_path / "ref.npz"), **_kw(nvidia_standins))
