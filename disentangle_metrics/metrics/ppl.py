"""Perceptual path length (Karras et al. 2019, section 3), as the paper's TensorFlow code computes it.

For pair i with latents z0, z1 ~ N(0, I) and t ~ U(0, 1) (``full``) or t = 0 (``end``):

- Z space: z(t) = slerp(z0 / |z0|, z1 / |z1|, t); the images are G(mapping(z(t))) and
  G(mapping(z(t + eps))).
- W space: w0, w1 = mapping(z0), mapping(z1) (all num_ws layers); w(t) = lerp(w0, w1, t); the images
  are G.synthesis(w(t)) and G.synthesis(w(t + eps)).

  d_i = D(crop(img(t)), crop(img(t + eps))) / eps^2,

with D the perceptual distance (LPIPS-VGG by default). No truncation; all images of a minibatch
(both ends of every pair) share one noise realisation, redrawn per minibatch. ``crop`` keeps
[3c:7c, 2c:6c] with c = H // 8, then a box filter brings a crop larger than 256 down by the factor
crop // 256. Finally lo = 1st percentile (method 'lower'), hi = 99th percentile (method 'higher') and

  PPL = mean{ d_i : lo <= d_i <= hi }.

``mode='ada'`` computes the box-filter factor as stylegan2-ada-pytorch does, from the full resolution
before the crop (img_resolution // 256): at 512 and 1024 its cropped images are 128x128, not 256x256,
so its numbers differ from the paper's there; below 512 both modes agree.
"""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from .._core import distributed, sampling
from ..functional import intervals
from .._core.device import describe, metric_precision, resolve_device, sync
from .._core.progress import progress_bar
from .distances import DEFAULT_DISTANCE, Distance, build_distance
from ..generators.precision_guard import check_eps_scaling
from ..generators.protocol import conditioning, require_mapping
from .._core.options import ScoreOptions
from .._core.options import count_or_default
from .registry import register_metric
from ..generators.sources import GeneratorSource, box_downsample
from .._core.results import MetricResult

SPACES = ("z", "w")
SAMPLINGS = ("full", "end")
MODES = ("tf", "ada")
PAPER_NUM_SAMPLES = 100_000
PAPER_EPSILON = 1e-4
PAPER_BATCH_SIZE = 16        # minibatch_per_gpu of the paper's code: the pairs that share one noise draw

# How many output pixels one generator call should hold on the CPU, per generator family (the adapter's
# kind); the images per call are this budget over res^2, between 1 and the noise batch's 2 * batch_size
# images. Measured on NVIDIA's own networks (stylegan2-ada-pytorch and stylegan3 checkouts outside the
# repository, random weights in their train.py configurations) with `python benchmarks/bench_ppl_families.py
# --table --nvidia-code DIR --threads 1` (benchmarks/results/ppl_families_cpu.md), seconds per image of
# synthesis at 1 / 2 / 4 images per call:
#   stylegan2-ada, full channels: 64x64 0.54 / 0.70 / 0.81 (0.91 at 32), 256x256 0.46 / 0.57 / 0.70 and
#     1.06 / 1.51 / 1.69 (two runs), 1024x1024 3.73 / 3.93 / 4.15: one image per call is the cheapest
#     (its modulated convolutions run as one grouped convolution over the call);
#   StyleGAN3 at 256x256: T full channels 23.8 / 24.0 / 26.4, T channels / 4 6.3 / 6.0 / 4.9, R channels
#     / 4 8.7 / 8.6 / 10.7: no call size wins beyond the run-to-run spread; one image keeps memory lowest.
# The protocol row (other generators) keeps 0.2.0's budget, unmeasured on foreign code.
CPU_PIXELS_PER_CALL = {"stylegan3": 64 ** 2, "stylegan2-ada": 64 ** 2, "protocol": 16 * 64 ** 2}

DistanceArg = Union[None, str, Distance, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]


