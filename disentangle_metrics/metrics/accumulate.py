"""Metrics inside a training loop: feed images batch by batch, read FID / KID / PR / IS out.

    acc = Accumulator(["fid50k_full", "kid50k_full"], reference="testbed", extractor="testbed")
    for step ...:
        acc.update(G(z), image_range=(-1, 1))      # any device; uint8 NCHW or floats with their range
    results = acc.compute()                        # list[MetricResult], as dm.score gives
    acc.reset()                                    # the next evaluation; the real side is kept

Names are ``dm.score``'s (:func:`~.registry.resolve_name`: ``fid10k``, ``kid50k_full@testbed``...);
the count in a result's name is the number of images fed (:func:`~.image.result_name`). The
numbers come from the rows of :mod:`.image` (:func:`~.row_stats.row_result`: the same statistics, guards and
intervals as ``dm.score``); this module only keeps features between updates
(:mod:`.accumulate_side`).

The real side comes from ``reference`` exactly as ``dm.score`` resolves it (a stats ``.npz``, a
dataset, ``'testbed'``; FID's statistics and KID/PR's per-image features from the caches of
:mod:`~..features.cache`), or from images fed with ``update(images, real=True)``.

Memory (features kept between updates): FID and FD keep float64 sums only, (1 + K) D^2 numbers
on the device with K = 10 jackknife groups, whatever the count: 369 MB for Inception's 2048-d
features. KID and IS keep every generated feature row on the CPU in float32: 50k x 2048 x 4 B =
410 MB per 50k images (IS: 1008 logits, 202 MB); precision/recall keeps float16 rows (the anchor
rounds to float16 first): 50k x 4096 x 2 B = 410 MB per 50k. The real side of a reference is held
the same way. ``max_features`` caps the rows per side: an update past it raises, never drops rows;
with a cap the rows live in one buffer of that size (its pages become resident only as rows are
written) and compute() reads them in place, without it in 64 MB chunks copied together at compute().

Under torch.distributed every process feeds its own images; sample c of rank r is sample
c W + r of the global sequence, sums are all-reduced and rows gathered in that order at
``compute()``, which every process must call. With W processes where rank r feeds samples
r, r + W, ... the results equal one process fed them all (:mod:`.accumulate_side`).
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from .._core import distributed
from .._core.device import DeviceLike, default_batch_size, describe, metric_precision, resolve_device
from .._core.options import ScoreOptions
from .._core.results import MetricResult, RecordedWarning
from ..features import FeatureExtractor, build_extractor
from ..features import extract as FP
from ..features.cache import rank_problem
from ..functional import intervals
from . import image as IM
from .row_stats import row_result
from .accumulate_side import SideFeatures, rank_counts
from .registry import resolve_name

STATE_FORMAT = 1


class Accumulator:
    """Image metrics (FID, KID, precision/recall, IS) over images fed in batches; see the module docstring.

    ``metrics``: names as ``dm.score`` takes them. ``reference``: the real side as ``dm.score``'s
    (None: fed with ``update(real=True)``). ``extractor``: replaces FID's and KID's Inception (a
    registered name or a built :class:`FeatureExtractor`; results are named ``@name``). ``batch_size``:
    the batch size of ``dm.score`` whose FID jackknife groups the interval reproduces, and the real
    pass's (default: score's, 8 on the CPU, 64 on CUDA). ``max_features``: rows kept per side at most.
    ``image_range``: the range of float images (per update, or here for all).
    """

    def __init__(self, metrics: Sequence[str], reference: Any = None,
                 extractor: Union[str, FeatureExtractor, None] = None, device: DeviceLike = "auto", weights: Optional[Mapping[str, str]] = None,
                 max_features: Optional[int] = None, *, num_real: Optional[int] = None, mirror: bool = False,
                 seed: int = 0, batch_size: Optional[int] = None, image_range: Optional[tuple[float, float]] = None,
                 allow_hash_mismatch: bool = False, progress: bool = False) -> None:
        self.device = resolve_device(device)
        self.batch_size = batch_size or default_batch_size(self.device, cpu=8, cuda=64)
        ext_name = extractor if isinstance(extractor, (str, type(None))) else getattr(extractor, "registry_name",
                                                                                       type(extractor).__name__)
        self.opts = ScoreOptions(device=str(self.device), seed=seed, batch_size=self.batch_size, num_real=num_real,
                                 mirror=mirror, reference=reference, extractor=ext_name, weights=dict(weights or {}),
                                 allow_hash_mismatch=allow_hash_mismatch, progress=progress)
        if max_features is not None and max_features < 1:
            raise ValueError(f"max_features must be a positive count (or None: no cap), got {max_features!r}")
        self.names, self.max_features, self.image_range = list(metrics), max_features, image_range
        self.rows: list[tuple[IM.ImageMetric, str]] = []        # (row, extractor name) per metric
        for name in self.names:
            base, over = resolve_name(name)
            row = IM.TABLE.get(base) or (IM.FID50K if base == "fid50k" else None)
            if row is None:
                raise ValueError(f"{name} is not an image metric; the Accumulator computes fid*, kid*, pr*, is* "
                                 "(other metrics need a generator: dm.score)")
            e = row.extractor
            if row.kind in ("fid", "kid"):
                if over.get("extractor") and ext_name and over["extractor"] != ext_name:
                    raise ValueError(f"{name} names extractor {over['extractor']} but extractor={ext_name!r} was "
                                     "given; drop one")
                e = over.get("extractor") or ext_name or row.extractor
            IM._mirror(row, self.opts)             # a _full row refuses mirror
            self.rows.append((row, e))
        need_real = [r for r, _ in self.rows if r.max_real != 0]
        if reference is not None:
            refused: dict = {r.name: None for r, _ in self.rows}
            IM._check_reference(need_real, self.opts, refused)   # a stats file serves FID only
            for exc in refused.values():
                if exc is not None:
                    raise exc
        extra = {"allow_hash_mismatch": True} if allow_hash_mismatch else {}
        self.extractors: dict[str, FeatureExtractor] = {}
        for e in dict.fromkeys(e for _, e in self.rows):
            given = extractor is not None and not isinstance(extractor, str) and e == ext_name
            self.extractors[e] = extractor.to(self.device) if given else build_extractor(
                e, weights=IM.weights_for(e, self.opts.weights), device=self.device, **extra)
        self._plan = FP._plan(self.extractors)
        self._gen = self._new_side(real=False)
        self._real = self._new_side(real=True) if reference is None and need_real else {}
        self.count = {False: 0, True: 0}
        self.resolution: dict[bool, Optional[int]] = {False: None, True: None}
        self._ref_side: Optional[dict] = None     # the reference's real side, resolved at the first compute()
        self._resize_note: Optional[str] = None
        self._rank_notes: dict[str, list[str]] = {}       # this compute()'s generated side
        self._ref_rank_notes: dict[str, list[str]] = {}   # the reference's, kept with its cached real side

    # ------------------------------------------------------------------ feeding
    def _new_side(self, real: bool) -> dict[str, SideFeatures]:
        out = {}
        for e, ext in self.extractors.items():
            kinds = {r.kind for r, x in self.rows if x == e and (not real or r.max_real != 0)}
            if not kinds:
                continue
            keep = None if kinds <= {"fid"} else (torch.float16 if kinds == {"pr"} else torch.float32)
            out[e] = SideFeatures(ext.feature_dim, self.device, stats="fid" in kinds,
                                  groups=intervals.FID_GROUPS if "fid" in kinds and not real else 0, rows=keep,
                                  group_batch=self.batch_size, capacity=self.max_features)
        return out

    def update(self, images: Any, real: bool = False, image_range: Optional[tuple[float, float]] = None) -> None:
        """Feed a batch: uint8 NCHW (tensor or array, any device), or floats spanning ``image_range``
        (quantised as generator output: uint8(clamp((x - lo) / (hi - lo) * 255 + 0.5, 0, 255)))."""
        from ..data.images import quantize_float_images
        if real and not self._real:
            raise ValueError("update(real=True): " + ("the real side comes from reference=; drop one of them"
                             if self.opts.reference is not None else "no metric asked needs real images"))
        x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
        rng = image_range or self.image_range
        if x.is_floating_point():
            if rng is None:
                raise ValueError(f"float images {tuple(x.shape)} need image_range=(low, high), e.g. (-1, 1) for "
                                 "generator output; or pass uint8 in [0, 255]")
            if not torch.isfinite(x).all():
                raise ValueError("images hold NaN or inf values: the generator's output is broken")
            x = quantize_float_images(x.detach(), rng)
        elif x.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 in [0, 255] or floating point with image_range, got {x.dtype}")
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"images must be NCHW with 1 or 3 channels, got shape {tuple(x.shape)}")
        if self.resolution[real] not in (None, x.shape[-1]):
            raise ValueError(f"images are {x.shape[-1]}x{x.shape[-1]}, earlier ones {self.resolution[real]}; "
                             "feed one resolution (reset() first to change it)")
        side = self._real if real else self._gen
        n = x.shape[0]
        if self.max_features is not None and any(s.row_dtype is not None for s in side.values()) \
                and self.count[real] + n > self.max_features:
            raise ValueError(f"max_features={self.max_features} reached ({self.count[real]} kept, {n} more fed): "
                             "compute() and reset() sooner, or raise the cap (memory per 50k: module docstring)")
        with metric_precision(), torch.inference_mode():
            feats = FP._run(self._plan, x.to(self.device))
            for e, s in side.items():
                s.update(feats[e], self.count[real])
        self.count[real] += n
        self.resolution[real] = x.shape[-1]

    def reset(self) -> None:
        """Forget the generated images; the real side (fed or from the reference) is kept."""
        self._gen = self._new_side(real=False)
        self.count[False], self.resolution[False] = 0, None

    def merge(self, other: "Accumulator") -> "Accumulator":
        """Add ``other``'s images after this one's (both sides); returns self. FID's jackknife groups
        equal one accumulator's fed both when this one's count is a multiple of ``batch_size``."""
        if (other.names, other.batch_size, other._identity()) != (self.names, self.batch_size, self._identity()):
            raise ValueError("merge: the accumulators differ in metrics, batch_size or extractors; merge only "
                             "accumulators built alike")
        for real, mine, theirs in ((False, self._gen, other._gen), (True, self._real, other._real)):
            if other.count[real] == 0:
                continue
            if self.resolution[real] not in (None, other.resolution[real]):
                raise ValueError(f"merge: images of {other.resolution[real]} and {self.resolution[real]} pixels")
            for e, s in mine.items():
                s.merge(theirs[e], self.count[real])
            self.count[real] += other.count[real]
            self.resolution[real] = other.resolution[real]
        return self

    # ------------------------------------------------------------------ state
    def _identity(self) -> dict[str, Any]:
        return {e: (x.feature_dim, x.weights_sha256) for e, x in self.extractors.items()}

    def state_dict(self) -> dict[str, Any]:
        """Everything fed so far (this process's part), CPU tensors: save it with the training checkpoint."""
        return {"format": STATE_FORMAT, "metrics": list(self.names), "batch_size": self.batch_size,
                "extractors": self._identity(), "count": dict(self.count), "resolution": dict(self.resolution),
                "gen": {e: s.state() for e, s in self._gen.items()},
                "real": {e: s.state() for e, s in self._real.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` into an accumulator built with the same metrics and extractors."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"state_dict format {state.get('format')!r}, expected {STATE_FORMAT}")
        for key, mine in (("metrics", self.names), ("batch_size", self.batch_size), ("extractors", self._identity())):
            theirs = state[key] if key != "extractors" else {e: tuple(v) for e, v in state[key].items()}
            if theirs != mine:
                raise ValueError(f"state_dict {key} {theirs!r} differ from this accumulator's {mine!r}; build it "
                                 "with the same arguments")
        for name, side in (("gen", self._gen), ("real", self._real)):
            for e, s in side.items():
                s.load(state[name][e])
        self.count = {bool(k): int(v) for k, v in state["count"].items()}
        self.resolution = {bool(k): v for k, v in state["resolution"].items()}

    # ------------------------------------------------------------------ results
    def compute(self) -> list[MetricResult]:
        """One :class:`MetricResult` per metric, named, with intervals and provenance as ``dm.score``'s.
        Collective under torch.distributed: every process calls it and gets the same results."""
        t0 = time.perf_counter()
        num_gen = sum(rank_counts(self.count[False]))
        if num_gen == 0:
            raise ValueError("compute(): no generated images fed; call update(images) first")
        res_gen = self.resolution[False]
        opts = self.opts
        gen = {}
        for e, s in self._gen.items():
            stats, groups, rows = s.reduced(self.count[False])
            g = None
            if groups is not None:
                g = intervals.GroupedFeatures(lambda f: f, len(groups))
                g.groups = groups
            gen[e] = FP.Features(stats=stats, all=rows, count=num_gen, groups=g)
        self._rank_notes = {}
        for r, e in self.rows:
            if r.kind == "fid":
                problem = rank_problem(num_gen, self.extractors[e].feature_dim, "generated images")
                if problem:     # a value that says so, as on every other route
                    warnings.warn(problem, RecordedWarning, stacklevel=2)
                    self._rank_notes.setdefault(r.name, []).append(problem)
        real_sides = self._real_sides(res_gen)
        t_real = time.perf_counter()
        out = []
        with metric_precision(), torch.inference_mode():
            for m, e in self.rows:
                t1 = time.perf_counter()
                real_side = real_sides.get((m.name, e))
                res = row_result(m, gen[e], real_side, e, self.extractors[e], num_gen, opts, self.device)
                out.append(self._finish(res, m, e, num_gen, real_side, t1, t_real - t0))
        return out

    def _real_sides(self, resolution: int) -> dict[tuple[str, str], tuple[dict[str, FP.Features], str]]:
        """(row name, extractor) -> the real side ``_one`` takes: from the reference (once) or fed."""
        need = [(m, e) for m, e in self.rows if m.max_real != 0]
        if not need:
            return {}
        if self.opts.reference is None:
            n = sum(rank_counts(self.count[True]))
            if n < 2:
                raise ValueError(f"{', '.join(m.name for m, _ in need)} need real images: feed them with "
                                 "update(images, real=True) or pass reference=")
            desc = f"real images fed with update(real=True) ({n} at {self.resolution[True]}x{self.resolution[True]})"
            out = {}
            for m, e in need:
                stats, _, rows = self._real[e].reduced(self.count[True])
                f = FP.Features(stats=stats, count=n) if m.kind == "fid" else FP.Features(all=rows, count=n)
                out[(m.name, e)] = ({e: f}, desc)
            return out
        if self._ref_side is None or self._ref_side["resolution"] != resolution:
            self._ref_side = {"resolution": resolution, "sides": self._reference_sides(need, resolution)}
        return self._ref_side["sides"]

    def _reference_sides(self, need: list, resolution: int) -> dict:
        """The reference's real side as ``IM.compute`` makes it (stats via reference_stats, rows via _real_pass)."""
        opts, dev, out = self.opts, self.device, {}
        # the authors' protocol, as score applies it: the reference at the fed images' resolution
        ref_source = IM.open_reference_images(opts.reference)      # listed once for both steps
        self._resize_note = IM.reference_protocol(opts.reference, resolution, ref_source)
        if self._resize_note:
            warnings.warn(self._resize_note, RecordedWarning, stacklevel=3)
        with metric_precision(), torch.inference_mode():
            sides, notes = IM.real_sides(need, self.extractors, opts, dev, resolution, resolution, self.batch_size,
                                         ref_source)
        for m, e in need:
            side = sides[m.name]
            if isinstance(side, Exception):
                raise side
            for problem in notes.get(m.name, []):     # a value that says so, as on every other route
                warnings.warn(problem, RecordedWarning, stacklevel=3)
            self._ref_rank_notes[m.name] = list(notes.get(m.name, []))
            if m.kind != "fid":   # kept between evaluations: on the CPU, float16 for PR alone (exact)
                f = side[0][e]
                pr_only = {r.kind for r, x in need if x == e} == {"pr"}
                f.all = f.all.to("cpu", torch.float16 if pr_only else torch.float32)
            out[(m.name, e)] = side
        return out

    def _finish(self, res: MetricResult, m: IM.ImageMetric, e: str, num_gen: int, real_side: Any, t1: float,
                real_s: float) -> MetricResult:
        """Name, values, intervals and provenance as ``IM.compute`` sets them."""
        IM.finish_result(res, m, num_gen, e, self.extractors[e], [], real_side)
        generated = {"kind": "accumulated", "num_fed": num_gen, "resolution": self.resolution[False],
                     "processes": distributed.info().world_size}
        res.config.update(num_gen=num_gen, batch_size=self.batch_size, extractor=e, generated=generated,
                          constants=dict(m.params), full=m.full, anchor_row=m.name)
        res.seed, res.num_samples, res.device = self.opts.seed, num_gen, describe(self.device)
        res.wall_time_s = time.perf_counter() - t1
        res.extras.update(shared_real_s=real_s, shared_with=list(self.names))
        if m.max_real != 0 and self._resize_note:
            res.extras["reference_resized"] = self._resize_note
        notes = self._rank_notes.get(m.name, []) + self._ref_rank_notes.get(m.name, [])
        if notes:
            res.extras["rank_deficient"] = notes
        return res
