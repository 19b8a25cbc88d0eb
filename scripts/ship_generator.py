"""Ship a training run's G_ema as a pretrained folder (the demo generator is made this way).

    python scripts/ship_generator.py RUN_FOLDER reference_models/pretrained/mini-f-mixing90

Writes ``config.json`` + ``model.pt`` (state_dict, no pickled code) with the run's
``config.json`` as ``training_config.json``, its ``log.csv`` as ``training_log.csv`` and its last
sample grid as ``samples_<kimg>kimg.png``. The folder is replaced atomically.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import reference_models
from reference_models.checkpoint import save_checkpoint


def ship(run: Path, dest: Path) -> Path:
    """Copy G_ema of ``run/latest.pt`` and the run's config, log and last sample grid into ``dest``."""
    for name in ("latest.pt", "config.json", "log.csv"):
        if not (run / name).is_file():
            raise SystemExit(f"{run / name} is missing: RUN_FOLDER must be a `dmetrics train` run folder")
    grids = sorted(run.glob("fakes*.png"))
    if not grids:
        raise SystemExit(f"no fakes*.png sample grid in {run}")
    G = reference_models.load_checkpoint(run / "latest.pt")   # G_ema
    save_checkpoint(G, dest, extra_files={"training_config.json": (run / "config.json").read_text(),
                                          "training_log.csv": (run / "log.csv").read_text()})
    kimg = int(grids[-1].stem.removeprefix("fakes"))
    shutil.copyfile(grids[-1], dest / f"samples_{kimg}kimg.png")
    return dest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="`dmetrics train` run folder (latest.pt, config.json, log.csv)")
    p.add_argument("dest", type=Path, help="pretrained folder to (re)write")
    a = p.parse_args()
    print(ship(a.run, a.dest))


if __name__ == "__main__":
    main()
