"""The training loop of StyleGAN (official ``training/training_loop.py``), for every preset.

One *group* = ``minibatch_repeats`` minibatches trained with one :class:`~.schedule.Schedule`
(the schedule, and with it lod, minibatch and lr, is re-evaluated between groups, as official).
Per minibatch, in the official order:

1. D step: fakes from G (training mode: w_avg update, style mixing, random noise; no gradient),
   loss :func:`~.losses.d_logistic_r1_loss`, Adam step on D;
2. G_ema update (:func:`~.ema.update_ema`, beta = 0.5 ** (minibatch / 10_000)) -- the official
   ``Gs_update_op`` runs together with the D step;
3. G step: new latents, loss :func:`~.losses.g_nonsaturating_loss`, Adam step on G.

A step whose gradients are not all finite is skipped (the official optimiser does the same); more
than ``max_nonfinite_steps`` skips in a row stop the run with :class:`NonFiniteError`.

Randomness: every random draw of step ``t`` (latents, second latents of style mixing, noise)
comes from a ``torch.Generator`` seeded by a hash of (seed, t), and reals from the stateless
:class:`~.data.StreamSampler`; the loop itself has no hidden RNG state, which is what makes a
resumed CPU run bit-for-bit equal to an uninterrupted one. torch's global RNG states are still
saved and restored for code outside the loop (metrics).
"""

from __future__ import annotations

import contextlib
import copy
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator, Optional

import torch
from torch import nn

from disentangle_metrics._core.device import resolve_device
from disentangle_metrics._core.sampling import Stream, sample_seeds

from ..build import build_discriminator, build_generator
from ..layers import NoiseInjection, set_polyphase
from .config import MINI_RECIPE_ARGS, TESTBED, TrainConfig
from .data import RealLoader, StreamSampler, open_reals, process_reals, testbed_reals_path
from .ema import update_ema
from .losses import d_logistic_r1_loss, g_nonsaturating_loss
from .optim import TFAdam
from .metric_log import MetricLog
from .report import CsvLog, fixed_latents, image_grid, run_metrics, save_png
from .schedule import Schedule, ema_beta, lod_changed, schedule
from .state import LATEST, atomic_torch_save, check_resumable, load_training_state, set_rng_state, training_state
from .run_folder import format_duration, list_snapshots, snapshot_name


class NonFiniteError(RuntimeError):
    """Training diverged: losses or gradients stayed non-finite."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :meth:`Trainer.train` after a whole group; ``checkpoint`` holds the state to resume."""

    def __init__(self, checkpoint: Path, nimg: int) -> None:
        super().__init__(f"interrupted at {nimg / 1000:.3f} kimg; checkpoint {checkpoint}")
        self.checkpoint, self.nimg = checkpoint, nimg


# A run whose estimated remaining time passes this gets a warning after its first tick.
LONG_RUN_S = 24 * 3600.0


