"""DINOv2 ViT-L/14 (facebookresearch/dinov2 ``hub/backbones.py`` ``dinov2_vitl14``) in the official key layout.

The hub model is ``vit_large(img_size=518, patch_size=14, init_values=1.0, ffn_layer="mlp",
block_chunks=0, num_register_tokens=0, interpolate_antialias=False, interpolate_offset=0.1)``:

    t_0 = [cls; patch_embed(x)] + P(pos_embed, H/14, W/14)          (patch 14, stride 14 conv)
    t_{l+1} = t_l' + ls2 * mlp(norm2(t_l')),  t_l' = t_l + ls1 * attn(norm1(t_l))   (24 blocks)
    feature = norm(t_24)[:, 0]                                        (LayerNorm eps 1e-6, 1024-d)

with 16 heads, exact GELU, qkv/proj/MLP biases, and ``P`` the official run-time resize of the 37x37
position grid (:func:`resize_pos_embed`). Written here instead of depending on timm because timm
resizes that grid differently (by target size, with antialias) and renames nothing we need; the
parameter names are the official ones, so the official ``dinov2_vitl14_pretrain.pth`` loads with
every key matched (the hub loads it with ``strict=True``).
"""

from __future__ import annotations

import io
import math
import os
from typing import Union

import torch
import torch.nn.functional as F
from torch import nn

from .._core.results import atomic_write_bytes

EMBED_DIM, DEPTH, NUM_HEADS, PATCH, GRID = 1024, 24, 16, 14, 37   # ViT-L/14 at img_size 518: 37 = 518 / 14
MLP_RATIO = 4
INTERPOLATE_OFFSET = 0.1   # the hub's interpolate_offset: scale factor (n + 0.1) / 37, a kludge kept for parity


def resize_pos_embed(pos_embed: torch.Tensor, grid_h: int, grid_w: int,
                     offset: float = INTERPOLATE_OFFSET) -> torch.Tensor:
    """The official ``interpolate_pos_encoding``: pos [1, 1 + M*M, D] -> [1, 1 + grid_h*grid_w, D].

    Patch part: bicubic ``F.interpolate`` of the M x M grid with
    ``scale_factor = ((grid_h + offset) / M, (grid_w + offset) / M)``, no antialias, in float32;
    the scale factor (not the output size) sets the sampling positions, src = (dst + 0.5) / s - 0.5,
    which is why this differs from timm's size-based, antialiased resample. Unchanged when the grid
    already is M x M; the class token's entry is never resized.
    """
    n = pos_embed.shape[1] - 1
    m = int(math.sqrt(n))
    if m * m != n:
        raise ValueError(f"pos_embed holds {n} patch positions, not a square grid")
    if grid_h * grid_w == n and grid_h == grid_w:
        return pos_embed
    dim = pos_embed.shape[-1]
    pe = pos_embed.float()
    grid = pe[:, 1:].reshape(1, m, m, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, scale_factor=((grid_h + offset) / m, (grid_w + offset) / m),
                         mode="bicubic", antialias=False)
    if tuple(grid.shape[-2:]) != (grid_h, grid_w):   # the offset is meant to make floor(M * s) the grid size
        raise ValueError(f"position grid resize gave {tuple(grid.shape[-2:])}, expected {(grid_h, grid_w)}")
    grid = grid.permute(0, 2, 3, 1).reshape(1, grid_h * grid_w, dim)
    return torch.cat((pe[:, :1], grid), dim=1).to(pos_embed.dtype)


