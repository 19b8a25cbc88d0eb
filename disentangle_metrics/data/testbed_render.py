"""Vectorised rendering of test bed faces from attributes and per-image nuisance draws.

Coordinates: the image spans [-1, 1] in both axes (y down). Each face lives in local units
``X = (u - cx) / s``, ``Y = (v - cy) / s`` around its head centre; the head is about 0.8 wide and
1.0 tall. Facial features sit at an extra horizontal offset ``fx`` (large when the head is turned).
Every random quantity of image ``i`` comes from per-image seeds (:mod:`disentangle_metrics._core.sampling`),
so an image does not depend on its batch. Layers are drawn back to front with anti-aliased alpha.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from disentangle_metrics._core import sampling

from . import testbed_shapes as S
from .testbed_attributes import STREAM_DETAIL, STREAM_NUISANCE
from .testbed_config import ATTRIBUTES, TestbedConfig

_U_NAMES = ("dx", "dy", "scale", "light", "light_angle", "skin", "skin_j", "hair", "hair_j", "bg_hue", "bg_sat",
            "bg_val", "cloth_hue", "cloth_sat", "cloth_val", "hat_hue", "hat_sat", "hat_val", "turn_dir",
            "jit_x", "jit_y", "iris_hue", "freckle_on", "freckle_density", "tex_freq", "tex_phase",
            "frame_hue", "frame_val", "bg_grad", "aspect", "bangs_phase", "lip")
_U = {n: i for i, n in enumerate(_U_NAMES)}
#: Bumped whenever the pictures change for a given config; cached test-bed statistics are keyed by it.
#: 1: first release; 2: bigger mouths with visible lips, darker pale skin, clearer eyes and turns, and
#: on turned heads a mouth and mustache that shift less and are foreshortened (they used to be cut off
#: by the jaw line), and a mustache drawn over the mouth (an open mouth used to hide it).
RENDER_VERSION = 2
NOISE_GRID = 32      # per-image noise is drawn on a fixed grid, so detail is the same at every resolution
FINE_GRID = 64      # freckles: spots of a finer noise field

# Local-unit layout shared by the renderer and by anyone locating an attribute's region.
EYE_X, EYE_Y = 0.15, 0.02
BROW_Y = -0.12
MOUTH_Y = 0.34
MUSTACHE_Y = 0.25
HAIRLINE_Y, BANGS_Y = -0.33, -0.20
HAT_BRIM_Y = -0.41
TURN_SHIFT = 0.22
MOUTH_TURN_SHIFT = 0.7      # the mouth region moves this fraction of TURN_SHIFT ...
MOUTH_TURN_SQUEEZE = 0.3    # ... and is this much narrower (foreshortening), so it stays on the face
EARRING_Y = 0.17
BEARD_TOP_Y = 0.2
CHEEK_X, CHEEK_Y = 0.19, 0.14
HEAD_B = 0.5
HEAD_A_FEMALE, HEAD_A_MALE = 0.345, 0.43


@dataclass
class FaceLayout:
    """Per-image geometry, each field a tensor [N, 1, 1]: head centre (cx, cy) in image units, scale s,
    head half-width a (local units), feature offset fx, fy (local units) and turn direction t (-1/0/+1)."""

    cx: torch.Tensor
    cy: torch.Tensor
    s: torch.Tensor
    a: torch.Tensor
    fx: torch.Tensor
    fy: torch.Tensor
    t: torch.Tensor

    def local_grid(self, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Local coordinates (X, Y), each [N, R, R], of the pixel centres."""
        c = (torch.arange(resolution, device=self.s.device, dtype=torch.float32) + 0.5) * (2.0 / resolution) - 1.0
        u, v = c.view(1, 1, -1), c.view(1, -1, 1)
        return (u - self.cx) / self.s, (v - self.cy) / self.s


def _col(u: torch.Tensor, name: str) -> torch.Tensor:
    return u[:, _U[name]]


def _attr(attrs: torch.Tensor, name: str) -> torch.Tensor:
    return attrs[:, ATTRIBUTES.index(name)].view(-1, 1, 1)


