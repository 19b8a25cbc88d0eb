"""Well-scaled random Inception-v3 weights in pytorch-fid's file format, for tests and benchmarks.

The real weights cannot be shipped or downloaded everywhere; parity with pytorch-fid and
torch-fidelity only needs *identical* weights on both sides, provided the activations stay O(1)
through the ~20 layers (otherwise features are all zero or huge and any comparison passes).
Recipe: kaiming-normal convolutions (fan-in, ReLU gain), random batch-norm affine parameters,
and running statistics calibrated on a batch of random images (one train-mode pass with
cumulative averaging), so every layer's pre-activation is approximately standard normal.
Never used by a metric: a metric always loads a real, hash-checked file.
"""

from __future__ import annotations

import os
import warnings
from typing import Union

import torch

from .._core.results import atomic_write_bytes
from .inception_net import FIDInceptionV3


def random_inception_state_dict(seed: int = 0, calib_images: int = 6) -> dict[str, torch.Tensor]:
    """A state_dict with pytorch-fid's keys (1008-way ``fc`` included) and calibrated batch norms."""
    g = torch.Generator().manual_seed(seed)
    net = FIDInceptionV3()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * (torch.rand(m.weight.shape, generator=g) - 0.5))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.momentum = None  # cumulative average: after one batch, running stats = batch stats
        # Random images at several spatial frequencies (noise at 8..299 px upsampled), so inputs
        # from smooth to white-noise-like all stay in the calibrated range.
        sizes = [8, 19, 37, 75, 150, 299]
        x = torch.cat([torch.nn.functional.interpolate(
            torch.rand([1, 3, sizes[i % len(sizes)]] * 1 + [sizes[i % len(sizes)]], generator=g) * 2 - 1,
            size=(299, 299), mode="bilinear", align_corners=False) for i in range(calib_images)])
        net.train()(x)
    net.eval()
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    sd["fc.weight"] = torch.randn([1008, 2048], generator=g) * 0.01
    sd["fc.bias"] = torch.zeros(1008)
    return sd


def write_random_inception_weights(path: Union[str, os.PathLike], seed: int = 0) -> str:
    """Save :func:`random_inception_state_dict` to ``path`` atomically (torch.save); returns the path."""
    import io
    buf = io.BytesIO()
    torch.save(random_inception_state_dict(seed), buf)
    atomic_write_bytes(path, buf.getvalue())
    return str(path)


# ---------------------------------------------------------------------------------------------
# CLIP ViT image tower in OpenAI's TorchScript file format


def random_clip_visual_state_dict(config=None, seed: int = 0) -> dict[str, torch.Tensor]:
    """``visual.*`` tensors of a CLIP ViT (default ViT-L/14@336) at OpenAI's initialisation scales
    (clip/model.py ``initialize_parameters``), with random LayerNorm affines and biases so that a
    swapped or ignored parameter changes the output, in OpenAI's file dtypes (float16 for
    convolution/linear/attention weights and ``proj``, float32 for LayerNorms and embeddings)."""
    from .clip_net import VIT_L14_336, visual_key_shapes
    c = config or VIT_L14_336
    g = torch.Generator().manual_seed(seed)
    attn_std, fc_std = c.width ** -0.5, (2 * c.width) ** -0.5
    proj_std = c.width ** -0.5 * (2 * c.layers) ** -0.5
    out: dict[str, torch.Tensor] = {}
    for key, shape in visual_key_shapes(c).items():
        leaf = key.rsplit(".", 1)[-1]
        if ".ln_" in key:
            t = 1 + 0.1 * torch.randn(shape, generator=g) if leaf == "weight" else 0.05 * torch.randn(shape, generator=g)
        elif key.endswith("bias"):
            t = 0.02 * torch.randn(shape, generator=g)
        elif key == "visual.conv1.weight":
            t = torch.randn(shape, generator=g) * (3 * c.patch ** 2) ** -0.5
        elif key.endswith("in_proj_weight"):
            t = torch.randn(shape, generator=g) * attn_std
        elif key.endswith("c_fc.weight"):
            t = torch.randn(shape, generator=g) * fc_std
        elif key.endswith(("out_proj.weight", "c_proj.weight")):
            t = torch.randn(shape, generator=g) * proj_std
        else:                                   # class/positional embedding and proj: OpenAI's width^-0.5
            t = torch.randn(shape, generator=g) * c.width ** -0.5
        half = not (".ln_" in key or key.endswith(("class_embedding", "positional_embedding")))
        out[key] = t.half() if half else t
    return out


class _OpenAIArchive(torch.nn.Module):
    """What OpenAI's .pt holds for the image side: ``visual`` plus the joint-space ``text_projection``
    (torch-fidelity reads the embedding width from it) and ``logit_scale``; forward = encode_image."""

    def __init__(self, config, text_width: int) -> None:
        super().__init__()
        from .clip_net import VisionTransformer
        self.visual = VisionTransformer(config)
        self.text_projection = torch.nn.Parameter(torch.zeros(text_width, config.output_dim))
        self.logit_scale = torch.nn.Parameter(torch.zeros([]))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)


def write_random_clip_archive(path: Union[str, os.PathLike], config=None, seed: int = 0,
                              text_width: int = 768) -> str:
    """Save random CLIP ViT weights as OpenAI does, a TorchScript archive (``torch.jit.save`` of a
    scripted module) whose state_dict has OpenAI's ``visual.*`` keys, shapes and dtypes; the text
    tower is left out (no extractor reads it). Returns the path."""
    import io
    from .clip_net import VIT_L14_336
    c = config or VIT_L14_336
    sd = random_clip_visual_state_dict(c, seed)
    g = torch.Generator().manual_seed(seed + 1)
    sd["text_projection"] = (torch.randn(text_width, c.output_dim, generator=g) * text_width ** -0.5).half()
    sd["logit_scale"] = torch.tensor(4.6052)
    holder = _OpenAIArchive(c, text_width)
    with torch.no_grad():
        for k, p in holder.state_dict(keep_vars=True).items():
            p.data = sd[k].clone()          # take the file dtype as well as the values
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit")  # OpenAI's format is TorchScript
        torch.jit.save(torch.jit.script(holder.eval()), buf)
    atomic_write_bytes(path, buf.getvalue())
    return str(path)
