"""`dmetrics`: score generators, manage weights, check the protocol."""

from __future__ import annotations

import sys

import click

import disentangle_metrics
from disentangle_metrics._core import weights as W

from .loading import load_generator


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(disentangle_metrics.__version__, prog_name="dmetrics")
def main() -> None:
    """Evaluate generative image models with the StyleGAN paper's metrics."""


@main.group()
def weights() -> None:
    """List, verify and add the pretrained files the metrics need."""


@weights.command("list")
def weights_list() -> None:
    """Show every registered file and where it was found."""
    for name in sorted(W.REGISTRY):
        st = W.status(name)
        where = str(st.path) if st.path else st.message
        click.echo(f"{name:36s} {st.spec.filename:40s} {where}")


@weights.command("verify")
def weights_verify() -> None:
    """Check the sha256 of every file found; exit 1 on a mismatch."""
    bad = False
    for name in sorted(W.REGISTRY):
        st = W.status(name, check_hash=True)
        bad |= st.path is not None and not st.ok
        click.echo(f"{name:36s} {st.message}" + (f"  [{st.path}]" if st.path else ""))
    sys.exit(1 if bad else 0)


@weights.command("add")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", default=None, help="Registered name; by default found from the file's hash or name.")
@click.option("--allow-hash-mismatch", is_flag=True, help="Accept a file whose sha256 differs from the registry.")
def weights_add(path: str, name: str | None, allow_hash_mismatch: bool) -> None:
    """Copy a downloaded weights file into the cache."""
    try:
        dest = W.add(path, name, allow_hash_mismatch=allow_hash_mismatch)
    except (W.WeightsError, KeyError) as exc:
        raise click.ClickException(str(exc))
    click.echo(f"added {path} -> {dest}")


CHECK_EXAMPLES = """\b
Examples:
  dmetrics check reference_models/pretrained/mini-f-mixing90
  dmetrics check mypackage.models:make_generator --device cuda
  dmetrics check G.pkl --trust-pickle
"""


@main.command("check", epilog=CHECK_EXAMPLES)
@click.argument("generator")
@click.option("--trust-pickle", is_flag=True, help="Allow loading a pickle (runs code from the file).")
@click.option("--code-path", "code_path", multiple=True, type=click.Path(file_okay=False),
              help="Folder prepended to sys.path for a trusted pickle's code; repeatable.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
def check(generator: str, trust_pickle: bool, code_path: tuple[str, ...], device: str) -> None:
    """Validate GENERATOR against the generator protocol and PPL's precision check; exit 1 on violations.

    Checks shapes, dtype, finiteness, determinism with fixed noise and the value range: output that
    looks like [0, 1] or [0, 255] is a violation, a small overshoot of [-1, 1] a warning. Then the
    check PPL runs first: the distance must scale like eps^2 (a generator that quantises internally
    fails it). `dmetrics score` runs the protocol check first.
    """
    from disentangle_metrics.generators.precision_guard import eps_scaling
    from disentangle_metrics.generators.protocol import validate_generator
    from disentangle_metrics.generators.sources import GeneratorSource

    from .options import check_device
    device = check_device(device)
    try:
        from .score import _resolve
        G = load_generator(_resolve(generator), trust_pickle=trust_pickle, device=device, code_path=code_path)
    except Exception as exc:  # shown to the user as a one-line error, not a traceback
        raise click.ClickException(f"{type(exc).__name__}: {exc}")
    report = validate_generator(G, device=device)
    click.echo(f"{generator}: z_dim={G.z_dim} w_dim={G.w_dim} num_ws={G.num_ws} "
               f"resolution={G.img_resolution} channels={G.img_channels} c_dim={G.c_dim} "
               f"mapping={'yes' if getattr(G, 'has_mapping', True) else 'no'}")
    if report.ok:
        # The check PPL runs before measuring, with PPL's settings (float32 where the generator has a switch).
        ppl_src = GeneratorSource(G, device=device, force_fp32=True)
        rep = eps_scaling(ppl_src)
        prec = ppl_src.describe()["precision"]
        click.echo(f"adapter: {ppl_src.adapter}; PPL runs it in {prec}: eps^2 scaling "
                   f"{'ok' if rep.ok else 'FAILS'} (d(2eps)/d(eps) = {rep.pooled_ratio:.3g}, about 4 expected)")
        fid_prec = GeneratorSource(G, device=device).describe()["precision"]
        if fid_prec != prec:
            click.echo(f"FID-type metrics run it as its checkpoint says: {fid_prec}")
        if not rep.ok:
            report.problems.append(f"PPL precision check: {rep.message}")
    click.echo(str(report))
    sys.exit(0 if report.ok else 1)


# Each area's commands live in their own module; registered here in one place.
from .demo import demo  # noqa: E402
from .models import convert_official_cmd, init_model_cmd  # noqa: E402
from .ppl import distances_cmd  # noqa: E402
from .score import metrics_cmd, score  # noqa: E402
from .stats import stats  # noqa: E402
from .testbed import testbed  # noqa: E402
from .train import train_cmd  # noqa: E402
from .classifier import train_classifier_cmd  # noqa: E402
from .tables import tables_cmd  # noqa: E402
from .compare import compare_cmd  # noqa: E402

for _cmd in (demo, score, metrics_cmd, stats, distances_cmd, testbed, train_cmd, convert_official_cmd, init_model_cmd,
             train_classifier_cmd, tables_cmd, compare_cmd):
    main.add_command(_cmd)
from .edm2 import convert_edm2_ref_cmd  # noqa: E402
main.add_command(convert_edm2_ref_cmd)

if __name__ == "__main__":
    main()
