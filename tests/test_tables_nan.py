"""Issue 23, item 7: a NaN cell (separability with too few kept samples in a class) is rendered with
its reason instead of failing the whole report, and claims that need it say so. (No smoke size
keeps separability defined for every generator: docs/reproduce_tables.md.)"""

from __future__ import annotations

import pytest

from reference_models.tables import scale as tables_scale
from reference_models.tables.paper import CLAIMS
from disentangle_metrics._core.results import MetricResult
from tests.test_tables import TINY, _install_fakes

WHY = "attribute(s) with fewer than 3 kept samples in one class: mustache; use more samples"


def _patch_nan_ls(monkeypatch) -> None:
    """Fake training and metrics; f-mixing90's W separability is NaN with the separability's reason."""
    def fake_train(scale, preset, preset_dir, opts):
        preset_dir.mkdir(parents=True, exist_ok=True)
        return preset_dir / f"{preset}.pt"

    def fake_metric(job, G, scale, classifier, opts):
        if job == "ls":
            vals = {"ls_z@testbed": 30.0, "ls_w@testbed": float("nan")}
            return MetricResult(metric="ls@testbed", value=float("nan"), values=vals, extras={"nan_reason": {"w": WHY}})
        return MetricResult(metric=job, value=10.0, values={job: 10.0})

    _install_fakes(monkeypatch, fake_train, fake_metric, lambda preset: True)
    monkeypatch.setitem(tables_scale.SCALES, "smoke", TINY)


@pytest.mark.parametrize("seeds", [None, 2])
def test_a_nan_cell_renders_with_its_reason(monkeypatch, tmp_path, seeds):
    from reference_models.tables import reproduce
    _patch_nan_ls(monkeypatch)
    lines: list[str] = []
    frames = reproduce("smoke", str(tmp_path), presets=["f-mixing90"], device="cpu", seeds=seeds, log=lines.append)
    md = (tmp_path / "table3.md").read_text()
    assert f"NaN ({WHY})" in md and "30" in md                     # ls_w NaN with why; ls_z shown
    verdicts = frames["claims"].set_index("claim")["verdict"]
    assert verdicts[CLAIMS[3].text] == f"undefined: f-mixing90 ls_w is NaN ({WHY})"   # W vs Z separability
    assert verdicts[CLAIMS[0].text] != "not measured"                                    # PPL claims unaffected
    assert any("[UNDEFINED" in line and "ls_w is NaN" in line for line in lines)
    # --report-only rewrites the same tables from what is measured
    reproduce("smoke", str(tmp_path), presets=["f-mixing90"], device="cpu", seeds=seeds, report_only=True,
              log=lambda s: None)
    assert f"NaN ({WHY})" in (tmp_path / "table3.md").read_text()


def test_an_interval_error_names_preset_and_metric(monkeypatch):
    from reference_models.tables import seeds as TS

    def broken(values, level=0.95):
        raise ValueError("seed_interval needs at least one finite value")
    monkeypatch.setattr(TS.I, "seed_interval", broken)
    run = TS.Run(0, {"f-mixing90": {"ppl_wend": 3.0}}, {})
    with pytest.raises(ValueError, match="preset f-mixing90, metric ppl_wend: seed_interval"):
        TS.aggregate([run])


def test_a_value_nan_in_one_seed_only_uses_the_others_and_says_so():
    from reference_models.tables import seeds as TS
    F = "f-mixing90"
    runs = [TS.Run(0, {F: {"ls_z": 30.0, "ls_w": 10.0}}, {}),
            TS.Run(1, {F: {"ls_z": 32.0, "ls_w": float("nan")}}, {}, {F: {"ls_w": WHY}})]
    cell = TS.aggregate(runs)[F]["ls_w"]
    assert cell.mean == 10.0 and cell.n == 1 and cell.text() == f"10 (NaN in some seeds: {WHY})"
    row = TS.claims_with_confidence(runs).set_index("claim").loc[CLAIMS[3].text]   # ls_z - ls_w > 0
    assert row["seeds_holding"] == "1/1" and row["margin"] == pytest.approx(20.0)
