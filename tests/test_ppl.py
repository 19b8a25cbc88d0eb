"""Perceptual path length: analytic cases, sampling semantics, crop geometry, outlier rule, numerics, CLI."""

from __future__ import annotations

import copy
import json

import lpips
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from disentangle_metrics.metrics import distances as D
from disentangle_metrics._core import sampling
from disentangle_metrics.metrics.ppl import crop_and_downsample, filter_outliers, ppl
from disentangle_metrics.generators.protocol import NoMappingError
from disentangle_metrics._core.options import ScoreOptions
from disentangle_metrics.metrics.registry import get_metric, list_metrics
from disentangle_metrics._core.weights import MissingWeightsError

from tests.toy_generators_ppl import ConvGenerator, LinearGenerator, NoMappingGenerator


def sql2(img0: torch.Tensor, img1: torch.Tensor) -> torch.Tensor:
    """Squared L2 distance per pair."""
    return (img0 - img1).square().flatten(1).sum(1)


@pytest.fixture
def sql2_registered(monkeypatch):
    def build(device, dtype, weight_paths, allow_hash_mismatch):
        return D.Distance(name="test-sql2", fn=sql2)
    monkeypatch.setitem(D.DISTANCES, "test-sql2", D.DistanceSpec("test-sql2", build, "squared L2 (tests)"))
    return "test-sql2"


