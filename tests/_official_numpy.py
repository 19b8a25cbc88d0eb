"""Test helper: a float64 numpy transcription of the official TensorFlow graphs of
training/networks_stylegan.py (G_mapping, G_synthesis with the 'linear' structure, D_basic), run
directly on a dict of official variables. Written from the official source, not from
reference_models, so that comparing the two checks the port end to end."""

from __future__ import annotations

import math

import numpy as np

SQRT2 = np.sqrt(2.0)


def weight(v, name, gain=SQRT2, lrmul=1.0):
    w = np.asarray(v[name], dtype=np.float64)
    return w * (gain / np.sqrt(np.prod(w.shape[:-1])) * lrmul)


def bias(x, v, name, lrmul=1.0):
    b = np.asarray(v[name], dtype=np.float64) * lrmul
    return x + (b if x.ndim == 2 else b.reshape(1, -1, 1, 1))


def lrelu(x):
    return np.maximum(x, 0.2 * x)


def conv_same(x, w):
    """tf.nn.conv2d NCHW, stride 1, 'SAME', w [kh, kw, in, out] (cross-correlation)."""
    k = w.shape[0]
    p = k // 2
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    H, W = x.shape[2:]
    out = np.zeros((x.shape[0], w.shape[3], H, W))
    for u in range(k):
        for v in range(k):
            out += np.einsum("nchw,co->nohw", xp[:, :, u:u + H, v:v + W], w[u, v])
    return out


def summed4(w):
    w = np.pad(w, [(1, 1), (1, 1), (0, 0), (0, 0)])
    return w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]


def conv_transpose_up(x, w):
    """The fused upscale2d_conv2d: conv2d_transpose(stride 2, 'SAME') with the summed kernel of w^T."""
    F = summed4(w.transpose(0, 1, 3, 2))  # [4, 4, out, in]
    N, C, H, W = x.shape
    out = np.zeros((N, F.shape[2], 2 * H + 2, 2 * W + 2))
    for u in range(4):
        for v in range(4):
            out[:, :, u:u + 2 * H:2, v:v + 2 * W:2] += np.einsum("nchw,oc->nohw", x, F[u, v])
    return out[:, :, 1:2 * H + 1, 1:2 * W + 1]


def conv_stride_down(x, w):
    """The fused conv2d_downscale2d: conv2d(stride 2, 'SAME') with 0.25 * the summed kernel."""
    F = summed4(w) * 0.25
    xp = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    H, W = x.shape[2] // 2, x.shape[3] // 2
    out = np.zeros((x.shape[0], F.shape[3], H, W))
    for u in range(4):
        for v in range(4):
            out += np.einsum("nchw,co->nohw", xp[:, :, u:u + 2 * H:2, v:v + 2 * W:2], F[u, v])
    return out


def up(x, f=2):
    return x.repeat(f, axis=2).repeat(f, axis=3)


