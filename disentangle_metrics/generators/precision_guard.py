"""Is the generator smooth enough at PPL's epsilon? (catches internal quantisation / float16).

PPL divides an image distance by eps^2 = 1e-8. For a generator that computes in enough precision,
the distance between the images at t and t + eps grows like eps^2, so with

    d(e) = sum over pixels of (G(path(t + e)) - G(path(t)))^2

the ratio d(2 eps) / d(eps) is about 4. Rounding inside the generator (float16 layers, uint8
output, ...) adds a floor of size independent of eps (ratio towards 1), or, for a rounded output,
a count of flipped pixels that grows like eps (ratio towards 2): PPL then measures rounding noise.
:func:`eps_scaling` measures the pooled ratio sum_i d_i(2 eps) / sum_i d_i(eps) on a few pairs
(both ends sharing one noise realisation, run exactly as PPL runs the generator; pooling keeps a
few lucky pairs from passing a quantiser) and
:func:`check_eps_scaling` stops with :class:`PrecisionError` naming the cause and the fix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np
import torch

from .._core import sampling

RATIO_RANGE = (3.0, 5.5)     # eps^2 scaling gives 4; a rounding floor pulls it towards 1
DEFAULT_PAIRS = 8


class PrecisionError(RuntimeError):
    """The generator's output does not vary smoothly at PPL's epsilon (it quantises internally)."""


@dataclass
class ScalingReport:
    """Result of :func:`eps_scaling`."""

    epsilon: float
    num_pairs: int
    ratios: list[float]          # d(2 eps) / d(eps) per pair (NaN where both are 0)
    median_ratio: float
    pooled_ratio: float          # sum d(2 eps) / sum d(eps): the statistic tested
    ok: bool
    message: str

    def as_dict(self) -> dict:
        """JSON-able form for results files."""
        return asdict(self)


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    d = (a * b).sum(dim=-1, keepdim=True)
    p = t * torch.acos(d)
    c = b - d * a
    c = c / c.norm(dim=-1, keepdim=True)
    out = a * torch.cos(p) + c * torch.sin(p)
    return out / out.norm(dim=-1, keepdim=True)


def eps_scaling(source: Any, *, epsilon: float = 1e-4, num_pairs: int = DEFAULT_PAIRS, seed: int = 0,
                space: Optional[str] = None, dtype: torch.dtype = torch.float32,
                images_per_call: Optional[int] = None) -> ScalingReport:
    """d(2 eps) / d(eps) pooled over ``num_pairs`` paths of a :class:`~.sources.GeneratorSource`.

    ``space`` 'w' (lerp of mapped latents; the default with a mapping network) or 'z' (slerp). The
    source's precision, truncation and labels apply, as in the metric. The caller's generator is
    not touched (:meth:`~.sources.GeneratorSource.probe_copy`). ``images_per_call`` splits the
    3 * ``num_pairs`` images into generator calls as the metric does (all with the same noise).
    """
    src = source.probe_copy()
    space = space or ("w" if src.has_mapping else "z")
    rows = np.arange(num_pairs)
    dev = src.device
    with torch.no_grad():
        z0 = src.latents(seed, rows, sampling.Stream.PROBE).to(dtype)
        z1 = src.latents(seed, rows, sampling.Stream.PROBE_END).to(dtype)
        t = sampling.rand(seed, rows, sampling.Stream.PROBE, device=dev).to(dtype).reshape(-1, 1)
        c = src.labels(seed, rows)
        steps = [0.0, epsilon, 2 * epsilon]
        if space == "w":
            w0, w1 = src.mapping(torch.cat([z0, z1]), torch.cat([c, c])).chunk(2)
            tw = t.reshape(-1, 1, 1).to(w0.dtype)
            ws = torch.cat([torch.lerp(w0, w1, tw + s) for s in steps])
        else:
            ws = src.mapping(torch.cat([_slerp(z0, z1, t + s) for s in steps]), torch.cat([c, c, c]))
        img = torch.cat([x.to(torch.float64)
                         for x in src.synthesis_calls(ws, images_per_call, seed=seed, batch_index=0)])
    i0, i1, i2 = img.chunk(3)
    d1 = (i1 - i0).square().flatten(1).sum(1)
    d2 = (i2 - i0).square().flatten(1).sum(1)
    ratios = torch.where(d1 > 0, d2 / d1, torch.where(d2 > 0, torch.full_like(d1, float("inf")),
                                                      torch.full_like(d1, float("nan")))).cpu().numpy()
    finite = ratios[~np.isnan(ratios)]
    med = float(np.median(finite)) if finite.size else float("nan")
    s1, s2 = float(d1.sum()), float(d2.sum())
    pooled = s2 / s1 if s1 > 0 else (float("inf") if s2 > 0 else float("nan"))
    ok = bool(finite.size) and RATIO_RANGE[0] <= pooled <= RATIO_RANGE[1]
    if ok:
        msg = f"image distance scales like eps^2 (d(2eps)/d(eps) = {pooled:.3g} pooled over {num_pairs} pairs)"
    elif not finite.size:
        msg = (f"the images at t, t + eps and t + 2 eps (eps = {epsilon:g}) are identical on all {num_pairs} pairs: "
               "the generator rounds its output (e.g. to uint8) or ignores its latent, so PPL would be 0 / meaningless")
    else:
        msg = (f"image distance does not scale like eps^2: d(2eps)/d(eps) = {pooled:.3g} (pooled over {num_pairs} pairs; "
               f"about 4 expected) at eps = {epsilon:g}. The generator quantises or computes in reduced precision "
               "internally (float16 layers, uint8 output, ...), so PPL would measure rounding noise divided by eps^2")
    return ScalingReport(epsilon=float(epsilon), num_pairs=int(num_pairs), ratios=[float(r) for r in ratios],
                         median_ratio=med, pooled_ratio=pooled, ok=ok, message=msg)


FIX_ADVICE = ("Fix: run the generator in float32 without rounding: stylegan2-ada-pytorch / StyleGAN3 generators are "
              "recognised and run with force_fp32=True automatically when loaded through as_generator (or the CLI); "
              "for your own generator make synthesis compute in float32 and return unquantised floats. "
              "To measure anyway, pass precision_check=False to ppl().")


def check_eps_scaling(source: Any, **kwargs: Any) -> ScalingReport:
    """:func:`eps_scaling`, raising :class:`PrecisionError` (cause and fix) when it fails."""
    rep = eps_scaling(source, **kwargs)
    if not rep.ok:
        raise PrecisionError(f"PPL precision check failed: {rep.message}. {FIX_ADVICE}")
    return rep
