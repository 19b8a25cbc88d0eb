"""`dmetrics demo`: score the embedded default generator with every metric this machine can compute.

The embedded default is the mini config-F generator trained on the procedural test bed at 32x32
(``reference_models/pretrained/mini-f-mixing90``), scored with the shipped test-bed classifier: its
features for FID and KID (one shared pass), its activations as an LPIPS-style PPL distance, its
logits for separability.
The metric names carry the network (``fid50k@testbed``, ``ppl_wend@testbed-lpips``, ``ls@testbed``)
so they can never be mistaken for the paper's Inception/LPIPS numbers. When the Inception and
VGG16 weights are present, the paper's networks are used as well.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import click

import reference_models
from disentangle_metrics._core import weights as W
from disentangle_metrics._core.results import MetricResult, append_result, format_value

# beside reference_models' code, in the checkout and in an installed wheel alike (cli installs as disentangle_metrics_cli)
DEMO_GENERATOR = Path(reference_models.__file__).resolve().parent / "pretrained" / "mini-f-mixing90"


@dataclass(frozen=True)
class DemoSizes:
    """Samples per metric: small enough for a few minutes on 2 CPU cores."""

    fid: int = 10_000
    ppl: int = 5_000
    ls: int = 20_000


QUICK = DemoSizes(fid=256, ppl=64, ls=1024)   # ls: enough kept samples that no attribute class is a handful


Run = Callable[[], "MetricResult | list[MetricResult]"]


def _runs(G, clf, sizes: DemoSizes, seed: int, device: str) -> list[tuple[str, Run]]:
    from disentangle_metrics import fid
    from disentangle_metrics.metrics.image import count_name
    from disentangle_metrics.metrics.ppl import ppl
    from disentangle_metrics.metrics.scoring import score
    from disentangle_metrics.metrics.separability import separability

    fid_name = count_name(sizes.fid)
    runs: list[tuple[str, Run]] = [
        # named by the count actually used (fid10k, not the paper's fid50k); FID and KID share one
        # pass over the generated images (FID equals fid()'s number for number)
        (f"{fid_name}@testbed + KID", lambda: score(G, ["fid50k", "kid50k_full"], reference="testbed", extractor="testbed",
                                                    num_samples=sizes.fid, num_real=sizes.fid, seed=seed, device=device,
                                                    batch_size=64, progress=True)),
    ]
    for space in ("z", "w"):
        for samp in ("full", "end"):
            runs.append((f"ppl_{space}{samp}@testbed-lpips",
                         lambda space=space, samp=samp: ppl(G, space, samp, num_samples=sizes.ppl, distance="testbed-lpips",
                                                            seed=seed, device=device, progress=True)))
    runs.append(("ls@testbed", lambda: separability(G, clf, num_samples=sizes.ls, num_keep=sizes.ls // 2, seed=seed,
                                                    device=device, batch_size=64, progress=True)))
    # The paper's networks, when their weights are on this machine.
    if W.status("inception-2015-12-05-pytorch-fid").path is not None:
        runs.append((f"{fid_name} (Inception, vs test bed)",
                     lambda: fid(G, "testbed", num_samples=sizes.fid, num_real=sizes.fid, seed=seed, device=device,
                                 progress=True, metric=fid_name)))
    if W.status("vgg16-torchvision").path is not None:
        runs.append(("ppl_wend (LPIPS-VGG)", lambda: ppl(G, "w", "end", num_samples=sizes.ppl, seed=seed, device=device,
                                                                progress=True)))
    return runs


@click.command("demo")
@click.option("--generator", default=None, help="Generator to score (default: the embedded mini config-F checkpoint).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="out/demo", show_default=True)
@click.option("--quick", is_flag=True, help="Tiny sample counts (seconds; for smoke tests, numbers are noisy).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", type=int, default=None,
              help="CPU threads for torch (default: torch's choice; 1 is faster on a machine shared with other jobs).")
def demo(generator: Optional[str], out_dir: str, quick: bool, seed: int, device: str, threads: Optional[int]) -> None:
    """Score the embedded default generator, print a table, write results and a picture sheet."""
    import torch

    from .loading import load_generator, load_object
    from .pictures import picture_sheet
    from disentangle_metrics._core.device import resolve_device
    from disentangle_metrics.generators.protocol import validate_generator

    if threads:
        torch.set_num_threads(threads)
    spec = generator or str(DEMO_GENERATOR)
    if generator is None and not DEMO_GENERATOR.is_dir():
        raise click.ClickException(f"the embedded checkpoint {DEMO_GENERATOR} is missing from this checkout")
    dev = str(resolve_device(device))
    from .output import check_out_dir
    check_out_dir(out_dir)
    G = load_generator(spec, device=dev)
    clf = load_object("testbed")
    out = Path(out_dir)
    results_file = out / "results.jsonl"
    click.echo(f"generator: {spec}\n  z_dim={G.z_dim} w_dim={G.w_dim} num_ws={G.num_ws} "
               f"resolution={G.img_resolution}  device={dev}")
    report = validate_generator(G, device=dev)
    click.echo("  protocol: " + ("ok" if report.ok else "; ".join(report.problems)))
    sheet = picture_sheet(G, out / "sheet.png", seed=seed, device=dev)
    click.echo(f"  picture sheet: {sheet}")

    sizes = QUICK if quick else DemoSizes()
    rows = []
    t_all = time.perf_counter()
    for label, run in _runs(G, clf, sizes, seed, dev):
        t0 = time.perf_counter()
        got = run()
        for res in got if isinstance(got, list) else [got]:
            res.extras.setdefault("generator", spec)
            append_result(results_file, res, samples_dir=out / "samples")
            for name in res.values:
                rows.append((name, res, res.num_samples, time.perf_counter() - t0))
        click.echo(f"  {label:34s} done in {time.perf_counter() - t0:6.1f} s")
    click.echo("")
    click.echo(f"{'metric':34s} {'value +- 95% half-width [95% interval]':>44s} {'samples':>8s} {'time (s)':>9s}")
    click.echo("-" * 98)
    for name, res, n, t in rows:
        click.echo(f"{name:34s} {format_value(res, name):>44s} {n:>8d} {t:>9.1f}")
    click.echo("-" * 98)
    click.echo(f"total {time.perf_counter() - t_all:.0f} s; results appended to {results_file}")
    if W.status("inception-2015-12-05-pytorch-fid").path is None:
        click.echo("Inception FID and LPIPS-VGG PPL skipped: their weights are not on this machine "
                   "(`dmetrics weights list` says where to put them).")
