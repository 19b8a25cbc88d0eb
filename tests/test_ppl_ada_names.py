"""stylegan2-ada-pytorch's PPL definitions under their own names (ppl2_wend, ppl_*@ada)."""

import pytest

from disentangle_metrics.metrics.ppl import ADA_BATCH_SIZE, ADA_DISTANCE, ppl
from disentangle_metrics._core.options import ScoreOptions
from disentangle_metrics.metrics.registry import get_metric, list_metrics
from disentangle_metrics._core.weights import MissingWeightsError
from tests.test_ppl import sql2
from tests.toy_generators_ppl import LinearGenerator


def test_registered_under_names_apart_from_the_papers():
    names = set(list_metrics())
    assert {"ppl2_wend", "ppl_zfull@ada", "ppl_wfull@ada", "ppl_zend@ada", "ppl_wend@ada"} <= names
    assert {"ppl_zfull", "ppl_wfull", "ppl_zend", "ppl_wend"} <= names       # the paper's keep the plain names


@pytest.mark.parametrize("name, crop, space, samp", [("ppl2_wend", False, "w", "end"), ("ppl_zfull@ada", True, "z", "full")])
def test_definition_constants_and_names(name, crop, space, samp):
    opts = ScoreOptions(device="cpu", num_samples=12, distance=sql2, progress=False, seed=3)
    r = get_metric(name)(LinearGenerator(), opts)
    assert (r.config["crop"], r.config["space"], r.config["sampling"]) == (crop, space, samp)
    assert r.config["mode"] == "ada" and r.config["batch_size"] == ADA_BATCH_SIZE == 2
    assert r.config["definition"].startswith("stylegan2-ada-pytorch")
    base = name.partition("@")[0]
    assert r.metric == base + "@custom-sql2" + ("+ada" if "@ada" in name else "")
    same = ppl(LinearGenerator(), space, samp, num_samples=12, crop=crop, distance=sql2, batch_size=2, mode="ada",
               seed=3, device="cpu")
    assert same.value == r.value
    psi = get_metric(name)(LinearGenerator(), ScoreOptions(device="cpu", num_samples=12, distance=sql2,
                                                           progress=False, truncation_psi=0.5))
    assert psi.metric.endswith("+psi0.5")


def test_default_distance_is_their_vgg16():
    with pytest.raises(MissingWeightsError, match="vgg16.pt"):
        get_metric("ppl2_wend")(LinearGenerator(), ScoreOptions(device="cpu", num_samples=4, progress=False))
    assert ADA_DISTANCE == "lpips-vgg-nvidia"
