"""Test bed: determinism, resolutions, config round trip and validation, the Dataset wrapper."""

import json

import numpy as np
import pytest
import torch

from disentangle_metrics.data.testbed import (ATTRIBUTES, Coupling, NuisanceRanges, TestbedConfig, TestbedDataset,
                                              render, render_batch, sample_attributes)


def test_same_index_same_pixels_whatever_the_batching():
    cfg = TestbedConfig(resolution=32)
    whole = render(cfg, np.arange(20))
    parts = torch.cat([render(cfg, np.arange(0, 7)), render(cfg, np.arange(7, 13)), render(cfg, np.arange(13, 20))])
    assert torch.equal(whole, parts)
    shuffled = np.array([13, 2, 19, 0])
    assert torch.equal(render(cfg, shuffled), whole[shuffled])
    assert torch.equal(render(cfg, np.arange(20)), whole)          # a second call
    imgs, attrs = render_batch(cfg, 5, 10)
    assert torch.equal(imgs, whole[5:15])
    assert np.array_equal(attrs.numpy().astype(bool), sample_attributes(cfg, np.arange(5, 15)))


def test_different_seeds_and_indices_differ():
    a = render(TestbedConfig(resolution=32, seed=0), np.arange(8))
    b = render(TestbedConfig(resolution=32, seed=1), np.arange(8))
    assert not torch.equal(a, b)
    per_image = (a.float() - b.float()).abs().mean((1, 2, 3))
    assert (per_image > 5).all()
    assert len({bytes(x.numpy().tobytes()) for x in a}) == 8


@pytest.mark.parametrize("resolution", [16, 32, 64, 128, 256])
def test_every_power_of_two_resolution_renders(resolution):
    imgs = render(TestbedConfig(resolution=resolution), np.arange(2))
    assert imgs.shape == (2, 3, resolution, resolution) and imgs.dtype == torch.uint8
    assert imgs.float().std() > 20  # not a blank image


def test_resolutions_show_the_same_face():
    small = render(TestbedConfig(resolution=32), np.arange(4)).float()
    big = render(TestbedConfig(resolution=128), np.arange(4)).float()
    down = torch.nn.functional.avg_pool2d(big, 4)
    other = torch.roll(down, 1, 0)
    assert (small - down).abs().mean() < 0.4 * (small - other).abs().mean()


@pytest.mark.parametrize("bad", [8, 48, 512, 64.0])
def test_bad_resolution_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="power of two from 16 to 256"):
        TestbedConfig(resolution=bad)


def test_config_validation_names_the_problem():
    with pytest.raises(ValueError, match="unknown attribute 'moustache'"):
        TestbedConfig(couplings=[Coupling("male", "moustache", 0.5)])
    with pytest.raises(ValueError, match="missing \\['hat'\\]"):
        TestbedConfig(marginals={a: 0.3 for a in ATTRIBUTES if a != "hat"})
    with pytest.raises(ValueError, match="strength must be in"):
        TestbedConfig(couplings=[Coupling("male", "beard", 1.5)])
    with pytest.raises(ValueError, match="given twice"):
        TestbedConfig(couplings=[Coupling("male", "beard", 0.5), Coupling("beard", "male", 0.2)])
    with pytest.raises(ValueError, match="NuisanceRanges.offset"):
        NuisanceRanges(offset=0.5)


def test_config_json_round_trip(tmp_path):
    cfg = TestbedConfig(resolution=128, seed=7, couplings=[Coupling("hat", "bangs", -0.3)],
                        forbidden=[("male", "earrings")], nuisance=NuisanceRanges(offset=0.05, scale=(0.9, 1.0)))
    path = tmp_path / "cfg.json"
    cfg.save(path)
    back = TestbedConfig.load(path)
    assert back == cfg
    assert torch.equal(render(back, [3]), render(cfg, [3]))


def test_config_load_errors_name_the_file(tmp_path):
    p = tmp_path / "cfg.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="cfg.json: not valid JSON"):
        TestbedConfig.load(p)
    p.write_text(json.dumps({"resolution": 64, "colour": "red"}))
    with pytest.raises(ValueError, match="cfg.json: unknown test bed config keys \\['colour'\\]"):
        TestbedConfig.load(p)
    p.write_text(json.dumps({"resolution": 100}))
    with pytest.raises(ValueError, match="cfg.json: invalid test bed config: .*power of two"):
        TestbedConfig.load(p)
    with pytest.raises(FileNotFoundError, match="missing.json does not exist"):
        TestbedConfig.load(tmp_path / "missing.json")


def test_dataset_items_match_the_batched_path():
    cfg = TestbedConfig(resolution=16)
    ds = TestbedDataset(cfg, num=6, offset=10)
    assert len(ds) == 6 and ds.attribute_names == ATTRIBUTES
    img, attr = ds[2]
    imgs, attrs = render_batch(cfg, 10, 6)
    assert img.dtype == torch.uint8 and img.shape == (3, 16, 16)
    assert torch.equal(img, imgs[2]) and torch.equal(attr, attrs[2])
    bimgs, battrs = ds.get_batch([0, 5])
    assert torch.equal(bimgs, imgs[[0, 5]]) and torch.equal(battrs, attrs[[0, 5]])
    with pytest.raises(IndexError):
        ds[6]
    loader = torch.utils.data.DataLoader(ds, batch_size=3)
    first_imgs, first_attrs = next(iter(loader))
    assert torch.equal(first_imgs, imgs[:3])
