"""The recipe-probe driver's bookkeeping: which evaluation points of a probe are still to run."""

from pathlib import Path

from benchmarks.recipe_probe import _pending


def _curves(tmp_path: Path, rows: str) -> Path:
    """A curves.csv in the driver's format: header, floor row, then ``rows``."""
    path = tmp_path / "curves.csv"
    path.write_text("probe,kimg,fid,wall_s,img_per_s,spec,fid_raw_G\nfloor,0,10.2,0,0,{}\n" + rows)
    return path


def test_pending_lists_only_unrecorded_points_of_that_probe(tmp_path: Path) -> None:
    curves = _curves(tmp_path,
                     "w512,20.0,1072.3,265,77,{},1139.9\n"
                     "w512,40.0,646.7,474,98,{},911.7\n"
                     "other,60.0,600.0,1,1,{},700.0\n")
    assert _pending(curves, {"name": "w512", "evals": [20, 40]}) == []
    assert _pending(curves, {"name": "w512", "evals": [20, 40, 60, 80]}) == [60.0, 80.0]
    assert _pending(curves, {"name": "new", "evals": [20]}) == [20.0]


def test_plot_draws_the_chosen_probes_and_names_missing_ones(tmp_path: Path) -> None:
    import pytest

    from benchmarks.plot_learning_curves import plot

    curves = _curves(tmp_path,
                     "a,20.0,1072.3,265,77,{},1139.9\n"
                     "a,40.0,646.7,474,98,{},911.7\n"
                     "b,20.0,600.0,1,1,{},\n")
    plot(curves, tmp_path / "all.png")
    plot(curves, tmp_path / "b.png", ["b"], title="only b")
    assert (tmp_path / "all.png").stat().st_size > 0 and (tmp_path / "b.png").stat().st_size > 0
    with pytest.raises(ValueError, match="'c'"):
        plot(curves, tmp_path / "c.png", ["c"])


def test_seed_plot_groups_probes_and_names_missing_rows(tmp_path: Path) -> None:
    import pytest

    from benchmarks.plot_learning_curves import _family, plot_seeds

    assert _family("r1g30-s2") == ("r1g30", 2) and _family("lr0025+emaramp") == ("lr0025+emaramp", 0)
    curves = _curves(tmp_path,
                     "a,40.0,646.7,474,98,{},911.7\n"
                     "a-s1,40.0,700.0,474,98,{},911.7\n"
                     "b,20.0,600.0,1,1,{},\n")
    plot_seeds(curves, tmp_path / "s.png", {"a": ["a", "a-s1"]}, 40)
    assert (tmp_path / "s.png").stat().st_size > 0
    with pytest.raises(ValueError, match="40-kimg rows for probes \\['b'\\]"):   # b has no 40-kimg row
        plot_seeds(curves, tmp_path / "t.png", {"a": ["a"], "b": ["b"]}, 40)


def test_driver_takes_up_points_added_while_it_runs(tmp_path: Path, monkeypatch) -> None:
    # the driver with stand-ins for the trainer and its metric path: a queue line that gains an evaluation point
    # while its probe trains is continued in the same run (it used to be dropped until a restart)
    import json
    import sys

    import torch

    import reference_models.train as train_mod
    import reference_models.train.report as report_mod
    from benchmarks import recipe_probe

    queue = tmp_path / "queue.jsonl"
    queue.write_text(json.dumps({"name": "p", "evals": [10]}) + "\n")
    _curves(tmp_path, "")
    trained = []

    class FakeTrainer:
        def __init__(self, cfg, resume, progress):
            self.cfg, self.G, self.G_ema = cfg, torch.nn.Identity(), torch.nn.Identity()
            (tmp_path / "p").mkdir(exist_ok=True)

        def train(self):
            trained.append(self.cfg.total_kimg)
            if len(trained) == 1:     # someone extends the probe while it runs
                queue.write_text(json.dumps({"name": "p", "evals": [10, 20]}) + "\n")
            return {"skipped_steps": 0}

    monkeypatch.setattr(train_mod, "Trainer", FakeTrainer)
    monkeypatch.setattr(report_mod, "run_metrics", lambda G, names, run_dir, kimg, **kw: {names[0]: 100.0 - len(trained)})
    monkeypatch.setattr(sys, "argv", ["recipe_probe", "--root", str(tmp_path), "--queue", str(queue)])
    recipe_probe.main()
    assert trained == [10.0, 20.0]
    rows = (tmp_path / "curves.csv").read_text().splitlines()[2:]
    assert [r.split(",")[:3] for r in rows] == [["p", "10.0", "99.000"], ["p", "20.0", "98.000"]]
