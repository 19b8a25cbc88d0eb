"""Linear separability: the paper's semantics, checked against a scikit-learn reference."""

import json
import math

import numpy as np
import pytest
import torch
from sklearn.svm import LinearSVC

from disentangle_metrics.metrics.attribute_classifier import as_attribute_classifier, box_downsample
from disentangle_metrics._core.options import ScoreOptions
from disentangle_metrics.metrics.registry import get_metric
from disentangle_metrics.metrics.separability import (
    conditional_entropy_bits, keep_most_confident, sample_latents_and_logits, separability,
    separability_from_samples, targets_from_logits,
)

from tests._ls_toys import PixelClassifier, ToyGenerator




def _mapping(z, seed=0):
    """A fixed nonlinear 'mapping network' so w is not just a rotation of z."""
    g = np.random.default_rng(seed)
    h = z
    for _ in range(2):
        h = h @ g.standard_normal((h.shape[1], h.shape[1])) / np.sqrt(h.shape[1])
        h = np.where(h > 0, h, 0.2 * h)
    return h


# --------------------------------------------------------------------------------------------
# A reference built literally on the paper's procedure with scikit-learn


def _paper_reference_entropies(latent, logits, num_keep):
    def softmax2(l):
        e = np.exp(np.stack([l, -l], 1) - np.abs(l)[:, None])
        return e / e.sum(1, keepdims=True)

    out = []
    for a in range(logits.shape[1]):
        probs = softmax2(logits[:, a].astype(np.float64))
        kept = sorted(range(len(probs)), key=lambda i: -np.max(probs[i]))[:num_keep]
        targets = np.argmax(probs[kept], axis=1)
        svm = LinearSVC().fit(latent[kept], targets)
        outputs = svm.predict(latent[kept])
        p = np.array([[np.mean((outputs == r) & (targets == c)) for c in (0, 1)] for r in (0, 1)])
        py = p.sum(0)
        px = p.sum(1)
        h_y = -sum(v * np.log2(v) for v in py if v > 0)
        mi = sum(p[r, c] * np.log2(p[r, c] / (px[r] * py[c])) for r in (0, 1) for c in (0, 1) if p[r, c] > 0)
        out.append(max(0.0, h_y - mi))
    return np.array(out)