def _latents(seed: int, n: int, z_dim: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(n)
    z0 = sampling.randn(seed, rows, [z_dim], sampling.Stream.Z).double().numpy()
    z1 = sampling.randn(seed, rows, [z_dim], sampling.Stream.Z_END).double().numpy()
    return z0, z1


def _crop_operator(G: LinearGenerator) -> np.ndarray:
    """K = crop o B o M as a matrix [pixels of the crop, z_dim] (the linear generator's image of z)."""
    R, C = G.img_resolution, G.img_channels
    c = R // 8
    B = G.B.detach().double().numpy().reshape(C, R, R, G.w_dim)[:, 3 * c:7 * c, 2 * c:6 * c].reshape(-1, G.w_dim)
    return B @ G.M.detach().double().numpy()


def _np_slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Independent slerp: rotate a/|a| towards b/|b| by the fraction t of the angle between them."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    theta = np.arccos(np.clip((a * b).sum(1), -1, 1))[:, None]
    return (np.sin((1 - t) * theta) * a + np.sin(t * theta) * b) / np.sin(theta)


# ------------------------------------------------------------------------------------------ analytic


def test_analytic_w_space_linear_generator():
    G = LinearGenerator(z_dim=8, w_dim=6, resolution=16, noise_strength=0.5)
    n, eps = 2000, 1e-4
    res = ppl(G, "w", "full", num_samples=n, epsilon=eps, distance=sql2, device="cpu", dtype=torch.float64, seed=3)
    K = _crop_operator(G)
    z0, z1 = _latents(3, n, G.z_dim)
    want = np.square((z1 - z0) @ K.T).sum(1)          # |K (z1 - z0)|^2, independent of t
    np.testing.assert_allclose(res.samples["distances"], want, rtol=1e-6)
    # Closed form of the expectation: E|K (z1 - z0)|^2 = 2 tr(K^T K); its sampling error from the
    # eigenvalues l of 2 K^T K: var = 2 sum(l^2) / n.
    lam = np.linalg.eigvalsh(2 * K.T @ K)
    expected, sd = lam.sum(), np.sqrt(2 * np.square(lam).sum() / n)
    assert abs(res.extras["mean_unfiltered"] - expected) < 5 * sd
    # The reported value is the 1/99-filtered mean of those distances.
    assert res.value == pytest.approx(filter_outliers(want).mean, rel=1e-6)
    assert res.metric == "ppl_wfull@custom-sql2"


def test_analytic_w_space_float32_close_to_exact():
    G = LinearGenerator()
    res = ppl(G, "w", "full", num_samples=256, distance=sql2, device="cpu", seed=1)
    z0, z1 = _latents(1, 256, G.z_dim)
    want = np.square((z1 - z0) @ _crop_operator(G).T).sum(1)
    np.testing.assert_allclose(res.samples["distances"], want, rtol=2e-2)


def test_analytic_z_space_linear_generator():
    G = LinearGenerator(z_dim=8, w_dim=6, resolution=16)
    n, eps = 500, 1e-4
    res = ppl(G, "z", "full", num_samples=n, epsilon=eps, distance=sql2, device="cpu", dtype=torch.float64, seed=5)
    t = res.samples["t"].astype(np.float64)[:, None]
    want_t = sampling.rand(5, np.arange(n), sampling.Stream.T).double().numpy()
    np.testing.assert_array_equal(t[:, 0], want_t)
    z0, z1 = _latents(5, n, G.z_dim)
    K = _crop_operator(G)
    step = _np_slerp(z0, z1, t + eps) - _np_slerp(z0, z1, t)
    want = np.square(step @ K.T).sum(1) / eps ** 2
    np.testing.assert_allclose(res.samples["distances"], want, rtol=1e-6)
    # In Z the path length depends on t (unlike W for a linear generator): full != end.
    end = ppl(G, "z", "end", num_samples=n, epsilon=eps, distance=sql2, device="cpu", dtype=torch.float64, seed=5)
    assert not np.allclose(end.samples["distances"], res.samples["distances"], rtol=1e-3)


# ------------------------------------------------------------------------------------------ sampling


class Recorder:
    """A protocol generator (not an nn.Module, so ppl does not copy it) recording every call."""

    def __init__(self, inner: torch.nn.Module) -> None:
        self.inner = inner.double()
        for k in ("z_dim", "w_dim", "num_ws", "img_resolution", "img_channels", "c_dim", "has_mapping"):
            setattr(self, k, getattr(inner, k))
        self.mapping_in, self.synthesis_in, self.noise_states, self.noise_modes = [], [], [], []

    def mapping(self, z, c=None, truncation_psi=1.0):
        assert truncation_psi == 1
        self.mapping_in.append(z.clone())
        return self.inner.mapping(z, c)

    def reseed_noise(self, generator):
        self.inner.reseed_noise(generator)
        self.noise_states.append(self.inner.noise_const.clone())

    def synthesis(self, ws, noise_mode="random"):
        self.synthesis_in.append(ws.clone())
        self.noise_modes.append(noise_mode)
        return self.inner.synthesis(ws, noise_mode=noise_mode)


def test_end_uses_t_zero_only():
    rec = Recorder(LinearGenerator(noise_strength=0.3))
    n, bs = 40, 16
    res = ppl(rec, "w", "end", num_samples=n, distance=sql2, device="cpu", dtype=torch.float64, batch_size=bs)
    assert np.all(res.samples["t"] == 0)
    for b, idx in sampling.batch_ranges(n, bs):
        z = rec.mapping_in[b]
        w0 = rec.inner.mapping(z[:len(idx)])
        ws = rec.synthesis_in[b]
        torch.testing.assert_close(ws[:len(idx)], w0, rtol=0, atol=0)   # lerp(w0, w1, 0) is exactly w0
    full = ppl(rec, "w", "full", num_samples=n, distance=sql2, device="cpu", dtype=torch.float64)
    t = full.samples["t"]
    assert np.all((t >= 0) & (t < 1)) and len(np.unique(t)) == n


def test_noise_shared_within_pair_and_redrawn_per_minibatch():
    n, bs = 48, 16
    noisy = Recorder(LinearGenerator(noise_strength=1.0))
    clean = LinearGenerator(noise_strength=0.0)
    r_noisy = ppl(noisy, "w", "full", num_samples=n, batch_size=bs, distance=sql2, device="cpu", dtype=torch.float64)
    r_clean = ppl(clean, "w", "full", num_samples=n, batch_size=bs, distance=sql2, device="cpu", dtype=torch.float64)
    # The generator is linear: if both ends of a pair share the noise it cancels exactly.
    np.testing.assert_allclose(r_noisy.samples["distances"], r_clean.samples["distances"], rtol=1e-6)
    assert noisy.noise_modes == ["const"] * 3
    assert len(noisy.noise_states) == 3            # one realisation per minibatch ...
    assert not torch.equal(noisy.noise_states[0], noisy.noise_states[1])   # ... and a new one each time
    # One batched synthesis call per minibatch holds both endpoints of every pair.
    assert [ws.shape[0] for ws in noisy.synthesis_in] == [2 * bs] * 3


def test_determinism_under_seed():
    G = ConvGenerator()
    kw = dict(num_samples=40, distance=sql2, device="cpu", batch_size=8)
    a = ppl(G, "w", "full", seed=11, **kw)
    b = ppl(G, "w", "full", seed=11, **kw)
    c = ppl(G, "w", "full", seed=12, **kw)
    np.testing.assert_array_equal(a.samples["distances"], b.samples["distances"])
    assert a.value == b.value
    assert not np.allclose(a.samples["distances"], c.samples["distances"])


def test_batch_size_does_not_change_samples_without_noise():
    G = NoMappingGenerator()
    a = ppl(G, "z", "full", num_samples=30, batch_size=7, distance=sql2, device="cpu", dtype=torch.float64)
    b = ppl(G, "z", "full", num_samples=30, batch_size=16, distance=sql2, device="cpu", dtype=torch.float64)
    np.testing.assert_allclose(a.samples["distances"], b.samples["distances"], rtol=1e-9)


def test_callers_generator_is_not_modified():
    G = ConvGenerator()
    before = copy.deepcopy(G.state_dict())
    ppl(G, "w", "full", num_samples=8, distance=sql2, device="cpu")
    for k, v in G.state_dict().items():
        assert torch.equal(v, before[k]), k


# ------------------------------------------------------------------------------------------ geometry


def _coords(R: int) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(R, dtype=torch.float64), torch.arange(R, dtype=torch.float64), indexing="ij")
    return (y * R + x).expand(1, 3, R, R)


