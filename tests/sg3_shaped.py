"""A generator shaped like NVlabs/stylegan3's ``networks_stylegan3.py`` (config T or R), written for the
PPL tests and benchmark from the paper's description of the architecture (none of their code is here).

What is kept because it decides where the time goes on a CPU, where their code runs its reference
(non-CUDA) ops:

- the mapping network (2 layers, ``w_avg``), a Fourier-feature input transformed by an affine of w;
- 14 layers plus ToRGB, with the layer progression of the paper: cutoffs growing geometrically from 2
  to res / 2, stopbands, sampling rates, a 10-pixel margin on every side but the last two layers, and
  channels ``min(channel_base / 2 / cutoff, channel_max)``;
- each layer: a modulated (demodulated) convolution as one grouped convolution over the batch,
  then the filtered leaky ReLU computed the way the reference op does it: bias, upsampling by zero
  insertion and a low-pass FIR filter (x2 above the larger of the two sampling rates), leaky ReLU with
  gain sqrt(2) and clamp 256, low-pass FIR filter at full rate, then every ``down``-th pixel kept;
- config T: 3x3 convolutions and separable Kaiser filters; config R: 1x1 convolutions, twice the
  channels, and radially symmetric (non-separable) down filters on the non-critically sampled layers;
- no noise inputs (StyleGAN3 has none; ``noise_mode`` is accepted and ignored), ``force_fp32``.

The class names (``Generator`` with ``synthesis.layer_names``, ``synthesis.input`` and
``mapping.w_avg``) make the project's adapter treat it as a StyleGAN3 generator.
"""

from __future__ import annotations

import numpy as np
import scipy.signal
import scipy.special
import torch
import torch.nn.functional as F


class FullyConnectedLayer(torch.nn.Module):
    def __init__(self, in_features: int, out_features: int, activation: str = "linear", lr_multiplier: float = 1.0,
                 weight_init: float = 1.0, bias_init=0.0) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) * (weight_init / lr_multiplier))
        bias = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features]) / lr_multiplier
        self.bias = torch.nn.Parameter(torch.from_numpy(np.array(bias)))
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight.to(x.dtype) * self.weight_gain, self.bias.to(x.dtype) * self.bias_gain)
        return F.leaky_relu(x, 0.2) * np.sqrt(2) if self.activation == "lrelu" else x


class MappingNetwork(torch.nn.Module):
    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 2) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, c_dim, w_dim, num_ws, num_layers
        dims = [z_dim] + [w_dim] * num_layers
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(dims[i], dims[i + 1], "lrelu", lr_multiplier=0.01))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        x = z.to(torch.float32)
        x = x * (x.square().mean(1, keepdim=True) + 1e-8).rsqrt()
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            cut = self.num_ws if truncation_cutoff is None else truncation_cutoff
            x[:, :cut] = self.w_avg.lerp(x[:, :cut], truncation_psi)
        return x


class SynthesisInput(torch.nn.Module):
    """Fourier features of a rotated and translated grid (the rotation and shift from w)."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.channels, self.size, self.sampling_rate, self.bandwidth = channels, int(size), sampling_rate, bandwidth
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = torch.nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand([channels]) - 0.5)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        rot = torch.eye(3, device=w.device).repeat([n, 1, 1])
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        shift = torch.eye(3, device=w.device).repeat([n, 1, 1])
        shift[:, 0, 2], shift[:, 1, 2] = -t[:, 2], -t[:, 3]
        m = rot @ shift @ self.transform.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ m[:, :2, 2:]).squeeze(2)
        freqs = self.freqs.unsqueeze(0) @ m[:, :2, :2]
        amp = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = theta[1, 1] = 0.5 * self.size / self.sampling_rate
        grid = F.affine_grid(theta.unsqueeze(0), [1, 1, self.size, self.size], align_corners=False)
        x = (grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)
        x = torch.sin((x + phases.unsqueeze(1).unsqueeze(2)) * (np.pi * 2)) * amp.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)


def _fir(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1, pad=(0, 0, 0, 0),
         gain: float = 1.0) -> torch.Tensor:
    """Zero-insertion upsampling, padding, FIR filtering (separable or 2-D, one filter per channel as a
    grouped convolution), then keeping every ``down``-th pixel: the reference op's order of work."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(pad[0], 0), max(pad[1], 0), max(pad[2], 0), max(pad[3], 0)])
    x = x[:, :, max(-pad[2], 0): x.shape[2] - max(-pad[3], 0), max(-pad[0], 0): x.shape[3] - max(-pad[1], 0)]
    if f is not None:
        f = (f * gain ** (f.ndim / 2)).to(x.dtype).flip(list(range(f.ndim)))
        if f.ndim == 2:
            x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c)
        else:
            x = F.conv2d(x, f[None, None, None, :].repeat(c, 1, 1, 1), groups=c)
            x = F.conv2d(x, f[None, None, :, None].repeat(c, 1, 1, 1), groups=c)
    elif gain != 1:
        x = x * gain
    return x[:, :, ::down, ::down] if down > 1 else x


