"""Parameter counts at 1024x1024 equal those of the official networks (variable shapes enumerated
from networks_stylegan.py in tests/_official_stylegan.py), and match the paper's 26.2M / 23.1M."""

import pytest
import torch

import reference_models as rm
from tests._official_stylegan import discriminator_vars, mapping_vars, synthesis_vars, trainable_count


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("preset, depth, styles, const, noise", [
    ("f-mixing90", 8, True, True, True),
    ("e-noise", 8, True, True, True),
    ("d-style", 8, True, True, False),
    ("style-map0", 0, True, True, True),
    ("style-map2", 2, True, True, True),
    ("b-traditional", 0, False, False, False),
    ("traditional-map8", 8, False, False, False),
])
def test_generator_count_equals_official(preset, depth, styles, const, noise):
    G = rm.build_generator(preset, resolution=1024, device="meta")
    official = trainable_count(mapping_vars(512, 512, depth, 512) + synthesis_vars(1024, 512, styles, const, noise))
    assert _count(G) == official


def test_paper_sizes():
    style = _count(rm.build_generator("f-mixing90", device="meta"))
    trad = _count(rm.build_generator("b-traditional", device="meta"))
    assert style == 26_219_627 and round(style / 1e6, 1) == 26.2
    assert trad == 23_079_115 and round(trad / 1e6, 1) == 23.1


def test_discriminator_count_equals_official():
    D = rm.build_discriminator(resolution=1024, device="meta")
    assert _count(D) == trainable_count(discriminator_vars(1024))
    C = rm.build_classifier(40, resolution=256, device="meta")
    assert _count(C) == trainable_count(discriminator_vars(256, mbstd=False, outputs=40))
