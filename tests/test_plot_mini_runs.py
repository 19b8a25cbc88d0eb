"""benchmarks.plot_mini_runs: the runs' training logs gathered into one curve table and a plot."""

from __future__ import annotations

import pandas as pd
import pytest

from benchmarks.plot_mini_runs import COLUMNS, main


def test_collects_every_run_log_and_plots(tmp_path):
    for seed in (0, 1):
        for preset in ("b-traditional", "f-mixing90"):
            d = tmp_path / f"seed{seed}" / preset / "train"
            d.mkdir(parents=True)
            pd.DataFrame({c: [1.0 + seed, 2.0] for c in COLUMNS[2:]} | {"step": [1, 2]}).to_csv(d / "log.csv", index=False)
    assert main([str(tmp_path)]) == 0
    df = pd.read_csv(tmp_path / "training_curves.csv")
    assert list(df.columns) == COLUMNS and len(df) == 8
    assert set(zip(df.preset, df.seed)) == {(p, s) for p in ("b-traditional", "f-mixing90") for s in (0, 1)}
    assert df[(df.seed == 1) & (df.preset == "f-mixing90")].loss_D.tolist() == [2.0, 2.0]
    assert (tmp_path / "training_curves.png").stat().st_size > 1000


def test_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="seed<k>/<preset>"):
        main([str(tmp_path)])
