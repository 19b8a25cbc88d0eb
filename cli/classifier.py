"""`dmetrics train-classifier`: train a reference attribute classifier on a labelled dataset or the test bed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import click


@click.command("train-classifier")
@click.argument("dataset")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: config.json + model.pt (reference_models checkpoint), training.json, accuracy.md.")
@click.option("--attributes", default=None, help="Comma-separated attribute names (default: all of the dataset's).")
@click.option("--resolution", type=int, default=32, show_default=True, help="Classifier input resolution.")
@click.option("--steps", type=int, default=2000, show_default=True)
@click.option("--batch", "batch_size", type=int, default=128, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Weight initialisation and batch order.")
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--fmap-base", type=int, default=256, show_default=True, help="Width scale (official: 8192).")
@click.option("--fmap-max", type=int, default=64, show_default=True, help="Widest layer (official: 512).")
@click.option("--num-validation", type=int, default=None,
              help="Held-out images (default: 2000 test bed images / 1000 rows of a labelled folder).")
@click.option("--eval-every", type=int, default=250, show_default=True)
@click.option("--labels", "labels_path", type=click.Path(dir_okay=False), default=None,
              help="Label file of a folder dataset (default DATASET/list_attr_celeba.txt; CSV also read).")
@click.option("--testbed-config", type=click.Path(dir_okay=False), default=None,
              help="Test bed config JSON (default: the default TestbedConfig, rendered at its resolution).")
@click.option("--render-resolution", "render_resolutions", type=int, multiple=True,
              help="Test bed: render at these resolutions (cycled per step) and box-downsample (default: the config's).")
@click.option("--threshold", type=float, default=0.95, show_default=True,
              help="Mark attributes below this held-out accuracy in accuracy.md.")
def train_classifier_cmd(dataset: str, out_dir: str, attributes: Optional[str], resolution: int, steps: int,
                         batch_size: int, seed: int, lr: float, fmap_base: int, fmap_max: int,
                         num_validation: Optional[int], eval_every: int, labels_path: Optional[str],
                         testbed_config: Optional[str], render_resolutions: tuple[int, ...], threshold: float) -> None:
    """Train an attribute classifier (discriminator architecture, one logit per attribute, logistic loss).

    DATASET is `testbed` (the procedural test bed rendered on the fly: every step sees new images;
    held out: indices from 10^9) or a folder of images with CelebA's list_attr_celeba.txt (held
    out: its last rows). Writes OUT as a reference_models checkpoint plus the held-out accuracy
    per attribute (training.json, accuracy.md).
    """
    from reference_models.classifier_data import FolderData, TestbedData
    from reference_models.classifier_training import (ClassifierTrainConfig, parse_attributes, train_classifier,
                                                      write_outputs)
    try:
        cfg = ClassifierTrainConfig(resolution=resolution, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                                    fmap_base=fmap_base, fmap_max=fmap_max, eval_every=eval_every)
        if dataset == "testbed" and not Path(dataset).exists():
            from disentangle_metrics.data.testbed import TestbedConfig
            tb = TestbedConfig.load(testbed_config) if testbed_config else TestbedConfig()
            names = parse_attributes(attributes, tb.attribute_names)
            data = TestbedData(tb, names, resolution, list(render_resolutions) or None,
                               num_validation=num_validation or 2000)
        else:
            if testbed_config or render_resolutions:
                raise ValueError("--testbed-config and --render-resolution apply to DATASET=testbed only")
            names = parse_attributes(attributes, _label_names(dataset, labels_path)) if attributes else None
            data = FolderData(dataset, names, resolution, labels_path=labels_path,
                              num_validation=num_validation or 1000)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc))
    from .output import check_out_dir
    check_out_dir(out_dir)     # before the training, not after
    click.echo(f"training a {resolution}x{resolution} classifier for {len(data.attribute_names)} attributes, "
               f"{steps} steps of {batch_size} images")
    t0 = time.perf_counter()
    result = train_classifier(cfg, data, log=click.echo)
    write_outputs(result, cfg, out_dir, data.describe(), threshold=threshold)
    click.echo(f"held-out accuracy ({result.num_validation} images): mean {result.mean_accuracy:.4f}, "
               f"min {result.min_accuracy:.4f}; {time.perf_counter() - t0:.0f} s")
    below = [n for n, a in result.accuracy.items() if a < threshold]
    if below:
        click.echo(f"below {threshold:.0%}: {', '.join(below)}")
    click.echo(f"wrote {Path(out_dir) / 'config.json'}, model.pt, training.json, accuracy.md")


def _label_names(dataset: str, labels_path: Optional[str]) -> list[str]:
    from disentangle_metrics.data.labels import CELEBA_FILENAME, read_attributes
    return read_attributes(Path(labels_path) if labels_path else Path(dataset) / CELEBA_FILENAME).names
