"""`dmetrics train`: train a reference StyleGAN preset (reference_models.train)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Optional

import click
from click.core import ParameterSource

# CLI option -> TrainConfig field, for options copied as they are.
_DIRECT = {
    "data": "data", "resolution": "resolution", "kimg": "total_kimg", "seed": "seed", "batch": "batch",
    "progressive": "progressive", "lod_initial_resolution": "lod_initial_resolution",
    "lod_training_kimg": "lod_training_kimg", "lod_transition_kimg": "lod_transition_kimg",
    "minibatch_repeats": "minibatch_repeats", "tick_kimg": "tick_kimg", "ckpt_every": "ckpt_every_kimg",
    "snapshots": "keep_snapshots", "metrics_every": "metrics_every_kimg", "metrics_num_samples": "metrics_num_samples",
    "metrics_extractor": "metrics_extractor", "metrics_reference": "metrics_reference", "device": "device",
    "precision": "precision", "mirror": "mirror", "testbed_num": "testbed_num", "workers": "data_workers", "grid": "grid_size",
    "threads": "threads", "lr": "lr_base", "ema_rampup": "g_smoothing_rampup", "r1_gamma": "r1_gamma",
}


def _preset_epilog() -> str:
    from reference_models.configs import GENERATOR_PRESETS, PRESET_ALIASES
    from reference_models.train.config import MINI_RECIPE_ARGS
    aliases = ", ".join(f"{a} = {t}" for a, t in sorted(PRESET_ALIASES.items()))
    return (f"\b\nPresets: {', '.join(sorted(GENERATOR_PRESETS))}\nAliases: {aliases}\n\n"
            "The defaults are the official recipe (25,000 kimg, 512-wide networks): weeks on a CPU. The tables' "
            f"mini scale trains in hours on a CPU: {MINI_RECIPE_ARGS}. Ctrl-C stops after the current group of minibatches with a "
            "checkpoint; --resume continues.")


class _TrainCommand(click.Command):
    """Lists the presets in --help, read when help is asked for (not at import)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.epilog = _preset_epilog()
        super().format_epilog(ctx, formatter)


def score_command(cfg: Any, checkpoint: Path) -> str:
    """The `dmetrics score` command line that scores ``checkpoint`` of a run trained with ``cfg``."""
    from reference_models.train import TESTBED

    out = shlex.quote(str(Path(cfg.out) / "scores.jsonl"))
    if cfg.data == TESTBED:
        return (f"dmetrics score {shlex.quote(str(checkpoint))} --metrics fid10k --extractor testbed --reference testbed "
                f"--num-real {min(cfg.testbed_num, 10_000)} --out {out}")
    return f"dmetrics score {shlex.quote(str(checkpoint))} --metrics fid50k --reference {shlex.quote(cfg.data)} --out {out}"


@click.command("train", cls=_TrainCommand)
@click.argument("preset")
@click.option("--data", default="testbed", show_default=True, help="'testbed' or a folder / .zip / .npy of images.")
@click.option("--resolution", type=int, default=32, show_default=True)
@click.option("--kimg", type=float, default=25000.0, show_default=True, help="Total length in thousands of real images.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder (checkpoints, log, grids).")
@click.option("--resume", is_flag=True, help="Continue OUT/latest.pt; options not given are taken from OUT/config.json.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch", type=int, default=None, help="One minibatch size at every resolution (default: official table).")
@click.option("--fmap-max", type=int, default=None, help="Widest layer of G and D (official 512).")
@click.option("--fmap-base", type=int, default=None, help="Channel rule base of G and D (official 8192).")
@click.option("--latent-size", type=int, default=None, help="Size of Z, W and the mapping layers (official 512).")
@click.option("--progressive/--fixed", default=True, show_default=True, help="Progressive growing or fixed resolution.")
@click.option("--lod-initial-resolution", type=int, default=8, show_default=True)
@click.option("--lod-training-kimg", type=float, default=600.0, show_default=True)
@click.option("--lod-transition-kimg", type=float, default=600.0, show_default=True)
@click.option("--minibatch-repeats", type=int, default=4, show_default=True)
@click.option("--tick-kimg", type=float, default=4.0, show_default=True, help="Log row and image grid interval.")
@click.option("--ckpt-every", type=float, default=10.0, show_default=True, help="Checkpoint interval in kimg.")
@click.option("--snapshots/--no-snapshots", default=True, show_default=True, help="Keep snapshot-*.pt besides latest.pt.")
@click.option("--metrics", "metrics", default=None,
              help="Comma-separated metrics as `dmetrics score` takes them (e.g. fid10k@testbed,kid10k_full) run on "
                   "G_ema; each writes metric-NAME.jsonl (kimg, value, interval) and its curve metric-NAME.png.")
