"""Adapters: foreign generators made to follow the protocol exactly as their own code runs them.

Recognised by class name and structure, never by importing their code:

- NVIDIA's stylegan2-ada-pytorch (``training/networks.py``) and StyleGAN3 (``networks_stylegan2.py``,
  ``networks_stylegan3.py``) ``Generator``: a ``mapping`` module with a ``w_avg`` buffer and a
  ``synthesis`` module with ``block_resolutions`` (StyleGAN2) or ``layer_names`` + ``input``
  (StyleGAN3). Their persistence wrapper keeps the class name (``_orig_class_name``) but gives
  the module a generated name, so the module name is not relied on. :class:`NvidiaAdapter`
  passes ``truncation_psi``/``truncation_cutoff`` and ``force_fp32`` through and adds
  ``reseed_noise``, which redraws every ``noise_const`` buffer (their PPL redraws them with
  ``randn_like`` before each minibatch; here from the metric's seeded generator).
- rosinality's stylegan2-pytorch ``Generator`` (``get_latent``, ``forward(styles,
  input_is_latent=True, noise=..., randomize_noise=...)``, ``noises.noise_i`` buffers):
  :class:`RosinalityAdapter`.
- plain callables ``z -> images``: :class:`CallableGenerator` (Z metrics only).

Precision: an adapter with ``supports_force_fp32 = True`` accepts ``synthesis(..., force_fp32=)``;
``precision(force_fp32, device)`` says in words what the network computes in.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional

import torch

NOISE_MODES = ("random", "const", "none")
REQUIRED_INTS = ("z_dim", "w_dim", "num_ws", "img_resolution", "img_channels")
ROSINALITY_TRUNCATION_MEAN = 4096       # rosinality's generate.py --truncation_mean default
ROSINALITY_TRUNCATION_SEED = 0


class ProtocolError(TypeError):
    """An object does not follow the generator protocol."""


def _check_noise_mode(noise_mode: str) -> None:
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")


def class_name(obj: Any) -> str:
    """The class name, looking through NVIDIA's persistence wrapper."""
    return str(getattr(type(obj), "_orig_class_name", type(obj).__name__))


def nvidia_kind(obj: Any) -> Optional[str]:
    """'stylegan2-ada' or 'stylegan3' when ``obj`` is one of NVIDIA's PyTorch generators, else None."""
    if class_name(obj) != "Generator":
        return None
    syn, mp = getattr(obj, "synthesis", None), getattr(obj, "mapping", None)
    if not isinstance(syn, torch.nn.Module) or not isinstance(mp, torch.nn.Module) or not hasattr(mp, "w_avg"):
        return None
    if hasattr(syn, "layer_names") and hasattr(syn, "input"):
        return "stylegan3"
    if hasattr(syn, "block_resolutions"):
        return "stylegan2-ada"
    return None


def is_rosinality(obj: Any) -> bool:
    """True for rosinality-style ports: ``get_latent`` and ``forward(styles, input_is_latent=...)``."""
    return callable(getattr(obj, "get_latent", None)) and _accepts(obj, "input_is_latent")