def test_entropies_match_sklearn_reference_on_a_mixed_problem():
    rng = np.random.default_rng(0)
    n, d = 3000, 16
    z = rng.standard_normal((n, d)).astype(np.float32)
    w = _mapping(z).astype(np.float32)
    logits = np.stack([
        4 * (w[:, 0] - np.median(w[:, 0])),                   # linear in w: separable in W
        2 * z[:, 1] * z[:, 2],                                # XOR-like: not linear anywhere
        w[:, 3] - w[:, 4] + 0.8 * rng.standard_normal(n),     # linear plus label noise
        rng.standard_normal(n),                               # independent of the latents
        3 * np.tanh(z[:, 5]) + z[:, 6] ** 2 - 1,              # curved
    ], 1).astype(np.float32)
    res = separability_from_samples({"z": z, "w": w}, logits, num_keep=n // 2, device="cpu")
    spread = []
    for space, x in (("z", z), ("w", w)):
        ref = _paper_reference_entropies(x, logits, n // 2)
        np.testing.assert_allclose(res.entropies[space], ref, atol=0.01)
        spread.append(ref)
        assert res.scores[space] == pytest.approx(2 ** res.entropies[space].sum())
        assert all(s == "converged" for s in res.status[space])
    assert np.ptp(np.concatenate(spread)) > 0.5     # the problem really is mixed
    sk = separability_from_samples({"z": z, "w": w}, logits, num_keep=n // 2, backend="sklearn", device="cpu")
    for space in ("z", "w"):
        np.testing.assert_allclose(res.entropies[space], sk.entropies[space], atol=0.01)


def test_exactly_linear_labels_score_one():
    rng = np.random.default_rng(1)
    n, d, a = 4000, 12, 6
    z = rng.standard_normal((n, d)).astype(np.float32)
    w = _mapping(z).astype(np.float32)
    logits = (w @ rng.standard_normal((d, a)) + 0.3).astype(np.float32)
    res = separability_from_samples({"w": w}, logits, device="cpu")
    assert res.scores["w"] == pytest.approx(1.0, rel=0.01)
    assert res.scores["w"] >= 1.0
    assert (res.accuracy["w"] > 0.995).all()


def test_independent_labels_score_about_two_to_the_a():
    rng = np.random.default_rng(2)
    n, d, a = 6000, 8, 5
    z = rng.standard_normal((n, d)).astype(np.float32)
    logits = rng.standard_normal((n, a)).astype(np.float32)
    res = separability_from_samples({"z": z}, logits, device="cpu")
    assert 0.9 * 2 ** a < res.scores["z"] <= 2 ** a + 1e-9
    assert (res.entropies["z"] > 0.97).all()


def test_pruning_keeps_exactly_the_most_confident_half():
    rng = np.random.default_rng(3)
    logits = torch.as_tensor(rng.standard_normal((1001, 4)) * 3)
    logits[10, 0], logits[20, 0] = 0.5, -0.5          # equal confidence: order by index
    mask = keep_most_confident(logits, 500)
    assert mask.shape == logits.shape and (mask.sum(0) == 500).all()
    for a in range(4):
        conf = 1 / (1 + torch.exp(-2 * logits[:, a].abs()))   # max softmax([l, -l])
        kept, dropped = conf[mask[:, a]], conf[~mask[:, a]]
        assert kept.min() >= dropped.max()
        paper = sorted(range(1001), key=lambda i: -float(conf[i]))[:500]
        assert set(paper) == set(torch.nonzero(mask[:, a]).flatten().tolist())
    tie = torch.tensor([[1.0], [-2.0], [2.0], [0.1]])
    assert keep_most_confident(tie, 1)[:, 0].tolist() == [False, True, False, False]
    with pytest.raises(ValueError, match="num_keep"):
        keep_most_confident(tie, 5)


def test_targets_are_the_argmax_of_the_two_way_softmax():
    l = torch.tensor([[2.0], [-0.1], [0.0]])
    assert targets_from_logits(l)[:, 0].tolist() == [0, 1, 0]


def test_conditional_entropy_known_tables():
    t = torch.tensor([0, 0, 1, 1] * 25)[:, None]
    ones = torch.ones_like(t, dtype=torch.bool)
    assert conditional_entropy_bits(t, t, ones)[0] == 0.0
    assert conditional_entropy_bits(torch.zeros_like(t), t, ones)[0] == pytest.approx(1.0)
    # p = [[3/8, 1/8], [1/8, 3/8]]: H(Y|X) = H_b(1/4)
    pred = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])[:, None]
    targ = torch.tensor([0, 0, 0, 1, 1, 1, 1, 0])[:, None]
    hb = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))
    assert conditional_entropy_bits(pred, targ, torch.ones_like(pred, dtype=torch.bool))[0] == pytest.approx(hb)
    assert math.isnan(conditional_entropy_bits(-torch.ones_like(pred), targ, torch.ones_like(pred, dtype=torch.bool))[0])


def test_failed_fit_gives_nan_not_perfect(monkeypatch):
    rng = np.random.default_rng(4)
    z = rng.standard_normal((400, 4))
    logits = rng.standard_normal((400, 2))

    def boom(self, X, y):
        raise RuntimeError("no convergence possible")
    monkeypatch.setattr(LinearSVC, "fit", boom)
    with pytest.warns(RuntimeWarning, match="did not converge or failed"):
        res = separability_from_samples({"z": z}, logits, backend="sklearn", device="cpu")
    assert np.isnan(res.entropies["z"]).all() and math.isnan(res.scores["z"])
    assert res.status["z"] == ["failed", "failed"] and "no convergence possible" in res.messages["z"][0]


