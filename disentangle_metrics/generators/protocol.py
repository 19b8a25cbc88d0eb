"""The generator protocol every metric is written against.

A generator is any object with these attributes and methods (the names are those of
stylegan2-ada-pytorch and StyleGAN3, the most widely used convention, so such generators plug in
unchanged):

- ``z_dim``, ``w_dim``, ``num_ws``, ``img_resolution``, ``img_channels``, ``c_dim`` (0 when
  unconditional): positive ints (``c_dim`` may be 0).
- ``mapping(z, c, truncation_psi=1) -> ws`` with ``z`` [N, z_dim] and ``ws`` [N, num_ws, w_dim].
- ``synthesis(ws, noise_mode='random'|'const'|'none') -> images`` [N, img_channels, R, R], float,
  values in [-1, 1] (a generator may overshoot a little; metrics clamp where the reference does).
- optional ``has_mapping`` (bool, default True). A generator without a mapping network (the
  traditional baseline of the paper, or a plain callable) sets it to False: its ``mapping`` only
  reshapes (and, for StyleGAN's depth-0 mapping, pixel-normalises) z, so W metrics are
  meaningless on it and :func:`require_mapping` refuses them.

Noise held fixed across images (needed by PPL, whose two ends of a pair must see the same noise):

- optional ``reseed_noise(generator: torch.Generator) -> None``: redraw the generator's constant
  noise buffers from ``generator``. Metrics call it once per minibatch and then synthesise with
  ``noise_mode='const'``, so every image of the minibatch shares one noise realisation and the
  realisation changes from minibatch to minibatch, as in the paper's TensorFlow code
  (``randomize_noise=False`` after re-drawing the noise variables).
- without the hook, metrics fall back to ``noise_mode='const'`` alone: the generator's stored
  noise is shared by every image of every minibatch. Both ends of a pair still share noise, which
  is what PPL needs; only the variety of noise across minibatches is lost.

Precision: optional ``supports_force_fp32 = True`` means ``synthesis(ws, noise_mode, force_fp32=)``
switches a reduced-precision path off; PPL passes ``force_fp32=True`` (:func:`synthesis_kwargs`),
FID-type metrics leave the generator as its checkpoint says. Conditional generators (``c_dim > 0``)
get labels from :mod:`~disentangle_metrics.generators.conditioning` (:func:`conditioning`).

:func:`as_generator` adapts common shapes of generator to this protocol (the adapters live in
:mod:`~disentangle_metrics.generators.adapters`: stylegan2-ada-pytorch / StyleGAN3, rosinality, callables) and
:func:`validate_generator` checks an object against it, reporting every violation at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, runtime_checkable

import torch

from .adapters import (  # re-exported: the adapters were first defined here
    NOISE_MODES, REQUIRED_INTS as _REQUIRED_INTS, CallableGenerator, NvidiaAdapter, ProtocolError,
    RosinalityAdapter, _check_noise_mode, as_generator, follows_protocol as _follows_protocol, generator_kind,
    nvidia_kind,
)


class NoMappingError(ValueError):
    """A W-space metric was asked of a generator that has no mapping network."""


@runtime_checkable
class Generator(Protocol):
    """Structural type of a generator; see the module docstring for the semantics."""

    z_dim: int
    w_dim: int
    num_ws: int
    img_resolution: int
    img_channels: int
    c_dim: int

    def mapping(self, z: torch.Tensor, c: Optional[torch.Tensor], truncation_psi: float = 1.0) -> torch.Tensor: ...

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor: ...


def has_mapping(G: Any) -> bool:
    """True when ``G`` has a real mapping network (W differs from Z)."""
    return bool(getattr(G, "has_mapping", True))


def require_mapping(G: Any, metric: str) -> None:
    """Raise :class:`NoMappingError` naming ``metric`` when ``G`` has no mapping network."""
    if not has_mapping(G):
        raise NoMappingError(
            f"{metric} measures the intermediate latent space W, but this generator "
            f"({type(G).__name__}) has no mapping network (has_mapping=False), so W is just Z. "
            "Use the Z-space variant of the metric (e.g. ppl_zfull, ls_z) instead."
        )


def conditioning(G: Any, n: int, device: torch.device, *, policy: Any = None, seed: int = 0,
                 indices: Optional[Any] = None) -> torch.Tensor:
    """The conditioning tensor for ``n`` samples: an empty [n, 0] tensor when unconditional.

    A conditional generator (``c_dim > 0``) gets the labels of ``indices`` (default ``range(n)``)
    from ``policy`` (a :class:`~disentangle_metrics.generators.conditioning.LabelPolicy`; default: one-hot
    classes uniform over ``c_dim``), seeded per sample by ``seed``.
    """
    c_dim = int(getattr(G, "c_dim", 0))
    if not c_dim:
        return torch.zeros([n, 0], device=device)
    from .conditioning import label_policy
    pol = policy if policy is not None else label_policy(c_dim)
    idx = range(n) if indices is None else indices
    if len(idx) != n:
        raise ValueError(f"conditioning: {len(idx)} indices for {n} samples")
    return pol.draw(seed, idx, device)


def prepare_shared_noise(G: Any, generator: torch.Generator) -> str:
    """Fix one noise realisation for the next synthesis call and return the noise_mode to use.

    Calls the optional ``reseed_noise`` hook (one realisation per minibatch, as the paper's code
    does); without it the generator's constant noise is used. Returns ``'const'`` either way.
    """
    hook = getattr(G, "reseed_noise", None)
    if callable(hook):
        hook(generator)
    return "const"


def module_device(G: Any) -> Optional[torch.device]:
    """The device of ``G``'s first parameter or buffer, or None when it has none."""
    if isinstance(G, torch.nn.Module):
        for t in list(G.parameters()) + list(G.buffers()):
            return t.device
    inner = getattr(G, "module", None)
    if isinstance(inner, torch.nn.Module):
        return module_device(inner)
    return None