def _accepts(obj: Any, kwarg: str) -> bool:
    fn = getattr(obj, "forward", obj)
    try:
        return kwarg in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class NvidiaAdapter(torch.nn.Module):
    """A stylegan2-ada-pytorch / StyleGAN3 ``Generator`` under the protocol (see the module docstring).

    ``synthesis(ws, noise_mode, force_fp32=False)`` runs as their code does: with
    ``force_fp32=False`` the blocks the checkpoint marks ``use_fp16`` compute in float16 (what
    their FID-type metrics use), with ``True`` everything is float32 (what their PPL uses).
    """

    supports_force_fp32 = True

    def __init__(self, net: torch.nn.Module, kind: Optional[str] = None) -> None:
        super().__init__()
        kind = kind or nvidia_kind(net)
        if kind is None:
            raise ProtocolError(f"{class_name(net)} is not a stylegan2-ada-pytorch / StyleGAN3 Generator")
        self.module = net
        self.kind = kind
        for k in REQUIRED_INTS + ("c_dim",):
            setattr(self, k, int(getattr(net, k)))
        self.has_mapping = True

    def mapping(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None) -> torch.Tensor:
        if c is None:
            if self.c_dim:
                raise ValueError(f"this generator is conditional (c_dim={self.c_dim}): pass labels c")
            c = torch.zeros([z.shape[0], 0], device=z.device)
        return self.module.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "random", force_fp32: bool = False) -> torch.Tensor:
        _check_noise_mode(noise_mode)
        return self.module.synthesis(ws, noise_mode=noise_mode, force_fp32=bool(force_fp32))

    def noise_buffer_names(self) -> list[str]:
        """Names of the stored noise buffers (empty for StyleGAN3, which has no noise inputs)."""
        return [n for n, _ in self.module.named_buffers() if n.endswith("noise_const")]

    def reseed_noise(self, generator: torch.Generator) -> None:
        """Redraw every ``noise_const`` buffer from ``generator`` (one realisation per call)."""
        for name, buf in self.module.named_buffers():
            if name.endswith("noise_const"):
                buf.copy_(torch.randn(buf.shape, generator=generator, device=generator.device).to(buf))

    def fp16_parts(self) -> list[str]:
        """The parts the checkpoint runs in float16 unless ``force_fp32`` (block resolutions / layer names)."""
        syn = self.module.synthesis
        if self.kind == "stylegan3":
            return [n for n in getattr(syn, "layer_names", []) if getattr(getattr(syn, n, None), "use_fp16", False)]
        return [f"b{r}" for r in getattr(syn, "block_resolutions", []) if getattr(getattr(syn, f"b{r}", None), "use_fp16", False)]

    def _fp16_only_on_cuda(self) -> bool:
        """True when the block code turns float16 off away from CUDA (NVlabs/stylegan3's networks_stylegan2.py
        sets ``force_fp32 = True`` when ``ws.device.type != 'cuda'``; stylegan2-ada-pytorch's does not)."""
        syn = self.module.synthesis
        blocks = [getattr(syn, f"b{r}", None) for r in getattr(syn, "block_resolutions", [])]
        cls = next((type(b) for b in blocks if b is not None), None)
        if cls is None:
            return False
        src = getattr(cls, "_orig_module_src", None)   # persistence-pickled classes carry their module's source
        if src is None:
            try:
                src = inspect.getsource(cls)
            except (OSError, TypeError):
                return False
        return "device.type != 'cuda'" in src

    def precision(self, force_fp32: bool, device: torch.device | str = "cpu") -> str:
        """What the synthesis network computes in, in words."""
        parts = self.fp16_parts()
        if force_fp32 or not parts:
            return "float32" + (" (force_fp32)" if force_fp32 and parts else "")
        if torch.device(device).type != "cuda" and (self.kind == "stylegan3" or self._fp16_only_on_cuda()):
            return "float32 (this code uses float16 only on CUDA)"
        return f"float16 in {', '.join(parts)} (checkpoint's use_fp16), float32 elsewhere"


class RosinalityAdapter(torch.nn.Module):
    """Adapts rosinality's StyleGAN ports (``get_latent``, ``forward(styles, input_is_latent=True,
    noise=..., randomize_noise=...)``, returning ``(image, latent)``) to the protocol.

    Truncation: ``w_avg + psi (w - w_avg)`` on the layers below ``truncation_cutoff`` (all when
    None), with ``w_avg`` the mean of ``get_latent`` over 4096 z (rosinality's
    ``--truncation_mean``) drawn once, at construction, from a fixed seed.
    """

    supports_force_fp32 = False

    def __init__(self, net: Any, z_dim: Optional[int] = None) -> None:
        super().__init__()
        self.module = net
        self.kind = "rosinality"
        self.z_dim = int(z_dim or getattr(net, "style_dim"))
        self.w_dim = int(getattr(net, "style_dim", self.z_dim))
        self.num_ws = int(getattr(net, "n_latent"))
        self.img_resolution = int(getattr(net, "size"))
        self.img_channels = 3
        self.c_dim = 0
        self.has_mapping = True
        self.register_buffer("w_avg", self._mean_latent(), persistent=False)

    def _mean_latent(self) -> torch.Tensor:
        params = list(self.module.parameters()) if isinstance(self.module, torch.nn.Module) else []
        dev = params[0].device if params else torch.device("cpu")
        g = torch.Generator().manual_seed(ROSINALITY_TRUNCATION_SEED)
        z = torch.randn([ROSINALITY_TRUNCATION_MEAN, self.z_dim], generator=g).to(dev)
        with torch.no_grad():
            return self.module.get_latent(z).mean(0).detach()

    def mapping(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1.0,
                truncation_cutoff: Optional[int] = None) -> torch.Tensor:
        w = self.module.get_latent(z)
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cut = self.num_ws if truncation_cutoff is None else int(truncation_cutoff)
            avg = self.w_avg.to(ws.dtype)
            ws = torch.cat([avg.lerp(ws[:, :cut], truncation_psi), ws[:, cut:]], dim=1)
        return ws

    def _stored_noise(self) -> list[torch.Tensor]:
        noises = getattr(self.module, "noises", None)
        if noises is None:
            return []
        return [getattr(noises, f"noise_{i}") for i in range(int(self.module.num_layers))]

    def reseed_noise(self, generator: torch.Generator) -> None:
        """Redraw the stored noise buffers from ``generator``."""
        for buf in self._stored_noise():
            buf.copy_(torch.randn(buf.shape, generator=generator, device=generator.device).to(buf))

    def precision(self, force_fp32: bool, device: torch.device | str = "cpu") -> str:
        """rosinality's code has no reduced-precision path: the parameters' dtype."""
        ps = list(self.module.parameters()) if isinstance(self.module, torch.nn.Module) else []
        return str(ps[0].dtype).replace("torch.", "") if ps else "float32"

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        _check_noise_mode(noise_mode)
        if noise_mode == "none":
            noise = [torch.zeros_like(b) for b in self._stored_noise()]
            img, _ = self.module([ws], input_is_latent=True, noise=noise, randomize_noise=False)
        else:
            img, _ = self.module([ws], input_is_latent=True, randomize_noise=(noise_mode == "random"))
        return img