class Trainer:
    """Builds (or resumes) a run from a :class:`TrainConfig` and trains it; see the module docstring."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, progress: bool = True,
                 echo: Optional[Callable[[str], None]] = None) -> None:
        self.cfg = cfg
        self.run_dir = Path(cfg.out)
        self.show_progress = progress
        self.echo = echo      # messages for people (time estimate, long-run warning); None: silent
        self.device = resolve_device(cfg.device)
        cuda = self.device.type == "cuda"
        # float32 unless bf16 is asked for: the official training is float32 (config.precision).
        self.amp = cfg.precision == "bf16"
        if self.amp and not cuda:
            raise ValueError("precision bf16 (autocast) is only supported on CUDA; use precision float32 on the CPU")
        # channels_last by default on every device: measured faster on CUDA, and ~1.1x on a CPU with
        # fast_resample (benchmarks.train_speed --compare); same function, float32 rounding apart.
        self.channels_last = True if cfg.channels_last is None else bool(cfg.channels_last)
        if cuda:
            torch.backends.cudnn.benchmark = True  # fixed shapes per schedule phase
        if cfg.threads is not None:
            # On a shared CPU, fewer threads than cores avoids OpenMP barriers stalling on busy cores.
            torch.set_num_threads(cfg.threads)

        self.G = build_generator(cfg.preset, resolution=cfg.resolution, seed=cfg.seed, **cfg.g_overrides)
        if self.G.cfg.label_size:
            raise ValueError("the trainer trains unconditional generators only (label_size must be 0)")
        self.D = build_discriminator(resolution=cfg.resolution, seed=cfg.seed + 1_000_003,
                                     num_channels=self.G.cfg.num_channels, **cfg.d_overrides)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        for net in (self.G, self.D):   # not G_ema: what is evaluated keeps the literal official form
            set_polyphase(net, cfg.fast_resample)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        for net in (self.G, self.D, self.G_ema):
            net.to(self.device, memory_format=fmt)
        adam = dict(lr=cfg.lr_base, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps)
        # The mapping network's x0.01 is its layers' lrmul, not a parameter group (config docstring).
        # TFAdam: the official tf.train.AdamOptimizer's update (epsilon after the bias correction).
        self.G_opt = TFAdam(_g_param_groups(self.G, cfg.noise_lr_mult), **adam)
        self.D_opt = TFAdam(self.D.parameters(), **adam)
        self.progress: dict[str, Any] = {
            "nimg": 0, "step": 0, "prev_lod": -1.0, "skipped_steps": 0, "consecutive_skips": 0,
            "wall_time_s": 0.0, "next_tick_nimg": 0, "next_ckpt_nimg": _next_multiple(0, cfg.ckpt_every_kimg),
            "next_metrics_nimg": _next_multiple(0, cfg.metrics_every_kimg) if cfg.metrics else None,
        }
        latest = self.run_dir / LATEST
        if resume:
            self._load(latest)
        elif latest.exists():
            raise FileExistsError(f"{latest} exists: this run folder already holds a run. Pass --resume to "
                                  "continue it, or choose another --out folder")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(self.run_dir / "config.json")
        reals = open_reals(cfg, self.run_dir)
        self.loader = RealLoader(reals, StreamSampler(len(reals), cfg.seed, cfg.mirror), self.device)
        self.log = CsvLog(self.run_dir / "log.csv", resume_nimg=self.progress["nimg"] if resume else None)
        self.metric_log = MetricLog(self.run_dir, echo=echo,
                                    resume_kimg=self.progress["nimg"] / 1000 if resume else None)
        self.grid_z = fixed_latents(cfg.seed, cfg.grid_size ** 2, self.G.z_dim)
        self._set_lod(schedule(cfg, self.progress["nimg"]).lod)
        if not resume:
            self._save_reals_grid()
            self._save_fakes_grid()

    # ---------------------------------------------------------------- state
    def _load(self, path: Path) -> None:
        state = load_training_state(path)
        check_resumable(state, self.cfg, str(path))
        for key, net in (("G", self.G), ("G_ema", self.G_ema), ("D", self.D)):
            net.load_state_dict(state[key]["state_dict"], strict=True)
        self.G_opt.load_state_dict(state["G_opt"])
        self.D_opt.load_state_dict(state["D_opt"])
        set_rng_state(state["rng"])
        self.progress.update(state["progress"])
        if self.cfg.metrics and self.progress.get("next_metrics_nimg") is None:
            self.progress["next_metrics_nimg"] = _next_multiple(self.progress["nimg"], self.cfg.metrics_every_kimg)

    def save_checkpoint(self) -> Path:
        """Write ``latest.pt`` (and :func:`snapshot_name` of the image count when keeping snapshots), atomically."""
        state = training_state(self.G, self.G_ema, self.D, self.G_opt, self.D_opt, self.cfg, self.progress)
        if self.cfg.keep_snapshots:
            atomic_torch_save(state, self.run_dir / snapshot_name(self.progress["nimg"]))
        return atomic_torch_save(state, self.run_dir / LATEST)

    def latest_snapshot(self) -> Path:
        """The newest file holding this run's G_ema: the last ``snapshot-*.pt``, else ``latest.pt``."""
        snaps = list_snapshots(self.run_dir) if self.cfg.keep_snapshots else []
        return snaps[-1][1] if snaps else self.run_dir / LATEST

    # ---------------------------------------------------------------- steps
    def _autocast(self) -> ContextManager:
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()

    def _rng(self, k: int) -> torch.Generator:
        seed = int(sample_seeds(self.cfg.seed, [k], Stream.Z)[0])
        return torch.Generator(device=self.device).manual_seed(seed)

    def _set_lod(self, lod: float) -> None:
        for net in (self.G, self.G_ema):
            net.lod = lod
        self.D.lod.fill_(lod)

    def _apply(self, opt: torch.optim.Optimizer, net: nn.Module, loss: torch.Tensor, lr: float) -> bool:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        finite = bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()) if grads else True
        if not finite:
            self.progress["skipped_steps"] += 1
            self.progress["consecutive_skips"] += 1
            if self.progress["consecutive_skips"] > self.cfg.max_nonfinite_steps:
                raise NonFiniteError(
                    f"{self.progress['consecutive_skips']} consecutive steps had non-finite gradients (last loss "
                    f"{loss.item():.4g}) at kimg {self.progress['nimg'] / 1000:.3f}: training diverged. Lower the "
                    f"learning rate (lr_base/lr_dict) or resume from an earlier snapshot-*.pt")
            return False
        self.progress["consecutive_skips"] = 0
        for group in opt.param_groups:
            group["lr"] = lr * group.get("lr_mult", 1.0)
        opt.step()
        return True

    def train_step(self, sch: Schedule) -> dict[str, torch.Tensor]:
        """One minibatch: D step, G_ema update, G step (module docstring). Returns detached stats."""
        cfg, B, t = self.cfg, sch.minibatch, self.progress["step"]
        G, D = self.G, self.D
        reals = process_reals(self.loader.get(self.progress["nimg"], B), sch.lod)
        if self.channels_last:
            reals = reals.contiguous(memory_format=torch.channels_last)

        gen = self._rng(2 * t)
        z = torch.randn([B, G.z_dim], generator=gen, device=self.device)
        with torch.no_grad(), self._autocast():
            fakes = G(z, lod=sch.lod, rng=gen)
        D.requires_grad_(True)
        loss_D, stats = d_logistic_r1_loss(D, reals, fakes, cfg.r1_gamma, self._autocast)
        self._apply(self.D_opt, D, loss_D, sch.lr)
        update_ema(self.G_ema, G, ema_beta(cfg, B, nimg=self.progress["nimg"]))
        self.progress["nimg"] += B

        gen = self._rng(2 * t + 1)
        z = torch.randn([B, G.z_dim], generator=gen, device=self.device)
        D.requires_grad_(False)
        with self._autocast():
            fakes = G(z, lod=sch.lod, rng=gen)
        loss_G, g_stats = g_nonsaturating_loss(D, fakes, self._autocast)
        self._apply(self.G_opt, G, loss_G, sch.lr)
        D.requires_grad_(True)
        self.progress["step"] = t + 1
        stats.update(g_stats)
        return stats

    # ---------------------------------------------------------------- loop
    def train(self, max_steps: Optional[int] = None,
              on_group: Optional[Callable[["Trainer"], None]] = None) -> dict[str, Any]:
        """Train until ``total_kimg`` (or, for tests, until ``max_steps`` minibatches: stops there
        *without* a checkpoint, like a killed run). Returns the progress dict.

        Ctrl-C (SIGINT, when called from the main thread) finishes the current group of minibatches,
        writes a checkpoint and raises :class:`TrainingInterrupted`; a second Ctrl-C aborts at once.
        """
        with _deferred_sigint() as interrupted:
            return self._train(max_steps, on_group, interrupted)

    def _train(self, max_steps: Optional[int], on_group: Optional[Callable[["Trainer"], None]],
               interrupted: Callable[[], bool]) -> dict[str, Any]:
        cfg, p = self.cfg, self.progress
        session = (p["nimg"], time.perf_counter())
        estimated = False
        total = int(round(cfg.total_kimg * 1000))
        bar = _progress_bar(self.show_progress, total, p["nimg"])
        tick_start = (p["nimg"], time.perf_counter())
        acc: dict[str, list[torch.Tensor]] = {}
        start = time.perf_counter() - p["wall_time_s"]
        sch = schedule(cfg, p["nimg"])
        try:
            while p["nimg"] < total:
                sch = schedule(cfg, p["nimg"])
                if cfg.reset_opt_for_new_lod and lod_changed(p["prev_lod"], sch.lod):
                    self.G_opt.state.clear()
                    self.D_opt.state.clear()
                p["prev_lod"] = sch.lod
                self._set_lod(sch.lod)
                for _ in range(cfg.minibatch_repeats):
                    for k, v in self.train_step(sch).items():
                        acc.setdefault(k, []).append(v)
                p["wall_time_s"] = time.perf_counter() - start
                bar.update(sch.minibatch * cfg.minibatch_repeats)
                done = p["nimg"] >= total
                if p["nimg"] >= p["next_tick_nimg"] or done:
                    row = self._tick(sch, acc, tick_start)
                    bar.set_postfix(kimg=f"{row['kimg']:.2f}", lod=f"{sch.lod:.2f}", G=f"{row['loss_G']:.3f}",
                                    D=f"{row['loss_D']:.3f}", img_s=f"{row['img_per_s']:.1f}")
                    acc, tick_start = {}, (p["nimg"], time.perf_counter())
                    if not estimated and not done:
                        estimated = True
                        self._estimate(session, total, sch)
                ckpt_due = p["nimg"] >= p["next_ckpt_nimg"] or done
                # metrics_every_kimg 0: at every checkpoint (stylegan2-ada's snapshots)
                due = ckpt_due if cfg.metrics_every_kimg <= 0 else (p["nimg"] >= p["next_metrics_nimg"] or done)
                if cfg.metrics and due:
                    if cfg.metrics_every_kimg > 0:
                        p["next_metrics_nimg"] = _next_multiple(p["nimg"], cfg.metrics_every_kimg)
                    self.evaluate()
                if ckpt_due:
                    p["next_ckpt_nimg"] = _next_multiple(p["nimg"], cfg.ckpt_every_kimg)
                    self.save_checkpoint()
                if on_group is not None:
                    on_group(self)
                if interrupted() and not done:
                    raise TrainingInterrupted(self.save_checkpoint(), p["nimg"])
                if max_steps is not None and p["step"] >= max_steps:
                    break
        finally:
            bar.close()
            self.loader.close()
        return dict(p)

    def evaluate(self) -> dict[str, float]:
        """Score G_ema with ``cfg.metrics`` now (:func:`~.report.run_metrics`). The reference, unless
        ``metrics_reference`` names one, is the training set: ``'testbed'`` (its first ``testbed_num``
        images) when the data is the default test bed, the run's rendered test-bed images for another
        test-bed seed, else the training dataset."""
        cfg = self.cfg
        reference, num_real = cfg.metrics_reference, None
        if reference is None and cfg.data == TESTBED:
            reference = "testbed" if cfg.testbed_seed == 0 else str(testbed_reals_path(cfg, self.run_dir))
            num_real = cfg.testbed_num
        elif reference is None:
            reference = cfg.data
        try:
            return run_metrics(self.G_ema, cfg.metrics, self.run_dir, self.progress["nimg"] / 1000, seed=cfg.seed,
                               device=str(self.device), num_samples=cfg.metrics_num_samples,
                               extractor=cfg.metrics_extractor, reference=reference, num_real=num_real,
                               log=self.metric_log)
        finally:
            self.G_ema.to(self.device)

    def _estimate(self, session: tuple[int, float], total: int, sch: Schedule) -> None:
        """After the first tick: the time the whole run will take at this tick's speed, and a warning when it is days."""
        if self.echo is None:
            return
        p = self.progress
        rate = (p["nimg"] - session[0]) / max(time.perf_counter() - session[1], 1e-9)
        left = (total - p["nimg"]) / max(rate, 1e-9)
        growing = " (progressive growing: higher resolutions are slower, so this is a lower bound)" \
            if self.cfg.progressive and sch.lod > 0 else ""
        self.echo(f"estimated time to {self.cfg.total_kimg:g} kimg: {format_duration(left)} more at {rate:.1f} img/s "
                  f"on {self.device} ({sch.resolution}x{sch.resolution}){growing}")
        if left > LONG_RUN_S:
            self.echo(f"warning: this run would take {format_duration(left)} on {self.device}. Lower --kimg, or "
                      f"train narrow networks (the tables' mini scale: {MINI_RECIPE_ARGS}); Ctrl-C stops with a checkpoint")

    def _tick(self, sch: Schedule, acc: dict[str, list[torch.Tensor]], tick_start: tuple[int, float]) -> dict[str, Any]:
        p = self.progress
        p["next_tick_nimg"] = _next_multiple(p["nimg"], self.cfg.tick_kimg)
        dt = max(time.perf_counter() - tick_start[1], 1e-9)
        imgs = p["nimg"] - tick_start[0]
        row: dict[str, Any] = {k: torch.stack(v).float().mean().item() for k, v in acc.items()}
        row.update(kimg=p["nimg"] / 1000, step=p["step"], lod=sch.lod, resolution=sch.resolution,
                   minibatch=sch.minibatch, lr=sch.lr, img_per_s=imgs / dt, sec_per_kimg=dt / max(imgs, 1) * 1000,
                   wall_time_s=p["wall_time_s"], skipped_steps=p["skipped_steps"])
        self.log.append(row)
        self._save_fakes_grid()
        return row

    @torch.no_grad()
    def _save_fakes_grid(self) -> None:
        z = self.grid_z.to(self.device)
        imgs = torch.cat([self.G_ema(zb, noise_mode="const") for zb in z.split(64)])
        save_png(image_grid(imgs, self.cfg.grid_size), self.run_dir / f"fakes{self.progress['nimg'] // 1000:06d}.png")

    def _save_reals_grid(self) -> None:
        n = self.cfg.grid_size ** 2
        reals = self.loader.reals.gather(self.loader.sampler.indices(0, n)[0])
        save_png(image_grid(reals, self.cfg.grid_size), self.run_dir / "reals.png")