@pytest.mark.parametrize("R", [8, 16, 32, 64, 128, 256, 512, 1024])
@pytest.mark.parametrize("mode", ["tf", "ada"])
def test_crop_geometry(R, mode):
    out = crop_and_downsample(_coords(R), crop=True, mode=mode)
    c = R // 8
    size = 4 * c
    f = (size // 256 if size > 256 else 1) if mode == "tf" else max(R // 256, 1)
    assert out.shape == (1, 3, size // f, size // f)
    # Block (i, j) averages rows 3c + f i .. + f - 1 and columns 2c + f j ..: mean of y R + x.
    i = torch.arange(size // f, dtype=torch.float64)
    ys, xs = 3 * c + f * i + (f - 1) / 2, 2 * c + f * i + (f - 1) / 2
    want = ys[:, None] * R + xs[None, :]
    torch.testing.assert_close(out[0, 1], want)


def test_crop_sizes_documented_difference():
    sizes = {(R, m): crop_and_downsample(torch.zeros(1, 3, R, R), True, m).shape[-1]
             for R in (256, 512, 1024) for m in ("tf", "ada")}
    assert sizes == {(256, "tf"): 128, (256, "ada"): 128, (512, "tf"): 256, (512, "ada"): 128,
                     (1024, "tf"): 256, (1024, "ada"): 128}
    assert crop_and_downsample(torch.zeros(1, 3, 1024, 1024), crop=False).shape[-1] == 256
    with pytest.raises(ValueError, match="square"):
        crop_and_downsample(torch.zeros(1, 3, 8, 16))


# ------------------------------------------------------------------------------------------ outliers


def test_percentile_rule_on_planted_sample():
    rng = np.random.default_rng(0)
    values = np.concatenate([np.arange(1.0, 199.0), [1e-9, 1e6]])   # 200 values
    d = rng.permutation(values)
    f = filter_outliers(d)
    s = np.sort(d)
    # 'lower' takes the element at floor(p (n-1)), 'higher' at ceil(p (n-1)).
    assert f.lo == s[int(np.floor(0.01 * 199))] == 1.0
    assert f.hi == s[int(np.ceil(0.99 * 199))] == 198.0
    assert f.mean == pytest.approx(99.5)
    assert (f.num_low, f.num_high, int(f.kept.sum())) == (1, 1, 198)
    with pytest.raises(ValueError, match="not finite"):
        filter_outliers(np.array([1.0, np.nan, 2.0]))


def test_planted_outlier_dropped_by_ppl():
    calls = []

    def planted(img0, img1):
        d = sql2(img0, img1)
        calls.append(1)
        if len(calls) == 3:                    # third minibatch, row 2 -> global index 2 * 8 + 2
            d = d.clone()
            d[2] = 1e6
        return d

    # n = 200: hi is the element at ceil(0.99 * 199) = 198 of the sorted values, below the maximum.
    # (With n <= 100 'higher' picks the maximum itself and nothing is dropped above, as in the reference.)
    res = ppl(LinearGenerator(), "w", "full", num_samples=200, batch_size=8, distance=planted, device="cpu")
    d = res.samples["distances"]
    assert d[18] == pytest.approx(1e6 / 1e-8)
    assert res.extras["hi"] < d[18] and res.extras["num_above_hi"] == 1
    assert res.extras["num_below_lo"] == 1     # lo is the element at floor(0.01 * 199) = 1
    keep = (d >= res.extras["lo"]) & (d <= res.extras["hi"])
    assert res.value == pytest.approx(d[keep].mean())
    assert res.extras["num_kept"] == int(keep.sum())


# ------------------------------------------------------------------------------------------ numerics


def test_float32_and_float64_agree_on_nonlinear_generator():
    torch.manual_seed(0)
    net = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False).eval()
    net64 = copy.deepcopy(net).double()
    G = ConvGenerator(resolution=32)
    kw = dict(num_samples=16, batch_size=16, device="cpu", seed=2)
    r32 = ppl(G, "w", "full", distance=lambda a, b: net(a, b).reshape(-1), dtype=torch.float32, **kw)
    r64 = ppl(G, "w", "full", distance=lambda a, b: net64(a, b).reshape(-1), dtype=torch.float64, **kw)
    assert r64.value > 0
    assert abs(r32.value / r64.value - 1) < 0.01
    rel = np.abs(r32.samples["distances"] / r64.samples["distances"] - 1)
    assert np.median(rel) < 0.01


# ------------------------------------------------------------------------------------------ API, errors, CLI


def test_no_mapping_generator_z_only():
    G = NoMappingGenerator()
    with pytest.raises(NoMappingError, match="ppl_wend"):
        ppl(G, "w", "end", num_samples=4, distance=sql2, device="cpu")
    assert ppl(G, "z", "end", num_samples=4, distance=sql2, device="cpu").value > 0


def test_default_distance_is_lpips_vgg_and_needs_its_weights():
    with pytest.raises(MissingWeightsError, match="vgg16-397923af.pth"):
        ppl(LinearGenerator(), "w", "end", num_samples=4, device="cpu")


def test_bad_arguments_have_clear_messages():
    G = LinearGenerator()
    with pytest.raises(ValueError, match="space"):
        ppl(G, "x", num_samples=4, distance=sql2)
    with pytest.raises(ValueError, match="'tf'"):
        ppl(G, mode="pytorch", num_samples=4, distance=sql2)
    with pytest.raises(ValueError, match="one value per pair"):
        ppl(G, num_samples=4, distance=lambda a, b: sql2(a, b)[:, None], device="cpu")


def test_metric_names_carry_non_default_choices(sql2_registered):
    G = LinearGenerator()
    assert ppl(G, "z", "full", num_samples=4, distance=sql2_registered, device="cpu").metric == "ppl_zfull@test-sql2"
    r = ppl(G, "w", "end", num_samples=4, distance=sql2_registered, device="cpu", mode="ada", crop=False)
    assert r.metric == "ppl_wend@test-sql2+ada+nocrop"
    assert r.config["mode"] == "ada" and r.config["epsilon"] == 1e-4 and r.config["distance"] == "test-sql2"


def test_registered_metrics(sql2_registered):
    assert {"ppl_zfull", "ppl_wfull", "ppl_zend", "ppl_wend"} <= set(list_metrics())
    opts = ScoreOptions(device="cpu", num_samples=20, distance=sql2_registered, progress=False, seed=4)
    r = get_metric("ppl_wend")(LinearGenerator(), opts)
    assert r.metric == "ppl_wend@test-sql2" and r.num_samples == 20 and r.seed == 4
    assert r.samples["distances"].shape == (20,) and np.all(r.samples["t"] == 0)


def test_registered_metrics_take_the_resample_count(sql2_registered):
    base = dict(device="cpu", num_samples=40, distance=sql2_registered, progress=False)
    r = get_metric("ppl_wend")(LinearGenerator(), ScoreOptions(**base, resamples=50))
    assert "(50 resamples" in r.intervals["ppl_wend@test-sql2"]["method"]
    assert "(1000 resamples" in get_metric("ppl_wend")(LinearGenerator(), ScoreOptions(**base)).intervals[
        "ppl_wend@test-sql2"]["method"]
    none = get_metric("ppl_zfull")(LinearGenerator(), ScoreOptions(**base, resamples=0))
    assert none.intervals == {} and none.ci95 is None            # 0 is a value: no interval, not the default
    with pytest.raises(ValueError, match="resamples must be 0"):
        ScoreOptions(resamples=1)


def test_cli_score(tmp_path, sql2_registered):
    from cli.main import main
    out = tmp_path / "results.jsonl"
    result = CliRunner().invoke(main, [
        "score", "tests.toy_generators_ppl:make_linear", "--metrics", "ppl_wend,ppl_zfull", "--num-samples", "24",
        "--distance", sql2_registered, "--device", "cpu", "--out", str(out), "--samples-dir", str(tmp_path), "--no-check",
        "--no-progress"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["metric"] for x in lines] == ["ppl_wend@test-sql2", "ppl_zfull@test-sql2"]
    npz = np.load(lines[0]["samples_file"])
    assert npz["distances"].shape == (24,)


@pytest.mark.gpu
def test_cuda_matches_cpu_and_is_deterministic():
    G = LinearGenerator(noise_strength=0.5)       # linear: the (device-specific) noise cancels within a pair
    kw = dict(num_samples=64, distance=sql2, dtype=torch.float64, seed=3)
    cpu = ppl(G, "w", "full", device="cpu", **kw)
    gpu = ppl(G, "w", "full", device="cuda", **kw)
    gpu2 = ppl(G, "w", "full", device="cuda", **kw)
    np.testing.assert_allclose(gpu.samples["distances"], cpu.samples["distances"], rtol=1e-6)
    np.testing.assert_array_equal(gpu.samples["distances"], gpu2.samples["distances"])
    assert gpu.device.startswith("cuda")


def test_distance_by_module_path(monkeypatch):
    monkeypatch.setattr(D, "DISTANCES", dict(D.DISTANCES))
    r = ppl(LinearGenerator(), "w", "end", num_samples=8, distance="tests.toy_generators_ppl:sql2_distance", device="cpu")
    assert r.metric == "ppl_wend@tests.toy_generators_ppl:sql2_distance"
    np.testing.assert_allclose(r.samples["distances"],
                               ppl(LinearGenerator(), "w", "end", num_samples=8, distance=sql2, device="cpu").samples["distances"])


def test_callable_distance_label_is_file_name_safe():
    r = ppl(LinearGenerator(), "w", "end", num_samples=4, distance=lambda a, b: sql2(a, b), device="cpu")
    assert r.metric == "ppl_wend@custom-lambda"


def test_cli_distances_lists_default_first():
    from cli.main import main
    result = CliRunner().invoke(main, ["distances"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("lpips-vgg ") and "[default]" in lines[0]
    assert any(line.startswith("lpips-vgg-nvidia") for line in lines)