def _draws(config: TestbedConfig, indices: np.ndarray, device: torch.device | str) -> torch.Tensor:
    return sampling.rand(config.seed, indices, stream=STREAM_NUISANCE, shape=(len(_U_NAMES),), device=device)


def face_layout(config: TestbedConfig, indices: Sequence[int] | np.ndarray, attributes: np.ndarray | torch.Tensor,
                device: torch.device | str = "cpu") -> FaceLayout:
    """Geometry of images ``indices`` given their attributes (bool/0-1 [N, A])."""
    indices = np.asarray(indices, dtype=np.int64)
    u = _draws(config, indices, device)
    return _layout(config, u, _as_float(attributes, device))


def _as_float(attributes: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    if isinstance(attributes, torch.Tensor):
        return attributes.to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(attributes, dtype=np.float32), device=device)


def _layout(config: TestbedConfig, u: torch.Tensor, attrs: torch.Tensor) -> FaceLayout:
    nz = config.nuisance
    v = lambda name: _col(u, name).view(-1, 1, 1)  # noqa: E731
    male, turned = _attr(attrs, "male"), _attr(attrs, "head_turned")
    lo, hi = nz.scale
    s = lo + (hi - lo) * v("scale")
    cx = nz.offset * (2 * v("dx") - 1)
    cy = 0.08 + nz.offset * (2 * v("dy") - 1)
    a = HEAD_A_FEMALE + (HEAD_A_MALE - HEAD_A_FEMALE) * male + 0.012 * (2 * v("aspect") - 1)
    t = torch.where(v("turn_dir") < 0.5, -1.0, 1.0) * turned
    fx = TURN_SHIFT * t + 0.025 * (2 * v("jit_x") - 1) * (1 - turned)
    fy = 0.02 * (2 * v("jit_y") - 1)
    return FaceLayout(cx=cx, cy=cy, s=s, a=a, fx=fx, fy=fy, t=t)


