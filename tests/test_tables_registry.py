"""`dmetrics tables` runs its metric jobs through the metric registry with the scale's options."""

from __future__ import annotations

import dataclasses

import pytest

from reference_models.tables import run as tables_run
from reference_models.tables.run import RunOptions, metric_jobs, run_metric
from reference_models.tables.scale import SMOKE
from disentangle_metrics.metrics import registry
from disentangle_metrics._core.options import ScoreOptions
from disentangle_metrics.metrics.registry import get_metric
from disentangle_metrics._core.results import MetricResult

SCALE = dataclasses.replace(SMOKE, mirror=True, fid_reference="ffhq.zip", ls_keep=700, batch_metrics=24)


@pytest.fixture
def spies(monkeypatch):
    seen: dict[str, ScoreOptions] = {}

    def spy(name):
        def fn(G, opts):
            seen[name] = opts
            return MetricResult(metric=name, value=1.0, values={name: 1.0})
        return fn
    registry.list_metrics()   # the built-in metrics are registered before they are replaced
    for name in ("fid50k", "ppl_zfull", "ppl_zend", "ppl_wfull", "ppl_wend", "ls"):
        monkeypatch.setitem(registry.METRICS, name, spy(name))
    return seen


def test_every_job_goes_through_the_registry_with_the_scales_options(spies):
    classifier = object()
    for job in metric_jobs(True):
        run_metric(job, object(), SCALE, classifier, RunOptions(device="cpu", seed=3))
    assert set(spies) == {"fid50k", "ppl_zfull", "ppl_zend", "ppl_wfull", "ppl_wend", "ls"}
    f = spies["fid50k"]
    assert (f.num_samples, f.num_real, f.mirror, f.extractor, f.reference, f.batch_size, f.seed, f.device) == \
        (SCALE.fid_num_gen, SCALE.fid_num_real, True, SCALE.extractor, "ffhq.zip", 24, 3, "cpu")
    for job in ("ppl_zfull", "ppl_zend", "ppl_wfull", "ppl_wend"):
        p = spies[job]
        # PPL keeps its paper minibatch of 16 pairs (one noise draw each), as the tables always did
        assert (p.num_samples, p.distance, p.batch_size, p.seed) == (SCALE.ppl_samples, SCALE.distance, None, 3)
    s = spies["ls"]
    assert (s.num_samples, s.num_keep, s.classifier, s.batch_size) == (SCALE.ls_samples, 700, classifier, 24)


def test_the_testbed_reference_is_never_mirrored(spies):
    run_metric("fid", object(), dataclasses.replace(SCALE, fid_reference="testbed"), None, RunOptions(device="cpu"))
    assert spies["fid50k"].mirror is False


def test_jobs_without_a_mapping_network_are_z_only():
    assert metric_jobs(False) == ["fid", "ppl_zfull", "ppl_zend", "ls"]
    assert metric_jobs(True) == ["fid", "ppl_zfull", "ppl_zend", "ppl_wfull", "ppl_wend", "ls"]
    with pytest.raises(ValueError, match="unknown metric job 'ppl_x'"):
        run_metric("ppl_x", object(), SCALE, None, RunOptions())


def test_registered_ls_reads_num_keep(monkeypatch):
    import disentangle_metrics.metrics.separability as S
    got = {}
    monkeypatch.setattr(S, "separability", lambda G, clf, **kw: got.update(kw) or "result")
    get_metric("ls")(object(), ScoreOptions(num_samples=300, num_keep=120, classifier=object()))
    assert got["num_keep"] == 120 and got["num_samples"] == 300
    get_metric("ls")(object(), ScoreOptions(num_samples=300, classifier=object()))
    assert got["num_keep"] == 150                     # the paper's half by default
    with pytest.raises(ValueError, match="num_keep must be a positive integer"):
        ScoreOptions(num_keep=0)