def _lowpass(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor | None:
    if numtaps == 1:
        return None
    if not radial:
        return torch.as_tensor(scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs), dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    win = np.kaiser(numtaps, beta)
    f = f * np.outer(win, win)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


class SynthesisLayer(torch.nn.Module):
    def __init__(self, w_dim, is_torgb, is_critical, use_fp16, cin, cout, in_size, out_size, in_rate, out_rate,
                 in_cutoff, out_cutoff, in_half, out_half, conv_kernel=3, filter_size=6, radial=False) -> None:
        super().__init__()
        self.is_torgb, self.use_fp16, self.cin, self.cout = is_torgb, use_fp16, cin, cout
        self.in_size, self.out_size = int(in_size), int(out_size)
        tmp_rate = max(in_rate, out_rate) * (1 if is_torgb else 2)
        self.kernel = 1 if is_torgb else conv_kernel
        self.affine = FullyConnectedLayer(w_dim, cin, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([cout, cin, self.kernel, self.kernel]))
        self.bias = torch.nn.Parameter(torch.zeros([cout]))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.up = int(np.rint(tmp_rate / in_rate))
        up_taps = filter_size * self.up if self.up > 1 and not is_torgb else 1
        self.register_buffer("up_filter", _lowpass(up_taps, in_cutoff, in_half * 2, tmp_rate))
        self.down = int(np.rint(tmp_rate / out_rate))
        down_taps = filter_size * self.down if self.down > 1 and not is_torgb else 1
        self.register_buffer("down_filter", _lowpass(down_taps, out_cutoff, out_half * 2, tmp_rate,
                                                     radial=radial and not is_critical))
        total = (self.out_size - 1) * self.down + 1 - (self.in_size + self.kernel - 1) * self.up + up_taps + down_taps - 2
        lo = (total + self.up) // 2
        self.padding = (lo, total - lo, lo, total - lo)

    def forward(self, x, w, noise_mode="random", force_fp32=False, update_emas=False):
        assert noise_mode in ("random", "const", "none")        # no noise inputs
        styles = self.affine(w)
        weight = self.weight
        if self.is_torgb:
            styles = styles / np.sqrt(self.cin * self.kernel ** 2)
        dtype = torch.float16 if (self.use_fp16 and not force_fp32 and x.device.type == "cuda") else torch.float32
        n = x.shape[0]
        if not self.is_torgb:                    # pre-normalise, modulate, demodulate
            weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
            styles = styles * styles.square().mean().rsqrt()
        wts = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
        if not self.is_torgb:
            wts = wts * (wts.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, -1, 1, 1, 1)
        wts = wts * self.magnitude_ema.rsqrt()
        x = F.conv2d(x.to(dtype).reshape(1, -1, *x.shape[2:]), wts.reshape(-1, self.cin, self.kernel, self.kernel).to(dtype),
                     padding=self.kernel - 1, groups=n)
        x = x.reshape(n, self.cout, *x.shape[2:])
        gain, slope = (1.0, 1.0) if self.is_torgb else (np.sqrt(2), 0.2)
        x = x + self.bias.to(x.dtype).reshape(1, -1, 1, 1)
        x = _fir(x, self.up_filter, up=self.up, pad=self.padding, gain=self.up ** 2)
        x = F.leaky_relu(x, slope) * gain if slope != 1 else x * gain
        x = x.clamp(-256, 256)
        x = _fir(x, self.down_filter, down=self.down)
        assert x.shape[2:] == (self.out_size, self.out_size), (x.shape, self.out_size)
        return x


class SynthesisNetwork(torch.nn.Module):
    def __init__(self, w_dim, img_resolution, img_channels, channel_base=32768, channel_max=512, num_layers=14,
                 num_critical=2, margin_size=10, output_scale=0.25, num_fp16_res=4, conv_kernel=3, radial=False) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.num_ws, self.output_scale = num_layers + 2, output_scale
        last_cutoff = img_resolution / 2
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = 2 * (last_cutoff / 2) ** exponents
        stopbands = 2 ** 2.1 * (last_cutoff * 2 ** 0.3 / 2 ** 2.1) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        halves = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels
        self.input = SynthesisInput(w_dim, int(channels[0]), int(sizes[0]), rates[0], cutoffs[0])
        self.layer_names = []
        for i in range(num_layers + 1):
            p = max(i - 1, 0)
            layer = SynthesisLayer(w_dim, i == num_layers, i >= num_layers - num_critical,
                                   bool(rates[i] * 2 ** num_fp16_res > img_resolution), int(channels[p]),
                                   int(channels[i]), sizes[p], sizes[i], int(rates[p]), int(rates[i]), cutoffs[p],
                                   cutoffs[i], halves[p], halves[i], conv_kernel=conv_kernel, radial=radial)
            name = f"L{i}_{layer.out_size}_{layer.cout}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(self, ws, **layer_kwargs):
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w, **layer_kwargs)
        return (x * self.output_scale).to(torch.float32)


class Generator(torch.nn.Module):
    def __init__(self, z_dim, c_dim, w_dim, img_resolution, img_channels, mapping_kwargs={}, **synthesis_kwargs):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **mapping_kwargs)

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, **synthesis_kwargs):
        return self.synthesis(self.mapping(z, c, truncation_psi, truncation_cutoff), **synthesis_kwargs)


# Their train.py: config T = channel_base 32768, channel_max 512; config R doubles both, 1x1 convolutions,
# radial filters. ``scale`` divides the channel numbers for CPU-sized networks (the layer plan is the same).
CONFIGS = {"t": dict(channel_base=32768, channel_max=512, conv_kernel=3, radial=False),
           "r": dict(channel_base=65536, channel_max=1024, conv_kernel=1, radial=True)}


def make_generator(config: str = "t", resolution: int = 64, scale: int = 16, z_dim: int = 64, seed: int = 0) -> Generator:
    """A random StyleGAN3-shaped generator (config 't' or 'r'), channels divided by ``scale``, eval mode."""
    kw = dict(CONFIGS[config])
    kw["channel_base"] //= scale
    kw["channel_max"] //= scale
    torch.manual_seed(seed)
    G = Generator(z_dim=z_dim, c_dim=0, w_dim=z_dim, img_resolution=resolution, img_channels=3, **kw)
    return G.eval().requires_grad_(False)
