"""Label correctness: each attribute is visibly present in the pixels of the region it affects.

For every attribute, the same images (same nuisances) are rendered with the attribute off and on; the
change must have the expected direction in the attribute's region (darker, brighter, bluer...) and,
for local attributes, lie almost entirely inside a generous neighbourhood of that region.
"""

import numpy as np
import pytest
import torch

from disentangle_metrics.data import testbed_render as TR
from disentangle_metrics.data.testbed import ATTRIBUTES, TestbedConfig, face_layout, render, render_attributes, sample_attributes

R = 64
IDX = np.arange(100, 112)


def _lum(img: torch.Tensor) -> torch.Tensor:
    x = img.float()
    return 0.3 * x[:, 0] + 0.59 * x[:, 1] + 0.11 * x[:, 2]


def _pair(name: str, base: dict[str, bool] | None = None):
    """Images with ``name`` off and on (other attributes from ``base``, default all off) and the layout."""
    cfg = TestbedConfig(resolution=R)
    off = np.zeros((len(IDX), len(ATTRIBUTES)), dtype=bool)
    for k, v in (base or {}).items():
        off[:, ATTRIBUTES.index(k)] = v
    on = off.copy()
    on[:, ATTRIBUTES.index(name)] = True
    layout = face_layout(cfg, IDX, on)
    X, Y = layout.local_grid(R)
    return render_attributes(cfg, IDX, off), render_attributes(cfg, IDX, on), X, Y, layout


