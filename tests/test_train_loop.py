"""The training loop: every preset trains, resume is bit-for-bit, checkpoints, logs, metrics hook, errors."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
import torch

import reference_models
from disentangle_metrics.metrics.registry import METRICS, register_metric
from disentangle_metrics._core.results import MetricResult, read_results
from reference_models.configs import GENERATOR_PRESETS
from reference_models.train import LATEST, NonFiniteError, ResumeError, Trainer, train
from reference_models.train.data import DataError
from reference_models.train.schedule import ema_beta, schedule

from .train_helpers import state_tensors, tiny_config, tiny_reals


@pytest.fixture(scope="module")
def reals(tmp_path_factory):
    return tiny_reals(tmp_path_factory.mktemp("data") / "reals.npy")


@pytest.mark.parametrize("preset", sorted(GENERATOR_PRESETS))
def test_every_preset_trains_with_finite_losses(preset, reals, tmp_path):
    cfg = tiny_config(reals, tmp_path / "run", preset=preset)
    tr = Trainer(cfg, progress=False)
    G0 = copy.deepcopy(tr.G.state_dict())
    tr.train()
    log = pd.read_csv(tmp_path / "run" / "log.csv")
    assert len(log) == 1 and log.step.iloc[-1] == 2
    for col in ("loss_G", "loss_D", "r1", "score_real", "score_fake"):
        assert log[col].notna().all() and torch.isfinite(torch.tensor(log[col].values)).all(), col
    assert log.skipped_steps.iloc[-1] == 0
    moved = [k for k, v in tr.G.state_dict().items() if not torch.equal(v, G0[k])]
    assert any(k.startswith("mapping.dense") or k.startswith("synthesis.") for k in moved)
    if tr.G.cfg.mapping_layers:
        assert tr.G.w_avg.abs().sum() > 0          # moving average of w is tracked while training


def test_channels_last_path_matches_contiguous(reals, tmp_path):
    """The channels_last layout (on by default) computes the same D loss, R1 and gradients."""
    out = {}
    for cl in (False, True):
        tr = Trainer(tiny_config(reals, tmp_path / f"cl{cl}", channels_last=cl), progress=False)
        stats = tr.train_step(schedule(tr.cfg, 0))
        # D's .grad still holds the D-step gradients (D takes no gradient in the G step).
        grads = {k: p.grad.clone() for k, p in tr.D.named_parameters() if p.grad is not None}
        tr.loader.close()
        out[cl] = (stats, grads, tr)
    assert out[True][2].G.synthesis.convs[1].weight.is_contiguous(memory_format=torch.channels_last)
    for k in ("loss_D", "r1", "score_real", "score_fake"):
        assert out[True][0][k].item() == pytest.approx(out[False][0][k].item(), rel=1e-4, abs=1e-6), k
    assert out[True][1].keys() == out[False][1].keys() and len(out[False][1]) > 5
    for k, g in out[False][1].items():
        assert torch.allclose(out[True][1][k], g, rtol=1e-3, atol=1e-6), k


def test_progressive_growing_fades_and_resets_adam(reals, tmp_path):
    # 8 kimg-images per phase: lod 1 for 8 images, fade over the next 8, then lod 0.
    cfg = tiny_config(reals, tmp_path / "run", progressive=True, lod_initial_resolution=8, lod_training_kimg=0.008,
                      lod_transition_kimg=0.008, minibatch_repeats=1, total_kimg=0.032, tick_kimg=0.004)
    seen = []

    def record(tr):
        first = next(iter(tr.G_opt.state.values()))
        seen.append((tr.progress["prev_lod"], int(first["step"]), int(next(iter(tr.D_opt.state.values()))["step"])))

    Trainer(cfg, progress=False).train(on_group=record)
    # One minibatch of 4 per group: lod 1 for 8 images (+ the group that starts at 8), fade, lod 0.
    assert [lod for lod, _, _ in seen] == [1.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0]
    # Adam moments restart when floor or ceil of lod changes (fade starts; fade ends), as official.
    assert [g for _, g, _ in seen] == [1, 2, 3, 1, 1, 2, 3, 4]
    assert [d for _, _, d in seen] == [1, 2, 3, 1, 1, 2, 3, 4]
    log = pd.read_csv(tmp_path / "run" / "log.csv")
    assert set(log.resolution) == {8, 16}


def test_resume_after_interrupt_is_bit_for_bit(reals, tmp_path):
    """Kill after 6 steps (last checkpoint at step 4), resume, finish: equal to an uninterrupted run."""
    # One step of 4 images per schedule group: lod 1, 1, 1, 0.75 | checkpoint | 0.5, 0.25, 0, 0. The
    # resumed part is in the middle of the fade: no Adam reset there (floor and ceil of lod unchanged)
    # unless the saved prev_lod were lost, and one reset when the fade ends.
    common = dict(progressive=True, lod_initial_resolution=8, lod_training_kimg=0.008, lod_transition_kimg=0.016,
                  minibatch_repeats=1, total_kimg=0.032, ckpt_every_kimg=0.016, tick_kimg=0.008, mirror=True,
                  keep_snapshots=False)
    full = train(tiny_config(reals, tmp_path / "a", **common), progress=False)
    cfg_b = tiny_config(reals, tmp_path / "b", **common)
    part = train(cfg_b, progress=False, max_steps=6)          # stops without saving step 6
    assert part.progress["step"] == 6
    ck = torch.load(tmp_path / "b" / LATEST, weights_only=True)
    assert ck["progress"]["step"] == 4
    resumed = train(cfg_b, resume=True, progress=False)
    assert resumed.progress["step"] == full.progress["step"] == 8
    assert list(pd.read_csv(tmp_path / "a" / "log.csv").lod) == [1.0, 1.0, 0.75, 0.25, 0.0]   # ticks at 4, 8, 16, 24, 32 images
    a, b = state_tensors(full), state_tensors(resumed)
    assert a.keys() == b.keys() and len(a) > 50
    unequal = [k for k in a if not torch.equal(a[k], b[k])]
    assert not unequal, unequal[:5]
    # The resumed log has each tick once.
    log = pd.read_csv(tmp_path / "b" / "log.csv")
    assert log.kimg.is_unique and len(log) == len(pd.read_csv(tmp_path / "a" / "log.csv"))


def test_checkpoint_is_weights_only_and_loads_g_ema(reals, tmp_path):
    tr = train(tiny_config(reals, tmp_path / "run"), progress=False)
    path = tmp_path / "run" / LATEST
    ck = torch.load(path, weights_only=True)
    assert {"G", "G_ema", "D", "G_opt", "D_opt", "rng", "progress", "train_config"} <= set(ck)
    assert isinstance(ck["rng"]["torch_cpu"], torch.Tensor)
    G_ema = reference_models.load_checkpoint(path)
    for k, v in tr.G_ema.state_dict().items():
        assert torch.equal(G_ema.state_dict()[k], v), k
    D = reference_models.load_checkpoint(path, key="D")
    assert isinstance(D, reference_models.Discriminator)
    assert (tmp_path / "run" / "snapshot-000000008.pt").is_file()   # named by image count (8 images)
    assert (tmp_path / "run" / "reals.png").is_file() and (tmp_path / "run" / "fakes000000.png").is_file()
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["preset"] == "f-mixing90" and saved["g_overrides"]["fmap_max"] == 16


def test_failed_checkpoint_write_keeps_the_last_good_one(reals, tmp_path, monkeypatch):
    tr = train(tiny_config(reals, tmp_path / "run", keep_snapshots=False), progress=False)
    path = tmp_path / "run" / LATEST
    good = path.read_bytes()

    def dying_save(obj, f, *a, **kw):
        f.write(b"partial bytes of a checkpoint")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        tr.save_checkpoint()
    assert path.read_bytes() == good
    assert [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")] == []   # no temp left


def test_ema_and_w_avg_semantics_of_one_step(reals, tmp_path):
    cfg = tiny_config(reals, tmp_path / "run", batch=8, minibatch_repeats=1, mirror=False)
    tr = Trainer(cfg, progress=False)
    G_before = copy.deepcopy(tr.G)
    ema_before = {k: v.clone() for k, v in tr.G_ema.named_parameters()}
    tr._set_lod(0.0)
    # Expected w_avg: the D-step forward and the G-step forward each do w_avg <- lerp(mean w, w_avg, 0.995),
    # both with the pre-step mapping weights (the G step changes them only after its forward).
    z_d = torch.randn([8, tr.G.z_dim], generator=tr._rng(0))
    z_g = torch.randn([8, tr.G.z_dim], generator=tr._rng(1))
    with torch.no_grad():
        avg = torch.lerp(G_before.mapping.map_single(z_d).mean(0), torch.zeros(tr.G.w_dim), 0.995)
        avg = torch.lerp(G_before.mapping.map_single(z_g).mean(0), avg, 0.995)
    tr.train_step(schedule(cfg, 0))
    tr.loader.close()
    assert torch.allclose(tr.G.w_avg, avg, atol=1e-6)
    # G_ema was updated after the D step, i.e. from the pre-G-step weights = G_before's.
    beta = ema_beta(cfg, 8)
    assert beta == 0.5 ** (8 / 10_000)
    for k, p in G_before.named_parameters():
        assert torch.allclose(dict(tr.G_ema.named_parameters())[k], torch.lerp(p, ema_before[k], beta), atol=1e-7), k
    # Buffers are copies of G's at that moment: w_avg after the D-step forward only.
    w_avg_after_d = torch.lerp(G_before.mapping.map_single(z_d).mean(0), torch.zeros(tr.G.w_dim), 0.995).detach()
    assert torch.allclose(tr.G_ema.w_avg, w_avg_after_d, atol=1e-6)
    assert not torch.equal(tr.G_ema.w_avg, tr.G.w_avg)


def test_non_finite_steps_are_skipped_then_reported(reals, tmp_path):
    cfg = tiny_config(reals, tmp_path / "run", max_nonfinite_steps=2, total_kimg=0.032, minibatch_repeats=1)
    tr = Trainer(cfg, progress=False)
    with torch.no_grad():
        tr.D.dense1.bias.fill_(float("nan"))
    G0 = copy.deepcopy(tr.G.state_dict())
    with pytest.raises(NonFiniteError, match="consecutive steps had non-finite gradients.*Lower the learning rate"):
        tr.train()
    assert tr.progress["skipped_steps"] >= 3
    assert all(torch.equal(v, G0[k]) for k, v in tr.G.state_dict().items() if "noise" not in k and "w_avg" not in k)


def test_resume_errors_are_clear(reals, tmp_path):
    cfg = tiny_config(reals, tmp_path / "run")
    train(cfg, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(cfg, progress=False)
    with pytest.raises(ResumeError, match="preset"):
        Trainer(cfg.replace(preset="e-noise"), resume=True, progress=False)
    with pytest.raises(ResumeError, match="no training checkpoint"):
        Trainer(cfg.replace(out=str(tmp_path / "empty")), resume=True, progress=False)
    # A run that died before its first checkpoint leaves no latest.pt: a fresh start is allowed
    # and starts a new log.
    (tmp_path / "run" / LATEST).unlink()
    for p in (tmp_path / "run").glob("snapshot-*.pt"):
        p.unlink()
    train(cfg, progress=False)
    assert len(pd.read_csv(tmp_path / "run" / "log.csv")) == 1
    with pytest.raises(DataError, match="does not exist"):
        Trainer(cfg.replace(out=str(tmp_path / "x"), data=str(tmp_path / "missing")), progress=False)


_STANDIN = "train-standin-mean"


def _standin_metric(G, opts):
    """Mean pixel of 8 images: a stand-in for fid50k while the test-bed extractor is not merged."""
    with torch.no_grad():
        z = torch.randn(opts.num_samples or 8, G.z_dim, generator=torch.Generator().manual_seed(opts.seed))
        v = float(G.synthesis(G.mapping(z, None), noise_mode="const").mean())
    return MetricResult(metric=_STANDIN, value=v, values={_STANDIN: v}, seed=opts.seed, num_samples=len(z))


def test_periodic_metrics_go_to_the_results_file(reals, tmp_path):
    if _STANDIN not in METRICS:
        register_metric(_STANDIN)(_standin_metric)
    cfg = tiny_config(reals, tmp_path / "run", total_kimg=0.016, metrics=[_STANDIN], metrics_every_kimg=0.008,
                      metrics_num_samples=4)
    train(cfg, progress=False)
    res = read_results(tmp_path / "run" / "metrics.jsonl")
    assert [r.config["kimg"] for r in res] == [0.008, 0.016]
    assert all(r.metric == _STANDIN and r.num_samples == 4 for r in res)
    with pytest.raises(KeyError, match="unknown metric"):
        train(cfg.replace(out=str(tmp_path / "r2"), metrics=["no-such-metric"]), progress=False)


@pytest.mark.parametrize("preset,prob", [("f-mixing90", 0.9), ("mixing50", 0.5), ("e-noise", None)])
def test_style_mixing_uses_the_presets_probability(preset, prob, reals, tmp_path):
    tr = Trainer(tiny_config(reals, tmp_path / "run", preset=preset), progress=False)
    calls = []
    original = tr.G.mixing_cutoff

    def spy(p, lod=None, rng=None):
        calls.append((p, lod))
        return original(p, lod, rng)

    tr.G.mixing_cutoff = spy
    tr.train_step(schedule(tr.cfg, 0))
    tr.loader.close()
    # One crossover draw per G forward: the D step's fakes and the G step's fakes.
    assert calls == ([] if prob is None else [(prob, 0.0), (prob, 0.0)])


def test_loader_mirrors_the_flagged_images(reals, tmp_path):
    tr = Trainer(tiny_config(reals, tmp_path / "run", mirror=True), progress=False)
    x = tr.loader.get(0, 16)
    idx, flips = tr.loader.sampler.indices(0, 16)
    src = tr.loader.reals.gather(idx)
    tr.loader.close()
    assert flips.any() and not flips.all()
    for i in range(16):
        assert torch.equal(x[i], src[i].flip(2) if flips[i] else src[i])