@click.option("--metrics-every", type=float, default=0.0, show_default=True,
              help="Metrics interval in kimg; 0: at every checkpoint (--ckpt-every), as stylegan2-ada's snapshots.")
@click.option("--metrics-num-samples", type=int, default=None)
@click.option("--metrics-extractor", default="testbed", show_default=True)
@click.option("--metrics-reference", default=None,
              help="Reference of the metrics (stats .npz, dataset, 'testbed'); default: the training data.")
@click.option("--device", default="auto", show_default=True)
@click.option("--precision", type=click.Choice(["float32", "bf16"]), default="float32", show_default=True,
              help="float32 as the official training; bf16 autocast (CUDA only) is faster but not the official numbers.")
@click.option("--mirror/--no-mirror", default=True, show_default=True)
@click.option("--testbed-num", type=int, default=10_000, show_default=True, help="Test-bed images in the training set.")
@click.option("--workers", type=int, default=4, show_default=True, help="Image-reading threads for folder data.")
@click.option("--grid", type=int, default=8, show_default=True, help="Image grid side (grid x grid images).")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice).")
@click.option("--lr", type=float, default=0.001, show_default=True,
              help="Adam learning rate at resolutions outside the official table (lr_dict: 0.0015 at 128 up to "
                   "0.003 at 512-1024); the mini recipe uses 0.0025 at 32x32.")
@click.option("--ema-rampup", type=float, default=None,
              help="G_ema half-life ramp-up: half-life <= this * images so far (stylegan2-ada; the mini recipe "
                   "uses 0.05). Default: the paper's fixed 10 kimg half-life.")
@click.option("--r1-gamma", type=float, default=10.0, show_default=True, help="R1 regularisation weight.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr.")
@click.pass_context
def train_cmd(ctx: click.Context, preset: str, out: str, resume: bool, progress: bool, fmap_max: Optional[int],
              fmap_base: Optional[int], latent_size: Optional[int], metrics: Optional[str], **options: Any) -> None:
    """Train generator PRESET (listed below) with its discriminator, into the run folder OUT."""
    from reference_models.configs import preset_names
    from reference_models.train import TrainConfig, Trainer
    from reference_models.train.data import DataError
    from reference_models.train.loop import NonFiniteError, TrainingInterrupted
    from reference_models.train.state import ResumeError

    if preset not in preset_names():
        raise click.BadParameter(f"unknown preset {preset!r}; choose one of {', '.join(preset_names())}", param_hint="PRESET")
    from .output import check_out_dir
    check_out_dir(out)     # before the reals are rendered and the networks built
    given = {name for name in list(options) + ["fmap_max", "fmap_base", "latent_size", "metrics"]
             if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}
    saved = Path(out) / "config.json"
    base: dict[str, Any] = {}
    if resume and saved.is_file():
        base = TrainConfig.load(saved).to_dict()
    values = dict(base) if base else {"preset": preset, "out": out}
    values.update(preset=preset, out=out)
    for opt, fld in _DIRECT.items():
        if not base or opt in given:
            values[fld] = options[opt]
    if not base or given & {"fmap_max", "fmap_base", "latent_size"}:
        g = dict(values.get("g_overrides", {}))
        d = dict(values.get("d_overrides", {}))
        for name, value in (("fmap_max", fmap_max), ("fmap_base", fmap_base)):
            if value is not None:
                g[name] = d[name] = value
        if latent_size is not None:
            g["latent_size"] = latent_size
        values.update(g_overrides=g, d_overrides=d)
    if not base or "metrics" in given:
        values["metrics"] = [m.strip() for m in (metrics or "").split(",") if m.strip()]
    try:
        cfg = TrainConfig.from_dict(values, source="command line")
        trainer = Trainer(cfg, resume=resume, progress=progress, echo=click.echo)
        done = trainer.train()
    except (ResumeError, DataError, FileExistsError, NonFiniteError, ValueError) as exc:
        raise click.ClickException(str(exc))
    except TrainingInterrupted as exc:
        click.echo(f"interrupted at {exc.nimg / 1000:.3f} kimg: checkpoint written to {exc.checkpoint}\n"
                   f"continue with: dmetrics train {preset} --out {shlex.quote(out)} --resume\n"
                   f"score what it has so far: {score_command(cfg, trainer.latest_snapshot())}")
        ctx.exit(130)
    click.echo(f"done: {done['nimg'] / 1000:.3f} kimg, {done['step']} steps, "
               f"{done['skipped_steps']} skipped; checkpoint {Path(out) / 'latest.pt'}\n"
               f"score it: {score_command(cfg, trainer.latest_snapshot())}")