@pytest.mark.parametrize("latents, logits, match", [
    ({"z": np.zeros((10, 3))}, np.full((10, 2), np.nan), "NaN"),
    ({"z": np.zeros((9, 3))}, np.zeros((10, 2)), "same samples"),
    ({"z": np.zeros((10, 3))}, np.zeros(10), "2-D"),
    ({}, np.zeros((10, 2)), "empty"),
])
def test_bad_samples_get_clear_messages(latents, logits, match):
    with pytest.raises(ValueError, match=match):
        separability_from_samples(latents, logits, device="cpu")
    with pytest.raises(ValueError, match="attribute names"):
        separability_from_samples({"z": np.zeros((10, 3))}, np.zeros((10, 2)), attribute_names=["a"], device="cpu")


# --------------------------------------------------------------------------------------------
# The metric on a generator


def test_metric_end_to_end_reports_both_spaces():
    G = ToyGenerator(noise_strength=0.05)
    clf = PixelClassifier(3, names=["a", "b", "c"])
    res = separability(G, clf, num_samples=600, batch_size=100, device="cpu", keep_samples=True)
    assert res.metric == "ls" and set(res.values) == {"ls_z", "ls_w"}
    for s in ("z", "w"):
        h = np.asarray(res.extras["entropy_bits"][s])
        assert h.shape == (3,) and np.all((h >= 0) & (h <= 1))
        assert res.values[f"ls_{s}"] == pytest.approx(2 ** h.sum())
    # the classifier is linear in (noisy) pixels = nearly linear in w: W must be more separable
    assert res.values["ls_w"] < res.values["ls_z"]
    assert res.extras["attribute_names"] == ["a", "b", "c"] and res.extras["num_keep"] == 300
    assert res.samples["latents_z"].shape == (600, 8) and res.samples["logits"].shape == (600, 3)
    json.loads(res.to_json())
    again = separability(G, clf, num_samples=600, batch_size=100, device="cpu")
    assert again.values == res.values


def test_latents_do_not_depend_on_batch_size():
    G, clf = ToyGenerator(noise_strength=0.0), PixelClassifier(2)
    a = sample_latents_and_logits(G, clf, 90, batch_size=30, device="cpu")
    b = sample_latents_and_logits(G, clf, 90, batch_size=45, device="cpu")
    torch.testing.assert_close(a.latents["z"], b.latents["z"], rtol=0, atol=0)
    torch.testing.assert_close(a.logits, b.logits)
    assert a.attribute_names == ["attr00", "attr01"]


def test_rank_fills_only_its_global_batches():
    G, clf = ToyGenerator(), PixelClassifier(2)
    full = sample_latents_and_logits(G, clf, 60, batch_size=20, device="cpu")
    r1 = sample_latents_and_logits(G, clf, 60, batch_size=20, device="cpu", rank=1, world_size=2)
    torch.testing.assert_close(r1.latents["w"][20:40], full.latents["w"][20:40])
    assert (r1.latents["z"][:20] == 0).all()


def test_generator_without_mapping_scores_z_only():
    res = separability(ToyGenerator(has_mapping=False), PixelClassifier(2), num_samples=200, batch_size=100, device="cpu")
    assert set(res.values) == {"ls_z"} and res.value == res.values["ls_z"]


def test_list_of_single_attribute_classifiers_equals_one_network():
    full = PixelClassifier(3)

    class One(torch.nn.Module):
        def __init__(self, k):
            super().__init__()
            self.k = k

        def forward(self, x):
            return full(x)[:, self.k]
    G = ToyGenerator(noise_strength=0.05)
    a = separability(G, full, num_samples=300, batch_size=100, device="cpu")
    b = separability(G, [One(0), One(1), One(2)], num_samples=300, batch_size=100, device="cpu")
    assert a.values == b.values


def test_classifier_output_checked():
    with pytest.raises(ValueError, match="logits of shape"):
        as_attribute_classifier(lambda x: x)(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="classifier"):
        separability(ToyGenerator(), None, num_samples=10)
    with pytest.raises(TypeError, match="callable"):
        as_attribute_classifier(42)


