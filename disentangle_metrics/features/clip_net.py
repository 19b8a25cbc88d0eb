"""OpenAI CLIP's ViT image tower with OpenAI's parameter names, and reading it from OpenAI's files.

The architecture is OpenAI CLIP's ``VisionTransformer`` (openai/CLIP ``clip/model.py``), written
here against its state_dict layout (``visual.*`` in the released TorchScript archives):

    x = conv1(image)                   patch embedding, kernel = stride = patch, no bias
    x = [class_embedding; x] + positional_embedding
    x = ln_pre(x)
    L x:  x = x + attn(ln_1(x));  x = x + c_proj(QuickGELU(c_fc(ln_2(x))))
    e = ln_post(x[class token]) @ proj

with QuickGELU(z) = z * sigmoid(1.702 z), LayerNorm eps 1e-5 and ``torch.nn.MultiheadAttention``
(sequence-first) holding ``in_proj_weight``/``in_proj_bias``/``out_proj`` as OpenAI's does; these
are the same operations in the same order as OpenAI's code and torch-fidelity's copy of it, so
features agree with them to float round-off (the parity test measures it).

OpenAI's files are whole-CLIP TorchScript archives (``torch.jit.load(f).state_dict()``): the
image tower's keys start with ``visual.``; the text tower's are ignored. Linear, convolution and
attention weights and ``proj`` are stored in float16 (OpenAI's ``convert_weights``), LayerNorms and
the class/position embeddings in float32; everything is computed in float32 here, as OpenAI's
``clip.load`` does on a CPU (``model.float()``).
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import torch
from torch import nn


@dataclass(frozen=True)
class VisualConfig:
    """Shape of a CLIP ViT image tower."""

    width: int = 1024
    layers: int = 24
    heads: int = 16
    patch: int = 14
    resolution: int = 336
    output_dim: int = 768

    @property
    def grid(self) -> int:
        return self.resolution // self.patch


VIT_L14_336 = VisualConfig()   # OpenAI's ViT-L/14@336px: 24 x 1024-wide blocks, 16 heads, 24x24 patches, 768-d


class QuickGELU(nn.Module):
    """OpenAI's activation: z * sigmoid(1.702 z)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    """Pre-LayerNorm transformer block; sequence-first [L, N, D] as OpenAI's."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, 4 * width)), ("gelu", QuickGELU()),
                                              ("c_proj", nn.Linear(4 * width, width))]))
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """``resblocks``: the L blocks in order."""

    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    """CLIP's image tower: normalised float images [N, 3, R, R] -> image embeddings [N, output_dim] (not unit length)."""

    def __init__(self, config: VisualConfig = VIT_L14_336) -> None:
        super().__init__()
        c = config
        self.config = c
        self.conv1 = nn.Conv2d(3, c.width, kernel_size=c.patch, stride=c.patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(c.width))
        self.positional_embedding = nn.Parameter(torch.zeros(c.grid ** 2 + 1, c.width))
        self.ln_pre = nn.LayerNorm(c.width)
        self.transformer = Transformer(c.width, c.layers, c.heads)
        self.ln_post = nn.LayerNorm(c.width)
        self.proj = nn.Parameter(torch.zeros(c.width, c.output_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x.to(self.conv1.weight.dtype))
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)                  # [N, grid^2, D]
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)                # blocks are sequence-first
        return self.ln_post(x[:, 0, :]) @ self.proj


def visual_key_shapes(config: VisualConfig = VIT_L14_336) -> dict[str, tuple[int, ...]]:
    """``visual.*`` key -> shape of a tower of ``config`` (built on the meta device: no memory)."""
    with torch.device("meta"):
        net = VisionTransformer(config)
    return {f"visual.{k}": tuple(v.shape) for k, v in net.state_dict().items()}


def config_from_state_dict(sd: dict[str, torch.Tensor]) -> VisualConfig:
    """The tower's shape read off ``visual.*`` keys (as OpenAI's ``build_model`` does)."""
    try:
        width, _, patch, _ = sd["visual.conv1.weight"].shape
        grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        output_dim = sd["visual.proj"].shape[1]
    except KeyError as exc:
        raise ValueError(f"not a CLIP ViT state_dict: key {exc.args[0]!r} is missing") from None
    layers = len([k for k in sd if k.startswith("visual.transformer.resblocks.") and k.endswith(".attn.in_proj_weight")])
    return VisualConfig(width=width, layers=layers, heads=width // 64, patch=patch, resolution=patch * grid,
                        output_dim=output_dim)


def read_openai_archive(path: Union[str, os.PathLike]) -> dict[str, torch.Tensor]:
    """``torch.jit.load(path, map_location='cpu').state_dict()`` of an OpenAI CLIP TorchScript file.

    Raises a ValueError naming the file when it is not a TorchScript archive (OpenAI's ``.pt``
    files are; a plain state_dict or a truncated download is not).
    """
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{p}: not a TorchScript archive ({type(exc).__name__}); OpenAI's CLIP .pt files are "
                         "zip archives: the file may be truncated, download it again") from None
    if not (any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)):
        raise ValueError(f"{p}: a zip file but not a TorchScript archive (no code/ or constants.pkl); "
                         "expected OpenAI's CLIP .pt file")
    with warnings.catch_warnings():
        # torch marks TorchScript deprecated; OpenAI's files are TorchScript, so it is the only reader
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit")
        return dict(torch.jit.load(str(p), map_location="cpu").state_dict())


def load_visual(sd: dict[str, torch.Tensor], expect: Union[VisualConfig, None] = VIT_L14_336,
                source: str = "state_dict") -> VisionTransformer:
    """A float32 :class:`VisionTransformer` holding the ``visual.*`` tensors of ``sd`` (other keys ignored).

    With ``expect`` the key set and every shape must be exactly that tower's (else a ValueError
    naming ``source`` and the first differences); ``expect=None`` reads the shape off ``sd``.
    """
    visual = {k: v for k, v in sd.items() if k.startswith("visual.")}
    config = expect if expect is not None else config_from_state_dict(visual)
    want = visual_key_shapes(config)
    got = {k: tuple(v.shape) for k, v in visual.items()}
    if got != want:
        missing = sorted(set(want) - set(got))[:3]
        extra = sorted(set(got) - set(want))[:3]
        shapes = [f"{k}: {got[k]} != {want[k]}" for k in sorted(set(got) & set(want)) if got[k] != want[k]][:3]
        raise ValueError(f"{source} is not a CLIP ViT with {config}: missing {missing}, unexpected {extra}, "
                         f"shapes {shapes}")
    with torch.device("meta"):      # no random initialisation of 300M parameters only to overwrite them
        net = VisionTransformer(config)
    net.load_state_dict({k[len("visual."):]: v.to(torch.float32) for k, v in visual.items()}, assign=True)
    return net.eval().requires_grad_(False)