# --------------------------------------------------------------------------------------------
# Precision (the adapters themselves live in .adapters)


def synthesis_kwargs(G: Any, force_fp32: bool) -> dict:
    """Extra keyword arguments of ``G.synthesis`` for the precision a metric needs.

    Generators whose synthesis has a reduced-precision path declare ``supports_force_fp32 = True``
    and get ``force_fp32``; for any other generator this is empty (they run as they are).
    """
    return {"force_fp32": bool(force_fp32)} if getattr(G, "supports_force_fp32", False) else {}


def precision_used(G: Any, force_fp32: bool, device: torch.device | str = "cpu") -> str:
    """In words, the precision ``G``'s synthesis computes in under ``force_fp32`` (recorded in results)."""
    fn = getattr(G, "precision", None)
    if callable(fn):
        return str(fn(force_fp32, device))
    dtypes = sorted({str(p.dtype).replace("torch.", "") for p in G.parameters()}) if isinstance(G, torch.nn.Module) else []
    return (f"{'/'.join(dtypes)} parameters" if dtypes else "unknown") + " (generator's own code; not adapted)"


# --------------------------------------------------------------------------------------------
# Validation


@dataclass
class ValidationReport:
    """Result of :func:`validate_generator`: ``problems`` is empty when the generator is valid."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)   # suspicious but scorable (a small overshoot of [-1, 1])

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        head = "generator follows the protocol" if self.ok else f"{len(self.problems)} protocol violation(s)"
        if self.ok and self.warnings:
            head += f" ({len(self.warnings)} warning(s))"
        return "\n".join([head] + [f"  - {p}" for p in self.problems] + [f"  warning: {w}" for w in self.warnings]
                         + [f"  note: {n}" for n in self.notes])


class GeneratorValidationError(ProtocolError):
    """Raised by :func:`validate_generator` with ``raise_on_error=True``; lists every violation."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(str(report))
        self.report = report