def test_box_downsample():
    x = torch.randn(2, 3, 512, 512)
    torch.testing.assert_close(box_downsample(x), torch.nn.functional.avg_pool2d(x, 2))
    small = torch.randn(1, 3, 64, 64)
    assert box_downsample(small) is small
    with pytest.raises(ValueError, match="multiple of 256"):
        box_downsample(torch.randn(1, 3, 300, 300))


def test_registered_metric_uses_options():
    opts = ScoreOptions(device="cpu", seed=3, num_samples=200, batch_size=50, classifier=PixelClassifier(2), progress=False)
    res = get_metric("ls")(ToyGenerator(), opts)
    assert res.config["num_keep"] == 100 and res.seed == 3 and set(res.values) == {"ls_z", "ls_w"}


def test_registered_metric_takes_the_resample_count():
    base = dict(device="cpu", seed=3, num_samples=200, batch_size=50, classifier=PixelClassifier(2), progress=False)
    res = get_metric("ls")(ToyGenerator(), ScoreOptions(**base, resamples=5))
    assert "(5 resamples)" in res.intervals["ls_w"]["method"] and "(5 resamples)" in res.intervals["ls_z"]["method"]
    assert get_metric("ls")(ToyGenerator(), ScoreOptions(**base, resamples=0)).intervals == {}


def test_cli_writes_per_attribute_entropies(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cli.main import main
    out = tmp_path / "r.jsonl"
    r = CliRunner().invoke(main, ["score", "tests._ls_toys:make_generator", "--metrics", "ls", "--classifier",
                                  "tests._ls_toys:make_classifier", "--num-samples", "200", "--batch-size", "50",
                                  "--device", "cpu", "--no-progress", "--out", str(out), "--resamples", "4"])
    assert r.exit_code == 0, r.output
    line = json.loads(out.read_text().splitlines()[-1])
    assert "(4 resamples)" in line["intervals"]["ls_w"]["method"]
    assert line["metric"] == "ls" and set(line["values"]) == {"ls_z", "ls_w"}
    assert line["extras"]["attribute_names"] == ["smiling", "male", "young"]
    assert len(line["extras"]["entropy_bits"]["w"]) == 3
    assert "ls_w" in r.output


def test_cli_ls_backend_and_samples_dir(tmp_path):
    """--ls-backend reaches the solver; --samples-dir keeps the latents and logits of ls."""
    from click.testing import CliRunner

    from cli.main import main
    out, samples = tmp_path / "r.jsonl", tmp_path / "samples"
    r = CliRunner().invoke(main, ["score", "tests._ls_toys:make_generator", "--metrics", "ls", "--classifier",
                                  "tests._ls_toys:make_classifier", "--num-samples", "200", "--batch-size", "50",
                                  "--device", "cpu", "--no-progress", "--out", str(out), "--ls-backend", "sklearn",
                                  "--samples-dir", str(samples)])
    assert r.exit_code == 0, r.output
    line = json.loads(out.read_text().splitlines()[-1])
    assert line["config"]["backend"] == "sklearn"
    arrays = np.load(line["samples_file"])
    assert len(arrays.files) > 0 and all(arrays[k].shape[0] == 200 for k in arrays.files)


@pytest.mark.slow
def test_larger_problem_matches_sklearn_backend():
    """The benchmark's synthetic latents at 20k x 128 x 6 attributes: both backends agree to 0.01 bits."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_separability import synthetic_samples
    latents, logits = synthetic_samples(20_000, 128, 6)
    ours = separability_from_samples(latents, logits, device="cpu")
    ref = separability_from_samples(latents, logits, backend="sklearn", device="cpu")
    for s in ("z", "w"):
        np.testing.assert_allclose(ours.entropies[s], ref.entropies[s], atol=0.01)
        assert ours.scores[s] == pytest.approx(ref.scores[s], rel=0.01)