@dataclass(frozen=True)
class PPLConfig:
    """The parameters that define a PPL number (everything but the generator and the distance)."""

    space: str = "w"
    sampling: str = "end"
    num_samples: int = PAPER_NUM_SAMPLES
    epsilon: float = PAPER_EPSILON
    crop: bool = True
    mode: str = "tf"

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"PPL space must be one of {SPACES}, got {self.space!r}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(f"PPL sampling must be one of {SAMPLINGS}, got {self.sampling!r}")
        if self.mode not in MODES:
            raise ValueError(f"PPL mode must be 'tf' (the paper's code) or 'ada' (stylegan2-ada-pytorch), got {self.mode!r}")
        if self.num_samples < 2:
            raise ValueError(f"PPL needs num_samples >= 2 for its percentile filter, got {self.num_samples}")
        if not self.epsilon > 0:
            raise ValueError(f"PPL epsilon must be positive, got {self.epsilon}")

    @property
    def base_name(self) -> str:
        return f"ppl_{self.space}{self.sampling}"


# --------------------------------------------------------------------------------------------
# Pieces, each testable on its own


def normalize(v: torch.Tensor) -> torch.Tensor:
    """v / |v| along the last axis (no epsilon, as in the reference)."""
    return v / v.square().sum(dim=-1, keepdim=True).sqrt()


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of the normalised a, b: with d = a.b, p = t acos(d),
    c = normalize(b - d a), the result is normalize(a cos p + c sin p). ``t`` is [N, 1]."""
    a, b = normalize(a), normalize(b)
    d = (a * b).sum(dim=-1, keepdim=True)
    p = t * torch.acos(d)
    c = normalize(b - d * a)
    return normalize(a * torch.cos(p) + c * torch.sin(p))


def endpoint_ws(G: Any, z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor, space: str,
                epsilon: float, *, c: Optional[torch.Tensor] = None) -> torch.Tensor:
    """ws of both ends of every pair, [2N, num_ws, w_dim]: rows [0, N) at t, rows [N, 2N) at t + eps.

    One mapping call for all of them (Z: on the slerped latents; W: on z0 and z1, then lerp); no
    truncation. ``c`` [N, c_dim]: the pairs' labels (both ends share them; default unconditional).
    """
    n = z0.shape[0]
    c = conditioning(G, n, z0.device) if c is None else c
    return _endpoint_ws(lambda z, cc: G.mapping(z, cc, truncation_psi=1), z0, z1, c, t, space, epsilon)


def _endpoint_ws(mapping: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], z0: torch.Tensor, z1: torch.Tensor,
                 c: torch.Tensor, t: torch.Tensor, space: str, epsilon: float) -> torch.Tensor:
    n = z0.shape[0]
    t = t.reshape(n, 1)
    cc = torch.cat([c, c])
    if space == "z":
        zt = torch.cat([slerp(z0, z1, t), slerp(z0, z1, t + epsilon)])
        return mapping(zt, cc)
    w0, w1 = mapping(torch.cat([z0, z1]), cc).chunk(2)
    tw = t.reshape(n, 1, 1).to(w0.dtype)
    return torch.cat([torch.lerp(w0, w1, tw), torch.lerp(w0, w1, tw + epsilon)])


def crop_and_downsample(img: torch.Tensor, crop: bool = True, mode: str = "tf",
                        img_resolution: Optional[int] = None) -> torch.Tensor:
    """The reference's face crop [3c:7c, 2c:6c] (c = H // 8) and box downsampling.

    ``mode='tf'``: when the (cropped) image is larger than 256, average ``factor x factor`` blocks with
    factor = size // 256. ``mode='ada'``: factor = img_resolution // 256 of the full image, applied
    after the crop (stylegan2-ada-pytorch).
    """
    if img.ndim != 4 or img.shape[2] != img.shape[3]:
        raise ValueError(f"PPL expects square NCHW images, got shape {tuple(img.shape)}")
    full = img.shape[2] if img_resolution is None else int(img_resolution)
    if crop:
        c = img.shape[2] // 8
        img = img[:, :, c * 3: c * 7, c * 2: c * 6]
    if mode == "tf":
        factor = img.shape[2] // 256 if img.shape[2] > 256 else 1
    elif mode == "ada":
        factor = full // 256
    else:
        raise ValueError(f"mode must be 'tf' or 'ada', got {mode!r}")
    return box_downsample(img, factor)


@dataclass(frozen=True)
class OutlierFilter:
    """Result of the 1/99 percentile rule."""

    mean: float
    lo: float
    hi: float
    kept: np.ndarray               # bool mask over the input
    num_low: int                   # values below lo (dropped)
    num_high: int                  # values above hi (dropped)


def filter_outliers(distances: np.ndarray, lower: float = 1.0, upper: float = 99.0) -> OutlierFilter:
    """lo = percentile(d, 1, method='lower'), hi = percentile(d, 99, method='higher'); mean of lo <= d <= hi."""
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 1 or d.size == 0:
        raise ValueError(f"need a non-empty 1-D array of distances, got shape {d.shape}")
    bad = ~np.isfinite(d)
    if bad.any():
        first = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"{int(bad.sum())} PPL distances are not finite (first at sample indices {first}); the "
                         "generator or the distance produced NaN/inf. Check the generator's output for those samples.")
    lo = float(np.percentile(d, lower, method="lower"))
    hi = float(np.percentile(d, upper, method="higher"))
    kept = (d >= lo) & (d <= hi)
    return OutlierFilter(mean=float(d[kept].mean()), lo=lo, hi=hi, kept=kept,
                         num_low=int((d < lo).sum()), num_high=int((d > hi).sum()))


# --------------------------------------------------------------------------------------------
# The metric


def images_per_call_for(device: torch.device, kind: str, resolution: int, batch_size: int) -> tuple[int, str]:
    """(images per generator call, the rule that chose it) for a generator of adapter ``kind`` whose noise
    batch holds ``batch_size`` pairs (2 * batch_size images).

    CUDA: the whole noise batch in one call. CPU: :data:`CPU_PIXELS_PER_CALL` of the family (``protocol``'s
    row for kinds the table does not list) over res^2 pixels, between 1 and 2 * ``batch_size``.
    """
    if device.type != "cpu":
        return 2 * batch_size, f"{device.type}: the noise batch in one call"
    row = kind if kind in CPU_PIXELS_PER_CALL else "protocol"
    pixels = CPU_PIXELS_PER_CALL[row]
    images = max(1, min(2 * batch_size, pixels // int(resolution) ** 2))
    return images, f"cpu table: {pixels} pixels per call for {row} generators at {resolution}x{resolution}"


def _resolve_distance(distance: DistanceArg, device: torch.device, dtype: torch.dtype,
                      weight_paths: Mapping[str, str], allow_hash_mismatch: bool) -> tuple[str, Distance]:
    if distance is None or isinstance(distance, str):
        name = distance or DEFAULT_DISTANCE
        return name, build_distance(name, device=device, dtype=dtype, weight_paths=weight_paths,
                                    allow_hash_mismatch=allow_hash_mismatch)
    if isinstance(distance, Distance):
        return distance.name, distance
    if callable(distance):
        # The label ends up in file names (samples .npz): keep it to safe characters.
        label = re.sub(r"[^A-Za-z0-9_.-]", "", getattr(distance, "__name__", None) or type(distance).__name__)
        label = label or "callable"
        return f"custom-{label}", Distance(name=f"custom-{label}", fn=distance)
    raise TypeError(f"distance must be a registered name, a Distance or a callable (img0, img1) -> [N]; "
                    f"got {type(distance).__name__}")


def _metric_name(cfg: PPLConfig, distance_name: str, extra_tags: Sequence[str] = ()) -> str:
    tags = []
    if distance_name != DEFAULT_DISTANCE:
        tags.append(distance_name)
    if cfg.mode != "tf":
        tags.append(cfg.mode)
    if not cfg.crop:
        tags.append("nocrop")
    tags.extend(extra_tags)
    return cfg.base_name + (f"@{'+'.join(tags)}" if tags else "")


def ppl(G: Any, space: str = "w", sampling: str = "end", num_samples: int = PAPER_NUM_SAMPLES,
        epsilon: float = PAPER_EPSILON, crop: bool = True, distance: DistanceArg = None,
        batch_size: Optional[int] = None, seed: int = 0, device: str | torch.device = "auto", mode: str = "tf",
        *, images_per_call: Optional[int] = None, compute_batch: Optional[int] = None, dtype: torch.dtype = torch.float32, weights: Optional[Mapping[str, str]] = None,
        allow_hash_mismatch: bool = False, progress: bool = False, truncation_psi: float = 1.0,
        truncation_cutoff: Optional[int] = None, class_label: Optional[int] = None, labels: Any = None,
        precision_check: bool = True, bootstrap: int = intervals.PPL_RESAMPLES) -> MetricResult:
    """Perceptual path length of generator ``G`` (see the module docstring for the formula).

    The generator always runs in float32 (``force_fp32`` for stylegan2-ada / StyleGAN3, as their PPL
    does), whatever its checkpoint says. ``precision_check`` first verifies on a few pairs that the
    image distance scales like eps^2 (:mod:`~.precision_guard`) and stops with
    :class:`~.precision_guard.PrecisionError` when the generator quantises internally.
    ``truncation_psi`` other than 1 (not the paper's definition) appears in the name
    (``ppl_wend@psi0.7``); ``class_label``/``labels`` choose a conditional generator's labels.
    ``bootstrap``: resamples of the 95% interval (:func:`~.intervals.ppl_bootstrap`; 0 = none).

    ``distance``: a registered name (default ``lpips-vgg``), a :class:`Distance`, or any callable
    ``(img0, img1) -> [N]`` on the cropped, resized images in [-1, 1]. ``batch_size`` pairs form one
    minibatch (default 16, the paper's): they share one noise realisation, so with a generator that
    redraws noise (``reseed_noise``) the number depends on it through the noise grouping; z and t are
    per-sample (seeded by global index). ``images_per_call``: images per generator call within a
    minibatch (default: :func:`images_per_call_for` the device and generator family; the distance still
    sees the whole minibatch in one call); every call of a minibatch sees the same noise realisation,
    so it changes float32 rounding only. ``compute_batch`` (pairs per call, 0.2.0) is the same knob
    counted in pairs (``images_per_call = 2 * compute_batch``) and will be removed in 0.3. ``dtype`` is
    the generator's precision (float32 by default, TF32 off; float64 for checks). ``weights`` maps
    registered weight names to files.

    Returns a :class:`MetricResult` with ``samples['distances']`` (all d_i in global index order) and
    ``samples['t']``; extras hold the percentile bounds and counts.
    """
    cfg = PPLConfig(space=space, sampling=sampling, num_samples=int(num_samples), epsilon=float(epsilon),
                    crop=bool(crop), mode=mode)
    if cfg.space == "w":
        require_mapping(G, cfg.base_name)
    dev = resolve_device(device)
    bs = int(PAPER_BATCH_SIZE if batch_size is None else batch_size)
    if bs < 1:
        raise ValueError(f"batch_size must be >= 1, got {bs}")
    if compute_batch is not None:
        if images_per_call is not None:
            raise ValueError("pass images_per_call or compute_batch (pairs per call, deprecated), not both")
        if int(compute_batch) < 1:
            raise ValueError(f"compute_batch must be >= 1 (pairs per generator call), got {compute_batch}")
        warnings.warn("ppl(compute_batch=K) is deprecated: pass images_per_call=2*K (it can also be odd, e.g. 1)",
                      DeprecationWarning, stacklevel=2)
        images_per_call = 2 * int(compute_batch)
    if images_per_call is not None and int(images_per_call) < 1:
        raise ValueError(f"images_per_call must be >= 1, got {images_per_call}")
    start = time.perf_counter()
    with metric_precision(), torch.no_grad():
        src = GeneratorSource(G, device=dev, dtype=dtype, force_fp32=True, truncation_psi=truncation_psi,
                              truncation_cutoff=truncation_cutoff, class_label=class_label, labels=labels)
        if images_per_call is None:
            chunk, chunk_rule = images_per_call_for(dev, src.adapter, src.resolution, bs)
        else:
            chunk, chunk_rule = min(int(images_per_call), 2 * bs), "given"
        dist_name, dist = _resolve_distance(distance, dev, dtype, weights or {}, allow_hash_mismatch)
        guard = check_eps_scaling(src, epsilon=cfg.epsilon, seed=seed, space=cfg.space, dtype=dtype,
                                  images_per_call=chunk) if precision_check else None
        d_all, t_all, sample_time = _sample_distances(src, cfg, dist, bs, seed, dev, dtype, progress, chunk)
    d_np = d_all.cpu().numpy()          # results reach the host once, after the loop
    filt = filter_outliers(d_np)
    wall = time.perf_counter() - start
    name = _metric_name(cfg, dist_name, src.name_tags())
    gen = src.describe()
    res = MetricResult(
        metric=name, value=filt.mean, values={name: filt.mean},
        config={**asdict(cfg), "distance": dist_name, "batch_size": bs, "images_per_call": chunk,
                "images_per_call_rule": chunk_rule, "dtype": str(dtype).replace("torch.", ""),
                "noise": gen["noise_hook"], "percentiles": [1, 99], "precision": gen["precision"],
                "truncation_psi": src.truncation_psi, "truncation_cutoff": src.truncation_cutoff,
                "labels": src.label_policy.describe(), "generator": gen,
                "precision_check": guard.as_dict() if guard else "skipped (precision_check=False)"},
        seed=seed, num_samples=cfg.num_samples, wall_time_s=wall, device=describe(dev), weights=dict(dist.weights),
        extras={"lo": filt.lo, "hi": filt.hi, "num_kept": int(filt.kept.sum()), "num_below_lo": filt.num_low,
                "num_above_hi": filt.num_high, "mean_unfiltered": float(d_np.astype(np.float64).mean()),
                "samples_per_s": cfg.num_samples / sample_time if sample_time > 0 else float("nan")},
        samples={"distances": d_np, "t": t_all.cpu().numpy()},
    )
    if bootstrap:
        res.add_interval(name, intervals.ppl_bootstrap(d_np, num_resamples=bootstrap, seed=seed))
    return res


def _sample_distances(src: GeneratorSource, cfg: PPLConfig, dist: Distance, batch_size: int, seed: int,
                      dev: torch.device, dtype: torch.dtype, progress: bool,
                      images_per_call: Optional[int] = None) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Per-sample distances [num_samples] and t [num_samples] on ``dev``, filled per global batch.

    Latents, the mapping and the distance run per noise batch; synthesis per ``images_per_call`` images of
    it (:func:`_pair_images`), each call with the batch's noise realisation (reseeded from the same
    (seed, batch) generator).

    Everything stays on the device; under torch.distributed each process runs its own global
    batches and the values are gathered in global index order, so every rank returns the same,
    world-size-independent arrays.
    """
    n = cfg.num_samples
    d_all = torch.full([n], float("nan"), device=dev, dtype=torch.float64)
    t_all = torch.zeros([n], device=dev, dtype=dtype)
    me = distributed.info()
    sync(dev)
    start = time.perf_counter()
    with progress_bar(n, cfg.base_name, progress and me.is_main, unit="samples", leave=False) as bar:
        for b, idx in sampling.batch_ranges(n, batch_size, me.rank, me.world_size):
            rows = np.arange(idx.start, idx.stop)
            z0 = src.latents(seed, rows, sampling.Stream.Z).to(dtype)
            z1 = src.latents(seed, rows, sampling.Stream.Z_END).to(dtype)
            if cfg.sampling == "full":
                t = sampling.rand(seed, rows, sampling.Stream.T, device=dev).to(dtype)
            else:
                t = torch.zeros([len(rows)], device=dev, dtype=dtype)
            c = src.labels(seed, rows).to(dtype)
            ws = _endpoint_ws(src.mapping, z0, z1, c, t, cfg.space, cfg.epsilon)
            img0, img1 = _pair_images(src, ws, cfg, seed, b, dtype, images_per_call)
            d = dist(img0, img1)
            if d.shape != (len(rows),):
                raise ValueError(f"PPL distance {dist.name!r} returned shape {tuple(d.shape)}; it must return one "
                                 f"value per pair, shape ({len(rows)},)")
            d_all[idx.start:idx.stop] = d.to(torch.float64) / cfg.epsilon ** 2
            t_all[idx.start:idx.stop] = t
            bar.update(len(rows) * me.world_size)
    if me.world_size > 1:
        local = torch.tensor(sampling.rank_indices(n, batch_size, me.rank, me.world_size), dtype=torch.long, device=dev)
        d_all = distributed.gather_by_index(d_all[local], local, n)
        t_all = distributed.gather_by_index(t_all[local], local, n)
    sync(dev)
    return d_all, t_all, time.perf_counter() - start


def _pair_images(src: GeneratorSource, ws: torch.Tensor, cfg: PPLConfig, seed: int, batch_index: int,
                 dtype: torch.dtype, images_per_call: Optional[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The cropped, resized 3-channel images of both ends of a noise batch's pairs (ws rows [0, m) and [m, 2m)).

    The generator runs on ``images_per_call`` of the 2m images at a time, in row order, each call with the
    batch's noise realisation ('const' noise is one map per layer, whatever the call holds), so the two
    ends of a pair may fall in different calls and still see the same noise. Only the small crops are
    kept: the distance sees the whole noise batch in one call (it gains from large batches where the
    generator's big activations lose).
    """
    parts = [crop_and_downsample(img.to(dtype), cfg.crop, cfg.mode, src.resolution)
             for img in src.synthesis_calls(ws, images_per_call, seed=seed, batch_index=batch_index)]
    img = parts[0] if len(parts) == 1 else torch.cat(parts)
    if src.channels == 1:
        img = img.repeat(1, 3, 1, 1)
    return img.chunk(2)


# --------------------------------------------------------------------------------------------
# Registered metrics with the paper's defaults


def _registered(space: str, samp: str) -> Callable[[Any, ScoreOptions], MetricResult]:
    def metric(G: Any, opts: ScoreOptions) -> MetricResult:
        return ppl(G, space=space, sampling=samp, num_samples=count_or_default(opts.num_samples, PAPER_NUM_SAMPLES, "num_samples"),
                   distance=opts.distance, batch_size=opts.batch_size, seed=opts.seed, device=opts.device,
                   weights=opts.weights, allow_hash_mismatch=opts.allow_hash_mismatch, progress=opts.progress,
                   truncation_psi=opts.truncation_psi, truncation_cutoff=opts.truncation_cutoff,
                   class_label=opts.class_label, labels=opts.labels,
                   bootstrap=opts.resamples_or(intervals.PPL_RESAMPLES))
    metric.__name__ = f"ppl_{space}{samp}"
    metric.__doc__ = (f"PPL in {space.upper()} space, {samp} path: {PAPER_NUM_SAMPLES} samples, eps 1e-4, crop, "
                      "LPIPS-VGG (the paper's ppl_" + f"{space}{samp}).")
    return metric


for _space in SPACES:
    for _samp in SAMPLINGS:
        register_metric(f"ppl_{_space}{_samp}")(_registered(_space, _samp))


# --------------------------------------------------------------------------------------------
# stylegan2-ada-pytorch's definitions, under names that cannot be mistaken for the paper's

ADA_NUM_SAMPLES = 50_000     # their metric_main.py: num_samples=50000 ...
ADA_BATCH_SIZE = 2           # ... batch_size=2: two pairs per noise draw
ADA_DISTANCE = "lpips-vgg-nvidia"   # their vgg16.pt


def _renamed(res: MetricResult, name: str) -> MetricResult:
    res.metric, res.values = name, {name: res.value}
    return res


def _registered_ada(name: str, space: str, samp: str, crop: bool) -> Callable[[Any, ScoreOptions], MetricResult]:
    def metric(G: Any, opts: ScoreOptions) -> MetricResult:
        dist = opts.distance or ADA_DISTANCE
        res = ppl(G, space=space, sampling=samp, num_samples=count_or_default(opts.num_samples, ADA_NUM_SAMPLES, "num_samples"), crop=crop,
                  distance=dist, batch_size=count_or_default(opts.batch_size, ADA_BATCH_SIZE, "batch_size"), seed=opts.seed, device=opts.device,
                  mode="ada", weights=opts.weights, allow_hash_mismatch=opts.allow_hash_mismatch,
                  progress=opts.progress, truncation_psi=opts.truncation_psi, truncation_cutoff=opts.truncation_cutoff,
                  class_label=opts.class_label, labels=opts.labels, bootstrap=opts.resamples_or(intervals.PPL_RESAMPLES))
        base, _, tags = name.partition("@")
        extra = ([] if res.config["distance"] == ADA_DISTANCE else [res.config["distance"]]) + \
            ([tags] if tags else []) + [t for t in res.metric.partition("@")[2].split("+") if t.startswith("psi")]
        res.config["definition"] = f"stylegan2-ada-pytorch {base}"
        return _renamed(res, base + (f"@{'+'.join(extra)}" if extra else ""))
    metric.__name__ = name.replace("@", "_")
    metric.__doc__ = (f"stylegan2-ada-pytorch's {name.partition('@')[0]}: {ADA_NUM_SAMPLES} samples, eps 1e-4, "
                      f"{space.upper()} {samp}, crop {'on' if crop else 'off'} with the factor from the full "
                      f"resolution, {ADA_BATCH_SIZE} pairs per noise draw, their vgg16.pt LPIPS.")
    return metric


register_metric("ppl2_wend")(_registered_ada("ppl2_wend", "w", "end", crop=False))
for _space in SPACES:
    for _samp in SAMPLINGS:
        register_metric(f"ppl_{_space}{_samp}@ada")(_registered_ada(f"ppl_{_space}{_samp}@ada", _space, _samp, crop=True))