class CallableGenerator(torch.nn.Module):
    """A plain callable ``z -> images`` as a Z-only generator (no mapping network, no noise)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], z_dim: int, img_resolution: int, img_channels: int = 3) -> None:
        super().__init__()
        self.fn = fn
        if isinstance(fn, torch.nn.Module):
            self.module = fn
        self.kind = "callable"
        self.z_dim = self.w_dim = int(z_dim)
        self.num_ws = 1
        self.img_resolution = int(img_resolution)
        self.img_channels = int(img_channels)
        self.c_dim = 0
        self.has_mapping = False

    def mapping(self, z: torch.Tensor, c: Optional[torch.Tensor] = None, truncation_psi: float = 1.0) -> torch.Tensor:
        if truncation_psi != 1:
            raise ValueError("a plain callable generator has no W space to truncate in")
        return z.unsqueeze(1)

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        _check_noise_mode(noise_mode)
        return self.fn(ws[:, 0])


def follows_protocol(obj: Any) -> bool:
    """True when ``obj`` has the protocol's int attributes and callable ``mapping``/``synthesis``."""
    return all(hasattr(obj, a) for a in REQUIRED_INTS) and callable(getattr(obj, "mapping", None)) \
        and callable(getattr(obj, "synthesis", None))


def generator_kind(G: Any) -> str:
    """A short name of what ``G`` is: an adapter's ``kind`` or 'protocol'."""
    return str(getattr(G, "kind", None) or "protocol")


def as_generator(obj: Any, *, z_dim: Optional[int] = None, img_resolution: Optional[int] = None,
                 img_channels: int = 3) -> Any:
    """Return ``obj`` as a protocol generator.

    - NVIDIA's stylegan2-ada-pytorch / StyleGAN3 generators are wrapped in :class:`NvidiaAdapter`
      (checked first: they look like protocol generators but lack ``reseed_noise`` and their
      precision switch);
    - other objects that follow the protocol are returned unchanged;
    - rosinality-style ports are wrapped in :class:`RosinalityAdapter`;
    - plain callables ``z -> images`` are wrapped in :class:`CallableGenerator` (Z metrics only);
      ``z_dim`` and ``img_resolution`` must then be given.
    """
    kind = nvidia_kind(obj)
    if kind is not None:
        return NvidiaAdapter(obj, kind)
    if follows_protocol(obj):
        if not hasattr(obj, "c_dim"):
            raise ProtocolError(f"{type(obj).__name__} follows the protocol but has no c_dim; set c_dim = 0 "
                                "for an unconditional generator")
        return obj
    if is_rosinality(obj):
        return RosinalityAdapter(obj, z_dim=z_dim)
    if callable(obj):
        if z_dim is None or img_resolution is None:
            raise ProtocolError(
                f"{type(obj).__name__} is a plain callable z -> images; pass z_dim= and img_resolution= "
                "to as_generator so the metrics know how to sample it")
        return CallableGenerator(obj, z_dim=z_dim, img_resolution=img_resolution, img_channels=img_channels)
    raise ProtocolError(
        f"cannot use {type(obj).__name__} as a generator: it has neither the protocol's attributes "
        f"({', '.join(REQUIRED_INTS)}, c_dim, mapping, synthesis), nor rosinality's get_latent/forward, "
        "nor is it callable")