def _g_param_groups(G: nn.Module, noise_lr_mult: float) -> list[dict[str, Any]]:
    """G's Adam parameter groups: one (official), or the noise strengths apart at ``noise_lr_mult`` x lr."""
    if noise_lr_mult == 1.0:
        return [{"params": list(G.parameters())}]
    noise = {id(m.weight) for m in G.modules() if isinstance(m, NoiseInjection)}
    if not noise:
        raise ValueError(f"noise_lr_mult={noise_lr_mult} but the generator has no noise inputs (use_noise off)")
    return [{"params": [p for p in G.parameters() if id(p) not in noise]},
            {"params": [p for p in G.parameters() if id(p) in noise], "lr_mult": float(noise_lr_mult)}]


@contextlib.contextmanager
def _deferred_sigint() -> Iterator[Callable[[], bool]]:
    """Turn the first SIGINT into a flag the loop polls between groups (a checkpoint written in the middle
    of a step would hold a D step without its G step); the second one raises KeyboardInterrupt at once.
    Outside the main thread signals cannot be caught, and the flag stays down."""
    hit = [False]
    if threading.current_thread() is not threading.main_thread():
        yield lambda: hit[0]
        return

    def handler(signum: int, frame: Any) -> None:
        if hit[0]:
            raise KeyboardInterrupt
        hit[0] = True
        print("\nCtrl-C: stopping after this group of minibatches and writing a checkpoint "
              "(Ctrl-C again aborts without one)", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: hit[0]
    finally:
        signal.signal(signal.SIGINT, previous)


def _next_multiple(nimg: int, every_kimg: float) -> int:
    """The first multiple of ``every_kimg`` (in images) strictly after ``nimg``."""
    step = max(int(round(every_kimg * 1000)), 1)
    return (nimg // step + 1) * step


def _progress_bar(show: bool, total: int, initial: int) -> Any:
    from disentangle_metrics._core.progress import progress_bar
    return progress_bar(total, "train", show, unit="img", initial=initial, unit_scale=True)


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True, max_steps: Optional[int] = None,
          echo: Optional[Callable[[str], None]] = None) -> Trainer:
    """Build a :class:`Trainer` (resuming from ``cfg.out/latest.pt`` when ``resume``) and run it."""
    trainer = Trainer(cfg, resume=resume, progress=progress, echo=echo)
    trainer.train(max_steps=max_steps)
    return trainer
