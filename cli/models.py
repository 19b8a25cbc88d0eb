"""`dmetrics convert-official`: NVIDIA's StyleGAN (v1) TensorFlow pickles -> reference checkpoints."""

from __future__ import annotations

import click


@click.command("convert-official")
@click.argument("pkl", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="Output folder. A (G, D, Gs) pickle gives OUT/Gs, OUT/G and OUT/D; a single "
                   "network (e.g. a celebahq-classifier) gives a checkpoint folder OUT.")
def convert_official_cmd(pkl: str, out: str) -> None:
    """Convert an official StyleGAN (v1) pickle PKL without TensorFlow and without running its code.

    Other files (stylegan2-ada-pytorch / StyleGAN3 pickles, StyleGAN2 TensorFlow pickles, PyTorch
    checkpoints such as rosinality's) are refused with a line naming the command that fits them."""
    from reference_models.convert import ConversionError, convert_official

    from .output import check_out_dir
    check_out_dir(out)
    try:
        written = convert_official(pkl, out)
    except (ConversionError, OSError) as exc:
        raise click.ClickException(str(exc))
    for role, folder in written.items():
        click.echo(f"{role:10s} -> {folder}")


@click.command("init-model")
@click.argument("preset")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Checkpoint folder to write.")
@click.option("--resolution", default=1024, show_default=True, type=int)
@click.option("--fmap-base", default=None, type=int, help="Channel multiplier (official 8192).")
@click.option("--fmap-max", default=None, type=int, help="Channel cap (official 512).")
@click.option("--latent-size", default=None, type=int, help="z_dim = w_dim = mapping width (official 512).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the weight initialisation.")
def init_model_cmd(preset: str, out: str, resolution: int, fmap_base: int | None, fmap_max: int | None,
                   latent_size: int | None, seed: int) -> None:
    """Write a freshly initialised reference generator of PRESET (e.g. f-mixing90, b-traditional)
    as a checkpoint folder; `discriminator` and `classifier` give those networks instead."""
    import reference_models as rm

    from .output import check_out_dir
    check_out_dir(out)
    overrides = {k: v for k, v in dict(fmap_base=fmap_base, fmap_max=fmap_max).items() if v is not None}
    try:
        if preset == "discriminator":
            model = rm.build_discriminator(resolution=resolution, seed=seed, **overrides)
        elif preset == "classifier":
            model = rm.build_classifier(1, resolution=resolution, seed=seed, **overrides)
        else:
            if latent_size is not None:
                overrides["latent_size"] = latent_size
            model = rm.build_generator(preset, resolution=resolution, seed=seed, **overrides)
    except (KeyError, TypeError, ValueError) as exc:
        raise click.ClickException(str(exc).strip("'\""))
    folder = rm.save_checkpoint(model, out)
    params = sum(p.numel() for p in model.parameters())
    click.echo(f"{model.kind} {preset} {resolution}x{resolution}: {params:,} parameters -> {folder}")