class _PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).unbind(2)
        x = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class _LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1, self.attn, self.ls1 = nn.LayerNorm(dim, eps=1e-6), _Attention(dim, heads), _LayerScale(dim)
        self.norm2, self.mlp, self.ls2 = nn.LayerNorm(dim, eps=1e-6), _Mlp(dim, MLP_RATIO * dim), _LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class DinoV2ViT(nn.Module):
    """Images [N, 3, H, W] (normalised floats, H and W multiples of the patch) -> class token [N, D].

    Defaults are ViT-L/14; smaller ``embed_dim``/``depth``/``num_heads`` build the same architecture
    for fast tests. ``mask_token`` is unused at inference but is part of the official file.
    """

    def __init__(self, embed_dim: int = EMBED_DIM, depth: int = DEPTH, num_heads: int = NUM_HEADS,
                 patch: int = PATCH, grid: int = GRID) -> None:
        super().__init__()
        self.patch = patch
        self.patch_embed = _PatchEmbed(embed_dim, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, embed_dim))
        self.blocks = nn.ModuleList(_Block(embed_dim, num_heads) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """feature = norm(blocks([cls; patches] + resize_pos_embed(pos)))[:, 0]."""
        n, _, h, w = x.shape
        if h % self.patch or w % self.patch:
            raise ValueError(f"DINOv2 input {h}x{w} is not a multiple of the patch size {self.patch}")
        t = torch.cat((self.cls_token.expand(n, -1, -1), self.patch_embed(x)), dim=1)
        t = t + resize_pos_embed(self.pos_embed, h // self.patch, w // self.patch)
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t)[:, 0]


def official_shapes(embed_dim: int = EMBED_DIM, depth: int = DEPTH, patch: int = PATCH,
                    grid: int = GRID) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the official ``dinov2_vitl14_pretrain.pth`` (defaults), from the hub's layer definitions."""
    d, h = embed_dim, MLP_RATIO * embed_dim
    out: dict[str, tuple[int, ...]] = {
        "cls_token": (1, 1, d), "pos_embed": (1, grid * grid + 1, d), "mask_token": (1, d),
        "patch_embed.proj.weight": (d, 3, patch, patch), "patch_embed.proj.bias": (d,),
        "norm.weight": (d,), "norm.bias": (d,)}
    per_block = {"norm1.weight": (d,), "norm1.bias": (d,), "attn.qkv.weight": (3 * d, d), "attn.qkv.bias": (3 * d,),
                 "attn.proj.weight": (d, d), "attn.proj.bias": (d,), "ls1.gamma": (d,),
                 "norm2.weight": (d,), "norm2.bias": (d,), "mlp.fc1.weight": (h, d), "mlp.fc1.bias": (h,),
                 "mlp.fc2.weight": (d, h), "mlp.fc2.bias": (d,), "ls2.gamma": (d,)}
    for i in range(depth):
        out.update({f"blocks.{i}.{k}": s for k, s in per_block.items()})
    return out


def random_dinov2_state_dict(seed: int = 0, embed_dim: int = EMBED_DIM, depth: int = DEPTH,
                             num_heads: int = NUM_HEADS) -> dict[str, torch.Tensor]:
    """Random weights with the official keys and shapes, scaled so every part of the network matters.

    Linear/conv weights ~ N(0, 1/fan_in), biases N(0, 0.1^2); LayerNorm affine 1 + U(-0.25, 0.25) and
    N(0, 0.1^2); layer-scale gammas U(0.2, 1) (the trained ones are small, but parity must see the
    blocks); position embedding N(0, 1), so its resize visibly changes the features. For tests only.
    """
    del num_heads   # the head count changes no shape; kept so callers pass the config they build
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    for k, shape in official_shapes(embed_dim, depth).items():
        if k.endswith("gamma"):
            v = 0.2 + 0.8 * torch.rand(shape, generator=g)
        elif ".norm" in f".{k}" and k.endswith("weight"):   # norm.weight, blocks.N.norm1/2.weight
            v = 1 + 0.5 * (torch.rand(shape, generator=g) - 0.5)
        elif k.endswith("weight"):
            fan_in = math.prod(shape[1:])
            v = torch.randn(shape, generator=g) * fan_in ** -0.5
        elif k.endswith("bias"):
            v = 0.1 * torch.randn(shape, generator=g)
        else:   # cls_token, pos_embed, mask_token
            v = torch.randn(shape, generator=g)
        sd[k] = v
    return sd


def write_random_dinov2_weights(path: Union[str, os.PathLike], seed: int = 0, **config: int) -> str:
    """Save :func:`random_dinov2_state_dict` with torch.save (the official file's format); returns the path."""
    buf = io.BytesIO()
    torch.save(random_dinov2_state_dict(seed, **config), buf)
    atomic_write_bytes(path, buf.getvalue())
    return str(path)