def _palette(u: torch.Tensor, attrs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Colours [N, 3, 1, 1] of every part, chosen so attribute colours never overlap nuisance colours."""
    c = lambda name: _col(u, name)  # noqa: E731
    A = lambda name: attrs[:, ATTRIBUTES.index(name)]  # noqa: E731
    one = torch.ones_like(c("skin"))
    # skin: tan-to-brown tones (blue/red <= 0.64) or pale (blue/red ~ 0.9); pale skin stays well below
    # the teeth and eye whites in brightness, so smiles and open eyes show on it too
    r = 0.5 + 0.35 * c("skin")
    normal = torch.stack([r, r * (0.72 + 0.06 * c("skin_j")), r * (0.56 + 0.08 * c("skin_j"))], 1)
    pale = torch.stack([0.88 * one, (0.79 + 0.03 * c("skin_j")), (0.76 + 0.04 * c("skin_j"))], 1)
    skin = torch.where(A("pale_skin")[:, None] > 0.5, pale, normal)
    # hair: brown/auburn, black (neutral, very dark) or blond (bright yellow)
    hr = 0.32 + 0.26 * c("hair")
    brown = torch.stack([hr, hr * (0.55 + 0.2 * c("hair_j")), hr * (0.35 + 0.15 * c("hair_j"))], 1)
    # brown hair stays clearly darker than the skin, so bangs and the hairline show on every face
    brown = brown * (0.7 * _lum(skin) / _lum(brown)).clamp(max=1.0)[:, None]
    bv = 0.05 + 0.06 * c("hair")
    black = torch.stack([bv, bv * 0.95, bv * 0.92], 1)
    br = 0.93 + 0.05 * c("hair")
    blond = torch.stack([br, br * (0.84 + 0.06 * c("hair_j")), br * (0.3 + 0.12 * c("hair_j"))], 1)
    hair = torch.where(A("black_hair")[:, None] > 0.5, black, torch.where(A("blond_hair")[:, None] > 0.5, blond, brown))
    dark = A("dark_background")
    bg_val = torch.where(dark > 0.5, 0.03 + 0.15 * c("bg_val"), 0.55 + 0.4 * c("bg_val"))
    bg = S.hsv_to_rgb(c("bg_hue"), 0.45 * c("bg_sat"), bg_val)
    cloth = S.hsv_to_rgb(c("cloth_hue"), 0.3 + 0.4 * c("cloth_sat"), 0.4 + 0.35 * c("cloth_val"))
    # the hat contrasts with the background so its outline is always visible
    hat_val = torch.where(dark > 0.5, 0.7 + 0.25 * c("hat_val"), 0.15 + 0.2 * c("hat_val"))
    hat = S.hsv_to_rgb(c("hat_hue"), 0.45 + 0.4 * c("hat_sat"), hat_val)
    frame = S.hsv_to_rgb(c("frame_hue"), 0.5 * one, 0.04 + 0.12 * c("frame_val"))
    iris = S.hsv_to_rgb(0.05 + 0.55 * c("iris_hue"), 0.6 * one, 0.3 * one)
    lip = torch.stack([0.42 + 0.18 * c("lip"), 0.1 * one, 0.12 * one], 1)
    # facial hair and brows are kept at most half as bright as the skin: visible on every skin tone
    brow = hair * (0.45 * _lum(skin) / _lum(hair)).clamp(max=0.55)[:, None]
    beard = hair * (0.5 * _lum(skin) / _lum(hair)).clamp(max=0.8)[:, None]
    out = dict(skin=skin, hair=hair, bg=bg, cloth=cloth, hat=hat, frame=frame, iris=iris, lip=lip, brow=brow,
               beard=beard, white=torch.stack([0.97 * one, 0.96 * one, 0.93 * one], 1),
               mouth_in=torch.stack([0.25 * one, 0.04 * one, 0.06 * one], 1),
               rosy=torch.stack([0.95 * one, 0.22 * one, 0.32 * one], 1),
               earring=torch.stack([0.05 * one, 0.9 * one, 1.0 * one], 1),
               dark=torch.stack([0.08 * one, 0.06 * one, 0.06 * one], 1))
    return {k: x.view(-1, 3, 1, 1) for k, x in out.items()}


def _lum(rgb: torch.Tensor) -> torch.Tensor:
    return 0.3 * rgb[:, 0] + 0.59 * rgb[:, 1] + 0.11 * rgb[:, 2]


def render_attributes(config: TestbedConfig, indices: Sequence[int] | np.ndarray,
                      attributes: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """Images uint8 [N, 3, R, R] of ``indices`` with the given attributes (bool/0-1 [N, A]).

    The nuisance factors and stochastic detail come from the indices, so rendering the same index with
    one attribute flipped shows exactly that attribute's effect.
    """
    indices = np.asarray(indices, dtype=np.int64)
    attrs = _as_float(attributes, device)
    if attrs.shape != (len(indices), len(ATTRIBUTES)):
        raise ValueError(f"attributes must have shape [{len(indices)}, {len(ATTRIBUTES)}], got {tuple(attrs.shape)}")
    R = config.resolution
    if len(indices) == 0:
        return torch.zeros((0, 3, R, R), dtype=torch.uint8, device=device)
    u = _draws(config, indices, device)
    noise = sampling.randn(config.seed, indices, (NOISE_GRID ** 2 + FINE_GRID ** 2,), stream=STREAM_DETAIL,
                           device=device)
    L = _layout(config, u, attrs)
    P = _palette(u, attrs)
    img = _draw(config, u, attrs, L, P, noise)
    return (img.clamp_(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)


def _draw(config: TestbedConfig, u: torch.Tensor, attrs: torch.Tensor, L: FaceLayout, P: dict[str, torch.Tensor],
          noise: torch.Tensor) -> torch.Tensor:
    R = config.resolution
    N = u.shape[0]
    X, Y = L.local_grid(R)
    k = L.s * (R / 2.0)                       # pixels per local unit
    cov = lambda d, soft=1.0: S.coverage(d, k, soft)  # noqa: E731
    A = lambda name: _attr(attrs, name)  # noqa: E731
    v = lambda name: _col(u, name).view(-1, 1, 1)  # noqa: E731
    a, fx, fy, t = L.a, L.fx, L.fy, L.t
    male = A("male")
    Xf = X - fx
    Xm = (X - MOUTH_TURN_SHIFT * fx) * (1.0 + MOUTH_TURN_SQUEEZE * t.abs())
    smooth = noise[:, : NOISE_GRID ** 2].view(N, 1, NOISE_GRID, NOISE_GRID)
    fine = noise[:, NOISE_GRID ** 2:].view(N, 1, FINE_GRID, FINE_GRID)
    n = F.interpolate(smooth, size=(R, R), mode="bilinear", align_corners=False, antialias=R < NOISE_GRID)[:, 0]
    fine = F.interpolate(fine, size=(R, R), mode="bilinear", align_corners=False, antialias=R < FINE_GRID)[:, 0]

    # background with a gentle vertical gradient and texture
    vimg = Y * L.s + L.cy
    img = P["bg"] * (1.0 + 0.08 * (2 * v("bg_grad") - 1) * vimg + 0.025 * n).unsqueeze(1)

    # shoulders and neck
    body = S.ellipse(X, Y, 0.0, 1.02, 0.68 + 0.22 * male, 0.34)
    img = S.over(img, P["cloth"], cov(body))

    # hair texture: strands radiating from above the crown, disturbed by the detail noise
    theta = torch.atan2(X, Y + 0.65)
    tex = 1.0 + 0.16 * torch.sin((30.0 + 30.0 * v("tex_freq")) * theta + 6.283 * v("tex_phase") + 2.0 * n)
    hair_col = P["hair"] * tex.unsqueeze(1)

    long_hair = torch.minimum(S.box(X, Y, 0.0, 0.28, a + 0.17, 0.72, 0.22), S.ellipse(X, Y, 0.0, -0.05, a + 0.1, 0.6))
    img = S.over(img, hair_col, cov(long_hair) * A("long_hair"))
    neck = S.box(X, Y, 0.0, 0.6, 0.12 + 0.04 * male, 0.3, 0.02)
    img = S.over(img, P["skin"] * 0.85, cov(neck))
    cap = torch.maximum(S.ellipse(X, Y, 0.0, -0.04, a + 0.055, HEAD_B + 0.05), Y - 0.02)
    img = S.over(img, hair_col, cov(cap))

    # ears: the one on the side the face turns to is hidden
    # (symmetric parts are drawn once in |X|, covering both sides)
    side_visible = 1.0 - (torch.sign(X) == t).float()
    ear = S.ellipse(X.abs(), Y, a - 0.01, 0.04, 0.06, 0.1)
    img = S.over(img, P["skin"] * 0.9, cov(ear) * side_visible)

    # head: egg-shaped for women, squarer jaw for men
    head = _head(X, Y, a, male)
    head_a = cov(head)
    radial = torch.sqrt((X / a) ** 2 + (Y / HEAD_B) ** 2)
    shade = 1.0 - 0.18 * S.smoothstep(0.55, 1.05, radial)
    img = S.over(img, P["skin"] * shade.unsqueeze(1), head_a)

    # stochastic detail: freckles, spots of a fine noise field inside a band over nose and cheeks
    fr_on = (v("freckle_on") < config.nuisance.freckle_probability).float()
    band = 1.0 - S.smoothstep(0.7, 1.0, torch.sqrt((Xf / 0.32) ** 2 + ((Y - 0.15 - fy) / 0.09) ** 2))
    spots = ((fine - (1.7 - 0.6 * v("freckle_density"))) * 3.0).clamp(0.0, 0.7)
    img = S.over(img, P["skin"] * 0.6, spots * band * fr_on * head_a)

    # rosy cheeks
    cheek = S.circle(Xf.abs(), Y, CHEEK_X, CHEEK_Y + fy, 0.085)
    img = S.over(img, P["rosy"], cov(cheek, soft=1.5) * 0.85 * A("rosy_cheeks") * head_a)

    # beard: jaw and chin below the cheeks, leaving an oval of skin around the mouth; reaches a little
    # beyond the jaw line
    around_mouth = S.ellipse(Xm, Y, 0.0, MOUTH_Y - 0.03 + fy, 0.2, 0.13)
    beard = torch.maximum(torch.maximum(head - 0.035, BEARD_TOP_Y + fy - Y), -around_mouth)
    img = S.over(img, P["beard"] * tex.unsqueeze(1), cov(beard) * A("beard"))

    # front hair: normal hairline or straight bangs down to the eyebrows
    hairline = HAIRLINE_Y + 0.9 * Xf ** 2
    fringe = BANGS_Y + 0.012 * torch.sin(Xf * 55.0 + 6.283 * v("bangs_phase")) + fy
    line = torch.where(A("bangs") > 0.5, torch.maximum(hairline, fringe), hairline)
    front = torch.maximum(head - 0.02, Y - line)
    img = S.over(img, hair_col, cov(front))

    # eyebrows
    bushy = A("bushy_eyebrows")
    # bushy brows are about one pixel thick even at 32x32, thin ones a third of that
    brow = S.parabola_arc(Xf.abs(), Y, EYE_X, BROW_Y + fy + 0.025, 0.085 + 0.025 * bushy, -0.03,
                          0.011 + 0.027 * bushy)
    img = S.over(img, P["brow"], cov(brow) * head_a)

    # eyes: open (white, iris, pupil) or closed (a dark lid line)
    closed = A("eyes_closed")
    ey = EYE_Y + fy
    Xa = Xf.abs()
    Xg = (Xf - 0.02 * t).abs()                 # the gaze follows the turn
    white = cov(S.ellipse(Xa, Y, EYE_X, ey, 0.1, 0.065)) * head_a
    img = S.over(img, P["white"], white * (1 - closed))
    iris = S.circle(Xg, Y, EYE_X, ey, 0.052)
    img = S.over(img, P["iris"], cov(iris) * white * (1 - closed))
    pupil = S.circle(Xg, Y, EYE_X, ey, 0.024)
    img = S.over(img, P["dark"], cov(pupil) * white * (1 - closed))
    # closed: a shaded lid where the eye was, with a thick dark lash line along its lower edge (a long
    # thin line, where an open eye shows a round dark iris)
    img = S.over(img, P["skin"] * 0.7, white * closed)
    lid = S.parabola_arc(Xa, Y, EYE_X, ey + 0.005, 0.11, 0.03, 0.026)
    img = S.over(img, P["dark"], cov(lid) * closed * head_a)

    # nose: a short shaded stroke that points sideways when the head is turned
    nose = S.segment(Xf, Y, 0.0, 0.06 + fy, 0.08 * t, 0.19 + fy, 0.018)
    img = S.over(img, P["skin"] * 0.7, cov(nose, soft=1.5) * head_a)

    img = _mouth(img, Xm, Y, fy, A("smiling"), A("mouth_open"), P, cov, head_a)

    # mustache: over the mouth, as it hangs over the upper lip (drawn under it, an open mouth hid it)
    must = S.box(Xm, Y, 0.0, MUSTACHE_Y + fy, 0.165, 0.045, 0.025)
    img = S.over(img, P["beard"] * tex.unsqueeze(1), cov(must) * A("mustache") * head_a)

    # eyeglasses: two rings, a bridge and the temples towards the ears
    glasses = A("eyeglasses")
    lens = S.circle(Xa, Y, EYE_X, ey, 0.105)
    img = S.over(img, P["frame"], cov(lens) * 0.15 * glasses)
    ring = lens.abs() - 0.02
    bridge = S.segment(Xa, Y, 0.0, ey - 0.02, EYE_X - 0.1, ey - 0.02, 0.016)
    # temples run from the outer rim to the ear on each side (in X, not Xf: the ears do not turn)
    rim_x = torch.where(X >= fx, fx + EYE_X + 0.1, fx - EYE_X - 0.1)
    temple = S.segment(X, Y, rim_x, ey - 0.01, torch.sign(X - fx) * a, ey - 0.03, 0.014)
    frame = torch.maximum(cov(torch.minimum(ring, bridge)), cov(temple) * head_a)
    img = S.over(img, P["frame"], frame * glasses)

    # hat: crown, band and brim; sits on the head and covers the hair top
    hat = A("hat")
    crown = S.box(X, Y, 0.0, HAT_BRIM_Y - 0.22, a * 0.92, 0.22, 0.08)
    img = S.over(img, P["hat"], cov(crown) * hat)
    band = S.box(X, Y, 0.0, HAT_BRIM_Y - 0.06, a * 0.92, 0.03, 0.0)
    img = S.over(img, P["hat"] * 0.5, cov(band) * hat)
    brim = S.ellipse(X, Y, 0.0, HAT_BRIM_Y, a + 0.16, 0.055)
    img = S.over(img, P["hat"] * 0.85, cov(brim) * hat)

    # earrings: bright cyan drops under the visible ears, outlined so they show on any hair colour
    drop = S.circle(X.abs(), Y, a - 0.005, EARRING_Y, 0.06)
    img = S.over(img, P["dark"], cov(drop - 0.015) * A("earrings") * side_visible)
    img = S.over(img, P["earring"], cov(drop) * A("earrings") * side_visible)

    # lighting: a linear gradient over the whole picture
    ang = 6.283 * v("light_angle")
    uimg = X * L.s + L.cx
    light = 1.0 + config.nuisance.lighting * v("light") * (torch.cos(ang) * uimg + torch.sin(ang) * vimg)
    return img * light.unsqueeze(1)


def _head(X: torch.Tensor, Y: torch.Tensor, a: torch.Tensor, male: torch.Tensor) -> torch.Tensor:
    """Head outline: an ellipse on top; below the eyes a tapering egg (female) or a squarer jaw (male)."""
    taper = 1.0 - 0.25 * (Y.clamp(min=0) / HEAD_B)
    Xe = torch.where(Y > 0, X / taper, X)
    female = S.ellipse(Xe, Y, 0.0, 0.0, a, HEAD_B)
    # superellipse of exponent 3 on the lower half, distance scaled to about one local unit
    q = ((X.abs() / a) ** 3 + (Y.clamp(min=0).abs() / HEAD_B) ** 3).clamp(min=1e-9) ** (1.0 / 3.0)
    square = torch.where(Y > 0, (q - 1.0) * a, S.ellipse(X, Y, 0.0, 0.0, a, HEAD_B))
    return torch.where(male > 0.5, square, female)


def _mouth(img: torch.Tensor, Xm: torch.Tensor, Y: torch.Tensor, fy: torch.Tensor, smiling: torch.Tensor,
           mouth_open: torch.Tensor, P: dict[str, torch.Tensor], cov: Callable[..., torch.Tensor],
           head_a: torch.Tensor) -> torch.Tensor:
    """Neutral line, smiling crescent with teeth, open 'O', or open smile (a D with teeth on top)."""
    my = MOUTH_Y + fy
    # sizes: at 32x32 a local unit is about 17 px, so the smile is ~6 px wide and the 'O' ~3 px across
    neutral = S.segment(Xm, Y, -0.08, my, 0.08, my, 0.018)
    crescent = S.between_parabolas(Xm, Y, 0.0, my - 0.015, 0.19, 0.02, 0.13)
    o_shape = S.ellipse(Xm, Y, 0.0, my + 0.01, 0.085, 0.095)
    d_shape = S.between_parabolas(Xm, Y, 0.0, my - 0.035, 0.18, 0.005, 0.15)
    sm, op = smiling, mouth_open
    w_neutral = (1 - sm) * (1 - op)
    w_cres, w_o, w_d = sm * (1 - op), (1 - sm) * op, sm * op
    img = S.over(img, P["lip"], cov(neutral) * w_neutral * head_a)
    shape = torch.minimum(torch.minimum(crescent + 1e3 * (1 - w_cres), o_shape + 1e3 * (1 - w_o)),
                          d_shape + 1e3 * (1 - w_d))
    any_shape = 1 - w_neutral
    # lips around the shape: about 0.7 px at 32x32, so teeth never merge with pale skin
    img = S.over(img, P["lip"], cov(shape - 0.042) * any_shape * head_a)
    inside = P["white"] * sm.unsqueeze(1) * (1 - op).unsqueeze(1) + P["mouth_in"] * op.unsqueeze(1)
    img = S.over(img, inside, cov(shape) * any_shape * head_a)
    teeth = torch.maximum(d_shape, Y - (my - 0.035 + 0.045))                   # upper teeth of the open smile
    img = S.over(img, P["white"], cov(teeth) * w_d * head_a)
    return img