def _region_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image mean of values [N, R, R] over mask [N, R, R]."""
    m = mask.float()
    assert (m.sum((1, 2)) > 0).all(), "empty region: the test's region is wrong"
    return (values * m).sum((1, 2)) / m.sum((1, 2))


def _local(off, on, mask, min_fraction=0.85):
    diff = (on.float() - off.float()).abs().sum(1)
    inside = (diff * mask.float()).sum((1, 2))
    total = diff.sum((1, 2))
    assert (total > 0).all(), "the attribute changed nothing"
    frac = inside / total
    assert (frac >= min_fraction).all(), f"only {frac.min():.2f} of the change lies in the attribute's region"


def test_eyeglasses_darken_rings_around_the_eyes():
    off, on, X, Y, L = _pair("eyeglasses")
    Xf = X - L.fx
    ring = (((Xf.abs() - TR.EYE_X) ** 2 + (Y - TR.EYE_Y - L.fy) ** 2).sqrt() - 0.105).abs() < 0.015
    drop = _region_mean(_lum(off), ring) - _region_mean(_lum(on), ring)
    assert (drop > 60).all(), drop
    _local(off, on, ((Y - TR.EYE_Y - L.fy).abs() < 0.2) & (X.abs() < L.a + 0.05))


def test_hat_changes_the_top_region_only():
    off, on, X, Y, L = _pair("hat")
    top = (Y < TR.HAT_BRIM_Y - 0.08) & (X.abs() < L.a * 0.85)
    change = _region_mean((on.float() - off.float()).abs().sum(1), top)
    assert (change > 60).all(), change
    _local(off, on, Y < TR.HAT_BRIM_Y + 0.1)


def test_dark_background_lowers_corner_luminance():
    off, on, X, Y, L = _pair("dark_background")
    c = (torch.arange(R) + 0.5) * 2 / R - 1
    corners = ((c.view(1, -1).abs() > 0.8) & (c.view(-1, 1) < -0.8)).expand(len(IDX), R, R)
    drop = _region_mean(_lum(off), corners) - _region_mean(_lum(on), corners)
    assert (drop > 70).all(), drop


def test_dark_background_separates_corner_luminance_in_sampled_images():
    cfg = TestbedConfig(resolution=32)
    idx = np.arange(200)
    imgs, attrs = render(cfg, idx), sample_attributes(cfg, idx)
    lum = _lum(imgs)
    corner = torch.cat([lum[:, :3, :3].flatten(1), lum[:, :3, -3:].flatten(1)], 1).mean(1)
    dark = torch.as_tensor(attrs[:, ATTRIBUTES.index("dark_background")])
    assert dark.any() and (~dark).any()
    assert corner[dark].max() < corner[~dark].min() - 30


def test_smiling_shows_teeth_in_the_mouth_region():
    off, on, X, Y, L = _pair("smiling")
    mouth = ((X - L.fx).abs() < 0.17) & ((Y - TR.MOUTH_Y - L.fy).abs() < 0.08)
    bright_off = ((_lum(off) > 200) & mouth).sum((1, 2))
    bright_on = ((_lum(on) > 200) & mouth).sum((1, 2))
    assert (bright_on >= bright_off + 4).all(), (bright_off, bright_on)
    _local(off, on, ((X - L.fx).abs() < 0.25) & ((Y - TR.MOUTH_Y - L.fy).abs() < 0.15))


def test_mouth_open_darkens_the_mouth_region():
    off, on, X, Y, L = _pair("mouth_open")
    mouth = ((X - L.fx).abs() < 0.1) & ((Y - TR.MOUTH_Y - L.fy).abs() < 0.07)
    drop = _region_mean(_lum(off), mouth) - _region_mean(_lum(on), mouth)
    assert (drop > 25).all(), drop
    _local(off, on, ((X - L.fx).abs() < 0.25) & ((Y - TR.MOUTH_Y - L.fy).abs() < 0.15))


def _sclera_like(img: torch.Tensor) -> torch.Tensor:
    """Bright, colourless pixels: only the white of an open eye looks like that on a face."""
    x = img.float()
    return (x.min(1).values / (x.max(1).values + 1e-6) > 0.95) & (_lum(img) > 120)


@pytest.mark.parametrize("base", [{}, {"pale_skin": True}])
def test_eyes_closed_removes_the_white_of_the_eyes(base):
    off, on, X, Y, L = _pair("eyes_closed", base)
    eyes = (((X - L.fx).abs() - TR.EYE_X).abs() < 0.1) & ((Y - TR.EYE_Y - L.fy).abs() < 0.06)
    assert ((_sclera_like(off) & eyes).sum((1, 2)) >= 2).all()
    assert (_sclera_like(on) & eyes).sum() == 0
    _local(off, on, (((X - L.fx).abs() - TR.EYE_X).abs() < 0.14) & ((Y - TR.EYE_Y - L.fy).abs() < 0.1))


def test_beard_darkens_the_chin():
    off, on, X, Y, L = _pair("beard")
    chin = (X.abs() < 0.18) & (Y > 0.43) & (Y < 0.48)
    drop = _region_mean(_lum(off), chin) - _region_mean(_lum(on), chin)
    assert (drop > 30).all(), drop
    _local(off, on, Y > TR.BEARD_TOP_Y - 0.06)


def test_mustache_darkens_the_band_above_the_mouth():
    off, on, X, Y, L = _pair("mustache")
    band = ((X - L.fx).abs() < 0.1) & ((Y - TR.MUSTACHE_Y - L.fy).abs() < 0.02)
    drop = _region_mean(_lum(off), band) - _region_mean(_lum(on), band)
    assert (drop > 30).all(), drop
    _local(off, on, ((X - L.fx).abs() < 0.2) & ((Y - TR.MUSTACHE_Y - L.fy).abs() < 0.08))


@pytest.mark.parametrize("base", [{}, {"blond_hair": True, "pale_skin": True}])
def test_bangs_cover_the_forehead(base):
    off, on, X, Y, L = _pair("bangs", base)
    forehead = ((X - L.fx).abs() < 0.15) & (Y > -0.28 + L.fy) & (Y < TR.BANGS_Y - 0.03 + L.fy)
    change = _region_mean((on.float() - off.float()).abs().sum(1), forehead)
    assert (change > 40).all(), change
    _local(off, on, (Y < TR.BANGS_Y + 0.06) & (Y > TR.HAIRLINE_Y - 0.1) & ((X - L.fx).abs() < 0.4))


def test_long_hair_fills_the_sides_below_the_ears():
    off, on, X, Y, L = _pair("long_hair")
    sides = (X.abs() > L.a + 0.05) & (X.abs() < L.a + 0.13) & (Y > 0.2) & (Y < 0.5)
    change = _region_mean((on.float() - off.float()).abs().sum(1), sides)
    assert (change > 40).all(), change


@pytest.mark.parametrize("name,sign", [("blond_hair", 1), ("black_hair", -1)])
def test_hair_colour_changes_the_hair_luminance(name, sign):
    off, on, X, Y, L = _pair(name)
    crown = (X.abs() < 0.15) & (Y > -0.52) & (Y < -0.4)
    delta = sign * (_region_mean(_lum(on), crown) - _region_mean(_lum(off), crown))
    assert (delta > 20).all(), delta


def test_earrings_add_cyan_below_the_ears():
    off, on, X, Y, L = _pair("earrings")
    near = ((X.abs() - L.a).abs() < 0.05) & ((Y - TR.EARRING_Y).abs() < 0.05)
    def cyan(img):
        x = img.float()
        return x[:, 2] - x[:, 0]
    gain = _region_mean(cyan(on), near) - _region_mean(cyan(off), near)
    assert (gain > 40).all(), gain
    _local(off, on, ((X.abs() - L.a).abs() < 0.12) & ((Y - TR.EARRING_Y).abs() < 0.12))


def test_pale_skin_raises_the_blue_to_red_ratio_of_the_skin():
    off, on, X, Y, L = _pair("pale_skin")
    forehead = ((X - L.fx).abs() < 0.15) & (Y > -0.27) & (Y < -0.2)
    def ratio(img):
        x = img.float()
        return x[:, 2] / (x[:, 0] + 1)
    assert (_region_mean(ratio(on), forehead) > _region_mean(ratio(off), forehead) + 0.15).all()


def test_rosy_cheeks_redden_the_cheeks():
    off, on, X, Y, L = _pair("rosy_cheeks")
    cheeks = (((X - L.fx).abs() - TR.CHEEK_X).abs() < 0.04) & ((Y - TR.CHEEK_Y - L.fy).abs() < 0.04)
    def redness(img):
        x = img.float()
        return x[:, 0] - x[:, 1]
    gain = _region_mean(redness(on), cheeks) - _region_mean(redness(off), cheeks)
    assert (gain > 25).all(), gain
    _local(off, on, (((X - L.fx).abs() - TR.CHEEK_X).abs() < 0.13) & ((Y - TR.CHEEK_Y - L.fy).abs() < 0.13))


def test_bushy_eyebrows_darken_the_brow_band():
    off, on, X, Y, L = _pair("bushy_eyebrows")
    brows = (((X - L.fx).abs() - TR.EYE_X).abs() < 0.07) & ((Y - TR.BROW_Y - L.fy).abs() < 0.04)
    drop = _region_mean(_lum(off), brows) - _region_mean(_lum(on), brows)
    assert (drop > 15).all(), drop
    _local(off, on, (((X - L.fx).abs() - TR.EYE_X).abs() < 0.14) & ((Y - TR.BROW_Y - L.fy).abs() < 0.1))


def test_head_turned_moves_the_eyes_sideways():
    off, on, X_on, Y, L_on = _pair("head_turned")
    cfg = TestbedConfig(resolution=R)
    L_off = face_layout(cfg, IDX, np.zeros((len(IDX), len(ATTRIBUTES)), dtype=bool))
    assert ((L_on.fx - L_off.fx).abs() > 0.1).all()
    # at the eye position of the frontal face, a turned face shows something else
    X_off = (X_on * L_on.s + L_on.cx - L_off.cx) / L_off.s
    eyes = (((X_off - L_off.fx).abs() - TR.EYE_X).abs() < 0.06) & ((Y - TR.EYE_Y - L_off.fy).abs() < 0.04)
    change = _region_mean((on.float() - off.float()).abs().sum(1), eyes)
    assert (change > 60).all(), change


def test_male_widens_the_jaw():
    off, on, X, Y, L = _pair("male")
    jaw = (X.abs() > 0.33) & (X.abs() < 0.39) & (Y > 0.18) & (Y < 0.32)
    change = _region_mean((on.float() - off.float()).abs().sum(1), jaw)
    assert (change > 40).all(), change