def validate_generator(G: Any, *, device: Optional[torch.device | str] = None, seed: int = 0,
                       range_tolerance: float = 2.0, raise_on_error: bool = False) -> ValidationReport:
    """Draw two samples from ``G`` and report every way it breaks the protocol.

    Checks: required attributes are ints of sensible value; ``mapping`` returns
    [2, num_ws, w_dim]; ``synthesis`` returns a floating tensor [2, img_channels, R, R]; its
    values are finite and in [-1, 1] (see :func:`classify_range`: an output that looks like [0, 1]
    or [0, 255], or goes beyond +-``range_tolerance``, is a violation; a smaller overshoot of [-1, 1]
    is a warning, as the reference code clamps when quantising); two calls with the same z
    and ``noise_mode='const'`` give identical images (after ``reseed_noise`` with the same seed
    when the hook exists). Runs in ``torch.no_grad``.
    """
    rep = ValidationReport()
    for name in _REQUIRED_INTS + ("c_dim",):
        v = getattr(G, name, None)
        if v is None:
            rep.problems.append(f"attribute {name} is missing")
        elif not isinstance(v, int) or isinstance(v, bool) or v < (0 if name == "c_dim" else 1):
            rep.problems.append(f"attribute {name} must be a {'non-negative' if name == 'c_dim' else 'positive'} int, got {v!r}")
    res = getattr(G, "img_resolution", None)
    if isinstance(res, int) and res > 0 and res & (res - 1):
        rep.notes.append(f"img_resolution {res} is not a power of two; PPL's crop assumes H // 8 geometry")
    for name in ("mapping", "synthesis"):
        if not callable(getattr(G, name, None)):
            rep.problems.append(f"method {name} is missing")
    if rep.problems:
        return _finish(rep, raise_on_error)

    dev = torch.device(device) if device is not None else (module_device(G) or torch.device("cpu"))
    gen = torch.Generator(device=dev).manual_seed(seed)
    z = torch.randn([2, G.z_dim], generator=gen, device=dev)
    with torch.no_grad():
        try:
            ws = G.mapping(z, conditioning(G, 2, dev))
        except Exception as exc:  # reported, not swallowed: the user sees the exception text
            rep.problems.append(f"mapping(z, c) raised {type(exc).__name__}: {exc}")
            return _finish(rep, raise_on_error)
        if not isinstance(ws, torch.Tensor) or tuple(ws.shape) != (2, G.num_ws, G.w_dim):
            shape = tuple(ws.shape) if isinstance(ws, torch.Tensor) else type(ws).__name__
            rep.problems.append(f"mapping shape: expected (2, num_ws={G.num_ws}, w_dim={G.w_dim}), got {shape}")
            return _finish(rep, raise_on_error)
        imgs = []
        for _ in range(2):
            try:
                mode = prepare_shared_noise(G, torch.Generator(device=dev).manual_seed(seed + 1))
                imgs.append(G.synthesis(ws, noise_mode=mode))
            except Exception as exc:
                rep.problems.append(f"synthesis(ws, noise_mode='const') raised {type(exc).__name__}: {exc}")
                return _finish(rep, raise_on_error)
    img = imgs[0]
    if not isinstance(img, torch.Tensor):
        rep.problems.append(f"synthesis returned {type(img).__name__}, expected a torch.Tensor")
        return _finish(rep, raise_on_error)
    R, C = G.img_resolution, G.img_channels
    if img.ndim != 4 or img.shape[0] != 2 or tuple(img.shape[2:]) != (R, R):
        rep.problems.append(f"image shape: expected (2, {C}, {R}, {R}) (NCHW), got {tuple(img.shape)}")
    elif img.shape[1] != C:
        rep.problems.append(f"channels: img_channels={C} but synthesis returned {img.shape[1]} channels")
    if not img.is_floating_point():
        rep.problems.append(f"dtype: images must be floating point in [-1, 1], got {img.dtype}")
    else:
        finite = torch.isfinite(img)
        if not bool(finite.all()):
            rep.problems.append(f"non-finite values: {int((~finite).sum())} NaN/inf pixels in the images")
        vals = img[finite]
        if vals.numel():
            verdict, message = classify_range(float(vals.min()), float(vals.max()), range_tolerance)
            if verdict == "violation":
                rep.problems.append(message)
            elif verdict == "warning":
                rep.warnings.append(message)
        if img.shape == imgs[1].shape and not torch.equal(torch.nan_to_num(img), torch.nan_to_num(imgs[1])):
            diff = float((img - imgs[1]).abs().nan_to_num().max())
            rep.problems.append(f"non-determinism: two calls with the same ws and noise_mode='const' differ "
                                f"by up to {diff:.3g}; fix the noise (reseed_noise hook or const buffers)")
    if not has_mapping(G):
        rep.notes.append("no mapping network: only Z-space metrics apply")
    return _finish(rep, raise_on_error)


def classify_range(lo: float, hi: float, tolerance: float = 2.0) -> tuple[str, str]:
    """('ok' | 'warning' | 'violation', message) for images whose values span [lo, hi].

    Violations: no negative value with a maximum in (0.5, 1] (looks like [0, 1]), a maximum above
    ``tolerance`` with no value below -1 (looks like [0, 255]), or anything beyond +-``tolerance``.
    A smaller overshoot of [-1, 1] is a warning: FID clamps it when quantising, PPL and
    separability see the raw values.
    """
    span = f"values in [{lo:.3g}, {hi:.3g}]"
    if lo >= 0 and 0.5 < hi <= 1 + 1e-6:
        return "violation", (f"range: images must be in [-1, 1], got {span}, which looks like [0, 1] output: "
                             "rescale with x * 2 - 1")
    if hi > tolerance and lo >= -1:
        return "violation", (f"range: images must be in [-1, 1], got {span}, which looks like [0, 255] output: "
                             "rescale with x / 127.5 - 1")
    if lo < -tolerance or hi > tolerance:
        return "violation", f"range: images must be in [-1, 1], got {span} (beyond +-{tolerance:g})"
    if lo < -1 or hi > 1:
        return "warning", (f"range: {span} overshoot [-1, 1]; FID clamps when quantising to uint8, PPL and "
                           "separability see the raw values")
    return "ok", ""


def _finish(rep: ValidationReport, raise_on_error: bool) -> ValidationReport:
    if raise_on_error and not rep.ok:
        raise GeneratorValidationError(rep)
    return rep
