"""Issue 25's rows (fd_dinov2, cmmd, prdc) on the shared pass: the statistic of each row equals the pure
function on the same features, every row joins one pass, names say the variant, and the numbers do
not depend on the number of processes. The rows are run here with a small test extractor in place of
DINOv2 / CLIP (whose own parity tests are tests/test_dinov2.py and tests/test_clip.py): what is tested
is the pipeline, not the network."""

import dataclasses
import json
import warnings

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import disentangle_metrics as dm
from disentangle_metrics.metrics import image as IM
from tests.dist_utils import run_distributed
from tests.fid_helpers import ToyGenerator, smooth_images  # noqa: F401  (registers test-pixel-stats)

EXT = "test-pixel-stats"


def _rows():
    return [dataclasses.replace(IM.TABLE[n], extractor=EXT)
            for n in ("fd_dinov2_50k_full", "cmmd50k_full", "prdc50k5_full")]


def _reference(folder, n=30, seed=7):
    folder.mkdir(parents=True, exist_ok=True)
    imgs = smooth_images(n, 16, seed=seed)
    for i, img in enumerate(imgs):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i:03d}.png")
    return str(folder), imgs


def _features(imgs):
    return dm.build_extractor(EXT, device="cpu")(imgs).double()


def test_each_row_equals_its_pure_function_on_the_same_features(tmp_path):
    ref, real_imgs = _reference(tmp_path / "ref")
    gen_imgs = smooth_images(25, 16, seed=1)
    opts = dm.ScoreOptions(device="cpu", num_samples=25, reference=ref, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # 25 samples in 96-d: rank deficient, noted
        fd, cmmd, prdc = IM.compute(gen_imgs, _rows(), opts)
    g, r = _features(gen_imgs).float(), _features(real_imgs).float()
    assert fd.metric == "fd_dinov2_25_full" and fd.value == pytest.approx(
        dm.frechet_distance(g.double().mean(0), torch.cov(g.double().T), r.double().mean(0),
                            torch.cov(r.double().T)), rel=1e-6)   # sums vs torch.cov: round-off
    c = dm.cmmd_from_embeddings(g, r, sigma=10.0, scale=1000.0, device="cpu")
    assert cmmd.metric == "cmmd25_full" and cmmd.value == c.value and cmmd.ci95 == [c.interval.low, c.interval.high]
    q = dm.prdc_from_features(r, g, nearest_k=5, device="cpu")
    assert prdc.metric == "prdc255_full"
    assert prdc.values == {"prdc255_full_precision": q.precision, "prdc255_full_recall": q.recall,
                           "prdc255_full_density": q.density, "prdc255_full_coverage": q.coverage}
    assert {"fd_dinov2_50k_full", "cmmd50k_full", "prdc50k5_full"} <= set(fd.extras["shared_with"])


def test_fd_infinity_rides_on_the_shared_pass(tmp_path):
    ref, _ = _reference(tmp_path / "ref", n=40)
    row = IM.with_params(_rows()[0], fid_infinity=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = IM.compute(ToyGenerator(), [row], dm.ScoreOptions(device="cpu", num_samples=60, reference=ref,
                                                                progress=False))[0]
    inf = res.extras["fid_infinity"]
    assert set(inf) >= {"fid", "slope"} and inf["fid"] == inf["fid"]      # a number, not NaN


def test_names_say_the_variant_and_resolve_back():
    assert dm.metrics.registry.resolve_name("fd_dinov2_10k_full") == ("fd_dinov2_50k_full", {"num_samples": 10_000})
    assert dm.metrics.registry.resolve_name("fd_dinov2_50k_full@dinov2-vitl14-pil")[0] == \
        "fd_dinov2_50k_full@dinov2-vitl14-pil"
    assert dm.metrics.registry.resolve_name("prdc10k5_full") == ("prdc50k5_full", {"num_samples": 10_000})
    assert dm.metrics.registry.resolve_name("cmmd30k_full") == ("cmmd50k_full", {"num_samples": 30_000})
    pil = IM.TABLE["fd_dinov2_50k_full@dinov2-vitl14-pil"]
    assert IM.result_name(pil, 2000, pil.extractor, []) == "fd_dinov2_2k_full@dinov2-vitl14-pil"
    assert IM.result_name(IM.TABLE["fd_dinov2_50k_full"], 2000, "dinov2-vitl14", []) == "fd_dinov2_2k_full"


def test_the_extractor_option_swaps_inception_only():
    opts = dm.ScoreOptions(extractor="testbed")
    assert IM._swappable(IM.TABLE["fid50k_full"]) and not IM._swappable(IM.TABLE["fd_dinov2_50k_full"])
    assert not IM._swappable(IM.TABLE["cmmd50k_full"]) and opts.extractor == "testbed"


def test_a_missing_network_file_names_it_and_the_rest_of_the_group_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("DMETRICS_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    ref, _ = _reference(tmp_path / "ref")
    got = dict(dm.metrics.scoring.score_iter(ToyGenerator(), ["fid50k_full", "cmmd50k_full"], dm.ScoreOptions(
        device="cpu", num_samples=30, reference=ref, extractor=EXT, progress=False)))
    assert isinstance(got["fid50k_full"], dm.MetricResult)
    assert "ViT-L-14-336px.pt" in str(got["cmmd50k_full"]) and "openaipublic" in str(got["cmmd50k_full"])


def _rows_run(ref):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = IM.compute(ToyGenerator(seed=3), _rows()[:2], dm.ScoreOptions(device="cpu", num_samples=21,
                                                                            batch_size=4, reference=ref,
                                                                            progress=False))
    return [(r.metric, r.value, r.ci95) for r in out]


def test_fd_and_cmmd_do_not_depend_on_the_number_of_processes(tmp_path):
    ref, _ = _reference(tmp_path / "ref", n=13)
    one = _rows_run(ref)
    for two in run_distributed(_rows_run, 2, ref, tmp_dir=str(tmp_path)):
        assert [m for m, _, _ in two] == [m for m, _, _ in one]
        for (_, a, ia), (_, b, ib) in zip(two, one):    # float64 sums reduced in another order: round-off only
            assert a == pytest.approx(b, rel=1e-8) and ia == pytest.approx(ib, rel=1e-8)


def test_dmetrics_metrics_lists_the_new_rows_with_their_anchors():
    from cli.main import main
    r = CliRunner().invoke(main, ["metrics"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    for name, anchor in (("fd_dinov2_50k_full", "nvlabs/edm2"), ("fd_dinov2_50k_full@dinov2-vitl14-pil", "dgm-eval"),
                         ("cmmd50k_full", "google-research cmmd"), ("prdc50k5_full", "generative-evaluation-prdc")):
        i = lines.index(name)
        shown = next(x for x in lines[i + 1:i + 5] if x.strip().startswith("anchor:"))
        assert anchor in shown.lower(), (name, shown)


def test_the_converted_edm2_reference_is_taken_by_reference(tmp_path):
    """The stats files of `dmetrics convert-edm2-ref` name their extractor, so the FD row accepts the DINOv2 one
    and refuses the Inception one (a Frechet distance across feature spaces means nothing)."""
    import numpy as np
    from disentangle_metrics.functional.stats import FeatureStats
    st = FeatureStats.from_mean_cov(np.zeros(96), np.eye(96), 1000)
    st.save(tmp_path / "inc.npz", extractor="inception-v3-tf", weights_sha256="x")
    row = _rows()[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = IM.compute_outcomes(ToyGenerator(), [row], dm.ScoreOptions(device="cpu", num_samples=20,
                                                                         reference=str(tmp_path / "inc.npz"),
                                                                         progress=False))
    assert isinstance(out[0], ValueError) and "extractor" in str(out[0])
    json.dumps(str(out[0]))


def test_prdc_intervals_come_from_disjoint_parts_recomputed(tmp_path):
    """As pr50k3's: each value recomputed on 10 disjoint parts of both sides (rows i::10), SE = std / sqrt(10)."""
    import numpy as np
    from disentangle_metrics.functional import intervals
    ref, real_imgs = _reference(tmp_path / "ref", n=80)
    gen_imgs = smooth_images(70, 16, seed=2)
    row = _rows()[2]
    res = IM.compute(gen_imgs, [row], dm.ScoreOptions(device="cpu", num_samples=70, reference=ref, progress=False))[0]
    g, r = _features(gen_imgs).float(), _features(real_imgs).float()
    parts = [dm.prdc_from_features(r[rr], g[gg], nearest_k=5, device="cpu") for gg, rr in intervals.pr_parts(70, 80)]
    for key in ("precision", "recall", "density", "coverage"):
        iv = res.intervals[f"prdc705_full_{key}"]
        se = np.std([getattr(p, key) for p in parts], ddof=1) / np.sqrt(10)
        assert iv["stderr"] == pytest.approx(se, rel=1e-12), key
    few = IM.compute(gen_imgs[:40], [row], dm.ScoreOptions(device="cpu", num_samples=40, reference=ref,
                                                           progress=False))[0]
    assert not few.intervals and "need more than k = 5" in few.extras["interval"]
