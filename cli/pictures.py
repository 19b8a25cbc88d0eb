"""Picture sheet of a generator: uncurated samples, a style-mixing grid and interpolation strips.

Works on any protocol generator. Style mixing follows the paper's Figure 3: the rows take the
coarse (4^2-8^2), middle (16^2-32^2) or fine (64^2 and up) styles from a source latent and the rest
from a destination latent; at low resolution the three bands are the thirds of the ws.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from disentangle_metrics.generators.protocol import conditioning, has_mapping
from disentangle_metrics._core.results import atomic_write_bytes
from disentangle_metrics._core.sampling import Stream, randn


def style_bands(num_ws: int) -> dict[str, slice]:
    """ws index ranges of coarse / middle / fine styles (two ws per resolution, 4x4 first)."""
    if num_ws >= 10:  # 64x64 and up: the paper's bands
        return {"coarse": slice(0, 4), "middle": slice(4, 8), "fine": slice(8, num_ws)}
    a, b = max(1, num_ws // 3), max(2, 2 * num_ws // 3)
    return {"coarse": slice(0, a), "middle": slice(a, b), "fine": slice(b, num_ws)}


def _to_uint8(img: torch.Tensor) -> np.ndarray:
    x = (img.clamp(-1, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def _grid(images: np.ndarray, cols: int) -> Image.Image:
    n, h, w, c = images.shape
    rows = math.ceil(n / cols)
    canvas = np.full((rows * h, cols * w, c), 255, np.uint8)
    for i, im in enumerate(images):
        r, q = divmod(i, cols)
        canvas[r * h:(r + 1) * h, q * w:(q + 1) * w] = im
    return Image.fromarray(canvas.squeeze(-1) if c == 1 else canvas)


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    a, b = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    d = (a * b).sum(-1, keepdim=True).clamp(-1, 1)
    p = t * torch.acos(d)
    c = b - d * a
    c = c / c.norm(dim=-1, keepdim=True)
    return a * torch.cos(p) + c * torch.sin(p)


@torch.no_grad()
def picture_sheet(G, out_path: str | Path, seed: int = 0, scale: int = 2, device: str = "cpu") -> Path:
    """Write a PNG with 16 uncurated samples, a style-mixing grid and Z/W interpolation strips."""
    dev = torch.device(device)
    R = G.img_resolution
    sections: list[tuple[str, Image.Image]] = []

    def synth(ws):
        return _to_uint8(G.synthesis(ws, noise_mode="const"))

    z = randn(seed, range(16), [G.z_dim], Stream.Z, dev)
    ws = G.mapping(z, conditioning(G, 16, dev))
    sections.append(("uncurated samples (no truncation)", _grid(synth(ws), 8)))

    if has_mapping(G) and G.num_ws > 1:
        src, dst = ws[:4], ws[4:7]
        cells = [np.full((R, R, G.img_channels), 255, np.uint8)] + list(synth(src))
        for band, sl in style_bands(G.num_ws).items():
            for j in range(dst.shape[0]):
                row_ws = dst[j:j + 1].repeat(src.shape[0], 1, 1)
                row_ws[:, sl] = src[:, sl]
                cells += [synth(dst[j:j + 1])[0]] + list(synth(row_ws))
        sections.append(("style mixing: top = sources; rows = destinations with the source's coarse, "
                         "then middle, then fine styles", _grid(np.stack(cells), src.shape[0] + 1)))

    t = torch.linspace(0, 1, 8, device=dev).view(-1, 1)
    za, zb = z[9:10], z[10:11]
    zt = _slerp(za.expand(8, -1), zb.expand(8, -1), t)
    sections.append(("interpolation in Z (slerp)", _grid(synth(G.mapping(zt, conditioning(G, 8, dev))), 8)))
    if has_mapping(G):
        wa, wb = ws[9:10], ws[10:11]
        wt = wa + (wb - wa) * t.view(-1, 1, 1)
        sections.append(("interpolation in W (lerp)", _grid(synth(wt), 8)))

    width = max(im.width for _, im in sections) * scale
    pieces = []
    for title, im in sections:
        im = im.resize((im.width * scale, im.height * scale), Image.NEAREST).convert("RGB")
        label = Image.new("RGB", (width, 14), "white")
        ImageDraw.Draw(label).text((2, 1), title, fill="black")
        pieces += [label, im]
    sheet = Image.new("RGB", (width, sum(p.height for p in pieces)), "white")
    y = 0
    for p in pieces:
        sheet.paste(p, (0, y))
        y += p.height
    import io
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    out_path = Path(out_path)
    atomic_write_bytes(out_path, buf.getvalue())
    return out_path