def down(x, f=2):
    N, C, H, W = x.shape
    return x.reshape(N, C, H // f, f, W // f, f).mean(axis=(3, 5))


def blur(x, f=(1, 2, 1)):
    """blur2d: _blur2d's kernel (a 1-D f becomes outer(f, f); normalised to sum 1; not flipped)
    through tf.nn.depthwise_conv2d(stride 1, 'SAME'). TF's 'SAME' pads (k - 1) // 2 before and
    the rest after, so an even-length kernel gets one more pixel of padding after than before."""
    f = np.asarray(f, dtype=np.float64)
    if f.ndim == 1:
        f = np.outer(f, f)
    f = f / f.sum()
    kh, kw = f.shape
    xp = np.pad(x, [(0, 0), (0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)])
    H, W = x.shape[2:]
    out = np.zeros_like(x, dtype=np.float64)
    for u in range(kh):
        for v in range(kw):
            out += xp[:, :, u:u + H, v:v + W] * f[u, v]  # depthwise: each channel on its own
    return out


def pixel_norm(x):
    return x / np.sqrt((x ** 2).mean(axis=1, keepdims=True) + 1e-8)


def instance_norm(x):
    x = x - x.mean(axis=(2, 3), keepdims=True)
    return x / np.sqrt((x ** 2).mean(axis=(2, 3), keepdims=True) + 1e-8)


def lerp_clip(a, b, t):
    return a + (b - a) * np.clip(t, 0.0, 1.0)


def mapping(v, z, depth, prefix="G_mapping/"):
    x = pixel_norm(z)
    for i in range(depth):
        x = lrelu(bias(x @ weight(v, f"{prefix}Dense{i}/weight", lrmul=0.01), v, f"{prefix}Dense{i}/bias", 0.01))
    return x


def synthesis(v, dlatents, resolution, *, styles=True, const=True, noise=True, pixnorm=False, instnorm=True,
              fused="auto", lod=0.0, blur_filter=(1, 2, 1), p="G_synthesis/"):
    L = int(math.log2(resolution))
    N = dlatents.shape[0]

    def epilogue(x, i, scope):
        if noise:
            x = x + v[f"{p}noise{i}"] * np.asarray(v[f"{scope}/Noise/weight"]).reshape(1, -1, 1, 1)
        x = lrelu(bias(x, v, f"{scope}/bias"))
        if pixnorm:
            x = pixel_norm(x)
        if instnorm:
            x = instance_norm(x)
        if styles:
            s = bias(dlatents[:, i] @ weight(v, f"{scope}/StyleMod/weight", gain=1), v, f"{scope}/StyleMod/bias")
            s = s.reshape(N, 2, x.shape[1], 1, 1)
            x = x * (s[:, 0] + 1) + s[:, 1]
        return x

    if const:
        x = epilogue(np.tile(v[f"{p}4x4/Const/const"], [N, 1, 1, 1]).astype(np.float64), 0, f"{p}4x4/Const")
    else:
        x = dlatents[:, 0] @ weight(v, f"{p}4x4/Dense/weight", gain=SQRT2 / 4)
        x = epilogue(x.reshape(N, -1, 4, 4), 0, f"{p}4x4/Dense")
    x = epilogue(conv_same(x, weight(v, f"{p}4x4/Conv/weight")), 1, f"{p}4x4/Conv")

    def torgb(x, res):
        k = L - res
        return bias(conv_same(x, weight(v, f"{p}ToRGB_lod{k}/weight", gain=1)), v, f"{p}ToRGB_lod{k}/bias")

    images = torgb(x, 2)
    for res in range(3, L + 1):
        r = 2 ** res
        w0 = weight(v, f"{p}{r}x{r}/Conv0_up/weight")
        is_fused = (r >= 128) if fused == "auto" else fused
        y = conv_transpose_up(x, w0) if is_fused else conv_same(up(x), w0)
        x = epilogue(blur(y, blur_filter) if blur_filter else y, 2 * res - 4, f"{p}{r}x{r}/Conv0_up")
        x = epilogue(conv_same(x, weight(v, f"{p}{r}x{r}/Conv1/weight")), 2 * res - 3, f"{p}{r}x{r}/Conv1")
        images = lerp_clip(torgb(x, res), up(images), lod - (L - res))
    return images


def discriminator(v, images, resolution, *, mbstd_group=4, use_blur=True, fused="auto", lod=0.0,
                  blur_filter=(1, 2, 1), progan=False):
    """D_basic, or with ``progan=True`` networks_progan.D_paper: no blur; its down-sampling conv is
    'Conv1_down' (fused, as D_basic's) when ``fused`` else 'Conv1' followed by bias, leaky ReLU and
    only then the 2x2 average (D_basic averages inside conv2d_downscale2d, before bias and act)."""
    L = int(math.log2(resolution))

    def fromrgb(x, res):
        k = L - res
        return lrelu(bias(conv_same(x, weight(v, f"FromRGB_lod{k}/weight")), v, f"FromRGB_lod{k}/bias"))

    img = images.astype(np.float64)
    x = fromrgb(img, L)
    for res in range(L, 2, -1):
        r = 2 ** res
        x = lrelu(bias(conv_same(x, weight(v, f"{r}x{r}/Conv0/weight")), v, f"{r}x{r}/Conv0/bias"))
        if progan:
            if fused:
                x = lrelu(bias(conv_stride_down(x, weight(v, f"{r}x{r}/Conv1_down/weight")), v, f"{r}x{r}/Conv1_down/bias"))
            else:
                x = down(lrelu(bias(conv_same(x, weight(v, f"{r}x{r}/Conv1/weight")), v, f"{r}x{r}/Conv1/bias")))
        else:
            if use_blur and blur_filter:
                x = blur(x, blur_filter)
            w1 = weight(v, f"{r}x{r}/Conv1_down/weight")
            is_fused = (r >= 128) if fused == "auto" else fused
            x = conv_stride_down(x, w1) if is_fused else down(conv_same(x, w1))
            x = lrelu(bias(x, v, f"{r}x{r}/Conv1_down/bias"))
        img = down(img)
        x = lerp_clip(x, fromrgb(img, res - 1), lod - (L - res))
    if mbstd_group > 1:
        N, C, H, W = x.shape
        G = min(mbstd_group, N)
        y = x.reshape(G, -1, 1, C, H, W)
        y = y - y.mean(axis=0, keepdims=True)
        y = np.sqrt((y ** 2).mean(axis=0) + 1e-8).mean(axis=(2, 3, 4), keepdims=True).mean(axis=2)
        x = np.concatenate([x, np.tile(y, [G, 1, H, W])], axis=1)
    x = lrelu(bias(conv_same(x, weight(v, "4x4/Conv/weight")), v, "4x4/Conv/bias"))
    x = lrelu(bias(x.reshape(x.shape[0], -1) @ weight(v, "4x4/Dense0/weight"), v, "4x4/Dense0/bias"))
    return bias(x @ weight(v, "4x4/Dense1/weight", gain=1), v, "4x4/Dense1/bias")


def g_style_truncation(dlatents, dlatent_avg, truncation_psi=0.7, truncation_cutoff=8):
    """G_style's truncation trick (not training, not validation). psi == 1 turns psi off and
    cutoff <= 0 turns cutoff off; the trick runs only when both are still not None, and then
    lerps towards dlatent_avg by psi on the layers with index < cutoff."""
    if truncation_psi is not None and truncation_psi == 1:
        truncation_psi = None
    if truncation_cutoff is not None and truncation_cutoff <= 0:
        truncation_cutoff = None
    if truncation_psi is None or truncation_cutoff is None:
        return dlatents
    layer_idx = np.arange(dlatents.shape[1])[np.newaxis, :, np.newaxis]
    coefs = np.where(layer_idx < truncation_cutoff, truncation_psi * np.ones(layer_idx.shape), np.ones(layer_idx.shape))
    return dlatent_avg + (dlatents - dlatent_avg) * coefs
