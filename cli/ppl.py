"""`dmetrics distances`: the perceptual distances PPL can use (``--distance NAME``)."""

from __future__ import annotations

import click


@click.command("distances")
def distances_cmd() -> None:
    """List the registered PPL distances (the first is the paper's default)."""
    from disentangle_metrics.metrics.distances import DEFAULT_DISTANCE, DISTANCES, list_distances
    for name in sorted(list_distances(), key=lambda n: (n != DEFAULT_DISTANCE, n)):
        spec = DISTANCES.get(name)
        desc = spec.description if spec else "(registered when first used)"
        click.echo(f"{name:24s} {desc}{'  [default]' if name == DEFAULT_DISTANCE else ''}")
