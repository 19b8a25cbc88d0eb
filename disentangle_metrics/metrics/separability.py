"""Linear separability (Karras et al. 2019, section 4.2), the metric ``ls`` (``ls_z``, ``ls_w``).

For each attribute a with classifier logit l (one per image):

1. probabilities softmax([l, -l]); the confidence of a sample is max(softmax) = sigmoid(2 |l|);
2. keep the ``num_keep`` most confident of the ``num_samples`` samples (ties by sample index);
3. targets Y = argmax softmax([l, -l]), i.e. 0 when l >= 0 and 1 when l < 0;
4. fit ``LinearSVC()`` on the kept latents of each space and predict the same points, X;
5. conditional entropy from the 2x2 joint table p(x, y) of (SVM prediction, classifier label):

       H(Y | X) = - sum_{x, y} p(x, y) log2( p(x, y) / p(x) )   [bits]

The score of a space is ``2 ** sum_a H_a(Y | X)``, equal to the paper's ``exp(sum_a H_a)`` with
H in nats. The latent spaces are z (the generator input) and w (the last layer of ``mapping(z)``).

Differences from the paper's code, on purpose: confidence is ranked by |l| in float64, where the
TensorFlow code ranked float32 softmax outputs, which saturate to exactly 1.0 for |l| > ~8.3 and
then fall back to index order; and an SVM fit that fails is reported (entropy NaN, status
'failed'), not replaced by "perfect prediction".

A class of one or two kept samples (a rare attribute, or a small run) is scored as the paper's code
scores it. Its attribute's entropy lies between 0 and H(Y) = h(m / num_keep) bits whatever the
geometry, so the result notes those attributes and the factor ``2 ** sum h(m / num_keep)`` by which
they could move the score at most.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from .._core import distributed
from .._core.device import resolve_device
from .._core.progress import progress_bar
from .._core.results import RecordedWarning
from ..functional.intervals import LS_RESAMPLES, ls_bootstrap
from ..functional.linear_svm import STATUS_FAILED, BatchedLinearSVC
from .._core.options import count_or_default
from .registry import register_metric

PAPER_NUM_SAMPLES = 200_000   # generated images; the 100,000 most confident are kept

if TYPE_CHECKING:
    from .._core.results import MetricResult

ArrayLike = Union[np.ndarray, torch.Tensor]


@dataclass
class SeparabilityResult:
    """Per-space scores and per-attribute details of one separability evaluation."""

    scores: dict[str, float]                    # space -> 2 ** sum of entropies
    entropies: dict[str, np.ndarray]            # space -> [A] H(Y|X) in bits (NaN where the fit failed)
    accuracy: dict[str, np.ndarray]             # space -> [A] fraction of kept samples the SVM predicts right
    status: dict[str, list[str]]                # space -> [A] SVM status ('converged', 'max_iter', ...)
    n_iter: dict[str, np.ndarray]               # space -> [A] solver iterations
    messages: dict[str, list[str]]              # space -> [A] why a fit failed / did not converge ('' if fine)
    attribute_names: list[str]
    num_samples: int
    num_keep: int
    positive_fraction: np.ndarray               # [A] fraction of kept samples with label 1 (l < 0)
    svm_time_s: dict[str, float] = field(default_factory=dict)
    nan_reason: dict[str, str] = field(default_factory=dict)   # space -> why its score is NaN (a failed fit)
    thin_classes: str = ""                      # attributes with a class of 1-2 kept samples, and their bound

    @property
    def converged(self) -> dict[str, np.ndarray]:
        """space -> [A] bool: the SVM met its tolerance (single-class attributes count as converged)."""
        return {k: np.array([s in ("converged", "single_class") for s in v]) for k, v in self.status.items()}


def _to_tensor(x: ArrayLike, name: str) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [num_samples, dim], got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.double()
    return t


def targets_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """argmax softmax([l, -l]) per entry: 0 where l >= 0 (argmax takes the first of a tie), 1 where l < 0."""
    return (logits < 0).long()


def keep_most_confident(logits: torch.Tensor, num_keep: int) -> torch.Tensor:
    """Bool mask [N, A]: per attribute the ``num_keep`` samples with the largest |logit|.

    max softmax([l, -l]) = sigmoid(2 |l|) is increasing in |l|, so ranking by |l| is ranking by
    confidence. A stable sort keeps the lower sample index first among equal confidences, as the
    paper's ``sorted(..., key=-confidence)`` does.
    """
    n = logits.shape[0]
    if not 1 <= num_keep <= n:
        raise ValueError(f"num_keep must be between 1 and the number of samples ({n}), got {num_keep}")
    order = torch.sort(-logits.abs(), dim=0, stable=True).indices[:num_keep]    # [num_keep, A]
    mask = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
    mask.scatter_(0, order, True)
    return mask


def conditional_entropy_bits(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """H(Y | X) in bits per column, X = ``pred``, Y = ``target`` (both {0, 1}) over rows where ``mask``.

    Columns with a prediction outside {0, 1} (a failed fit) give NaN.
    """
    m = mask.double()
    n = m.sum(0)
    p = torch.stack([torch.stack([((pred == x) & (target == y)).double().mul(m).sum(0) / n for y in (0, 1)], -1)
                     for x in (0, 1)], -2)                          # [A, 2 (x), 2 (y)]
    px = p.sum(-1, keepdim=True)
    terms = torch.where(p > 0, -p * torch.log2(p / px.clamp_min(1e-300)), torch.zeros_like(p))
    h = terms.sum((-2, -1)).clamp_min(0)
    bad = (((pred < 0) | (pred > 1)) & mask).any(0)
    return torch.where(bad, torch.full_like(h, float("nan")), h).cpu().numpy()


def separability_from_samples(latents: Mapping[str, ArrayLike], logits: ArrayLike, num_keep: Optional[int] = None,
                              attribute_names: Optional[Sequence[str]] = None, backend: str = "torch",
                              device: Any = "auto", svm_options: Optional[Mapping[str, Any]] = None
                              ) -> SeparabilityResult:
    """Separability scores from sampled latents and classifier logits (module docstring).

    ``latents``: space name -> [N, D] (e.g. ``{'z': z, 'w': w}``); ``logits`` [N, A], one logit per
    attribute; ``num_keep`` defaults to N // 2. ``backend`` 'torch' (batched solver, on ``device``)
    or 'sklearn' (one ``sklearn.svm.LinearSVC`` per attribute); ``svm_options`` go to
    :class:`~disentangle_metrics.functional.linear_svm.BatchedLinearSVC` (C, tol, max_iter, intercept_scaling).
    """
    if not latents:
        raise ValueError("latents is empty: pass at least one space, e.g. {'z': z}")
    dev = resolve_device(device)
    L = _to_tensor(logits, "logits")
    n, A = L.shape
    bad = ~torch.isfinite(L)
    if bool(bad.any()):
        cols = torch.nonzero(bad.any(0)).flatten().tolist()
        raise ValueError(f"logits contain NaN/inf for attributes {cols[:10]} ({int(bad.sum())} entries); "
                         "check the classifier's input range ([-1, 1]) and weights")
    names = [str(a) for a in attribute_names] if attribute_names is not None else [f"attr{i:02d}" for i in range(A)]
    if len(names) != A:
        raise ValueError(f"{len(names)} attribute names for {A} logit columns")
    spaces = {}
    for space, x in latents.items():
        t = _to_tensor(x, f"latents[{space!r}]")
        if t.shape[0] != n:
            raise ValueError(f"latents[{space!r}] has {t.shape[0]} samples but logits has {n}; "
                             "they must come from the same samples, in the same order")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"latents[{space!r}] contains NaN/inf values")
        spaces[space] = t
    num_keep = n // 2 if num_keep is None else int(num_keep)
    for space, t in spaces.items():
        require_enough_kept(num_keep, t.shape[1], space)
    L = L.to(dev)
    mask = keep_most_confident(L, num_keep)
    target = targets_from_logits(L)
    pos_frac = ((target == 1) & mask).double().sum(0) / num_keep
    n_pos = ((target == 1) & mask).sum(0).cpu()
    minority = torch.minimum(n_pos, num_keep - n_pos)
    thin = [(names[a], int(minority[a])) for a in range(A) if 0 < int(minority[a]) < MIN_CLASS_MEMBERS]

    res = SeparabilityResult(scores={}, entropies={}, accuracy={}, status={}, n_iter={}, messages={},
                             attribute_names=names, num_samples=n, num_keep=num_keep,
                             positive_fraction=pos_frac.cpu().numpy())
    for space, X in spaces.items():
        t0 = time.perf_counter()
        svm = BatchedLinearSVC(backend=backend, device=dev, **dict(svm_options or {}))
        X = X.to(dev)
        svm.fit(X, target, mask)
        pred = svm.predict(X)
        res.svm_time_s[space] = time.perf_counter() - t0
        h = conditional_entropy_bits(pred, target, mask)
        res.entropies[space] = h
        acc = (((pred == target) & mask).double().sum(0) / num_keep).cpu().numpy()
        acc[svm.status_ == STATUS_FAILED] = np.nan
        res.accuracy[space] = acc
        res.status[space] = [str(s) for s in svm.status_]
        res.n_iter[space] = svm.n_iter_.copy()
        res.messages[space] = [str(m) for m in svm.messages_]
        res.scores[space] = float(2.0 ** np.sum(h))    # NaN when any attribute failed: never hidden
        if not np.isfinite(res.scores[space]):
            failed = [names[a] for a in range(A) if svm.status_[a] == STATUS_FAILED]
            res.nan_reason[space] = f"the SVM fit failed for {', '.join(failed[:5]) or 'an attribute'}"
        flagged = [f"{names[a]}: {svm.messages_[a]}" for a in range(A)
                   if svm.status_[a] not in ("converged", "single_class")]
        if flagged:
            warnings.warn(f"linear separability, space {space!r}: the SVM of {len(flagged)} attribute(s) did not "
                          f"converge or failed ({'; '.join(flagged[:5])}); see the per-attribute status in the "
                          "result", RuntimeWarning, stacklevel=2)
    if thin:
        res.thin_classes = thin_class_note(thin, num_keep)
        warnings.warn(f"linear separability: {res.thin_classes}", RecordedWarning, stacklevel=2)
    return res


MIN_CLASS_MEMBERS = 3   # a class of 1 or 2 kept samples is noted with its bound (a class of 0: constant label, H = 0)


def binary_entropy_bits(p: float) -> float:
    """h(p) = -p log2 p - (1 - p) log2 (1 - p), with h(0) = h(1) = 0."""
    return float(sum(-q * np.log2(q) for q in (p, 1.0 - p) if q > 0))


def thin_class_note(thin: Sequence[tuple[str, int]], num_keep: int) -> str:
    """One line naming the attributes whose smaller class has 1-2 kept samples, with the most they can
    move the score: 0 <= H_a(Y | X) <= H_a(Y) = h(m_a / num_keep), so a factor ``2 ** sum_a h(m_a / K)``."""
    bits = sum(binary_entropy_bits(m / num_keep) for _, m in thin)
    named = ", ".join(f"{n} ({m} of {num_keep})" for n, m in thin[:5]) + (" ..." if len(thin) > 5 else "")
    return (f"{len(thin)} attribute(s) have fewer than {MIN_CLASS_MEMBERS} kept samples in one class: {named}; "
            f"scored as the paper's code scores them, they can move the score by a factor of at most "
            f"{2.0 ** bits:.4g} (their label entropy, {bits:.3g} bits); more samples give these classes more members")


def require_enough_kept(num_keep: int, dim: int, space: str) -> None:
    """Refuse a fit that is separable whatever the labels: ``num_keep <= dim + 1`` points in general
    position in ``dim`` dimensions can be split in every way by an affine hyperplane (H = 0, score 1).

    Up to about ``2 (dim + 1)`` points most random labellings are still separable (Cover, 1965), so
    such counts are warned about.
    """
    if num_keep <= dim + 1:
        raise ValueError(f"linear separability in {space!r}: {num_keep} kept samples in {dim} dimensions are "
                         f"separable whatever their labels (the score would be a perfect 1.0); keep more than "
                         f"{dim + 1} (more than {2 * (dim + 1)} to be meaningful; the paper keeps 100,000 of 200,000)")
    if num_keep <= 2 * (dim + 1):
        warnings.warn(f"linear separability in {space!r}: only {num_keep} kept samples in {dim} dimensions; "
                      f"random labels are separable this often (Cover 1965): keep well over {2 * (dim + 1)}",
                      RuntimeWarning, stacklevel=3)


# --------------------------------------------------------------------------------------------
# The metric on a generator


@dataclass
class SampledLatents:
    """Latents and logits of ``num_samples`` generated images, row i = global sample index i."""

    latents: dict[str, torch.Tensor]     # space -> [N, D] float32
    logits: torch.Tensor                 # [N, A] float32
    attribute_names: list[str]


def sample_latents_and_logits(G: Any, classifier: Any, num_samples: int, spaces: Sequence[str] = ("z", "w"),
                              batch_size: int = 16, seed: int = 0, device: Any = "auto", rank: int = 0,
                              world_size: int = 1, progress: bool = False, **source_options: Any) -> SampledLatents:
    """Generate ``num_samples`` images (no truncation, random noise) and classify them.

    ``G`` is a generator or a :class:`~.sources.GeneratorSource`; ``source_options`` (labels of a
    conditional generator) build the source of a generator. The caller's generator is not modified.

    z ~ N(0, I) from :mod:`~disentangle_metrics._core.sampling` (per-sample seeds), w = ``mapping(z)[:, -1]``,
    images box-downsampled to 256 when larger. This rank fills only the rows of its global batches
    (``batch_ranges``), so a gather of the per-rank tensors onto rank 0 reassembles the full set.
    """
    from .attribute_classifier import as_attribute_classifier, box_downsample, infer_names
    from ..generators.sources import GeneratorSource

    dev = resolve_device(device)
    for s in spaces:
        if s not in ("z", "w"):
            raise ValueError(f"unknown latent space {s!r}; use 'z' and/or 'w'")
    src = G if isinstance(G, GeneratorSource) else GeneratorSource(G, device=dev, **source_options)
    clf = as_attribute_classifier(classifier).to(dev)
    out_lat = {s: torch.zeros(num_samples, src.z_dim if s == "z" else src.w_dim, device=dev) for s in spaces}
    logits: Optional[torch.Tensor] = None
    num_batches = len(range(rank, (num_samples + batch_size - 1) // batch_size, world_size))
    it: Any = src.batches(num_samples, batch_size, seed=seed, rank=rank, world_size=world_size, keep_ws=True,
                          keep_float=True)
    with torch.no_grad(), progress_bar(num_batches, "ls", progress, unit="batch") as bar:
        for batch in it:
            out = clf(box_downsample(batch.float_images.float()))
            if logits is None:
                infer_names(clf, out.shape[1])
                logits = torch.zeros(num_samples, out.shape[1], device=dev)
            rows = slice(batch.index.start, batch.index.stop)
            logits[rows] = out
            if "z" in out_lat:
                out_lat["z"][rows] = batch.z
            if "w" in out_lat:
                out_lat["w"][rows] = batch.ws[:, -1].float()
            bar.update(1)
    if logits is None:
        raise ValueError(f"rank {rank} of {world_size} got no minibatch of {num_samples} samples (batch size {batch_size})")
    return SampledLatents(latents=out_lat, logits=logits, attribute_names=list(clf.names))


def _gather_samples(smp: SampledLatents, num_samples: int, batch_size: int, me: "distributed.DistInfo",
                    dev: torch.device) -> SampledLatents:
    """Assemble every rank's rows into the full latents and logits, in global index order, on all ranks."""
    from .._core.sampling import rank_indices
    local = torch.tensor(rank_indices(num_samples, batch_size, me.rank, me.world_size), dtype=torch.long, device=dev)
    return SampledLatents(
        latents={s: distributed.gather_by_index(v[local], local, num_samples) for s, v in smp.latents.items()},
        logits=distributed.gather_by_index(smp.logits[local], local, num_samples),
        attribute_names=smp.attribute_names)


def separability(G: Any, classifier: Any, num_samples: int = PAPER_NUM_SAMPLES, num_keep: Optional[int] = None,
                 spaces: Sequence[str] = ("z", "w"), batch_size: Optional[int] = None, seed: int = 0,
                 device: Any = "auto", backend: str = "torch", keep_samples: bool = False,
                 progress: bool = False, *, class_label: Optional[int] = None, labels: Any = None,
                 bootstrap: int = LS_RESAMPLES) -> "MetricResult":
    """The paper's linear separability of ``G``: ``ls_z`` and ``ls_w`` = 2 ** sum_a H_a(Y | X).

    ``num_keep`` defaults to ``num_samples // 2`` (paper: 200,000 and 100,000). A generator without
    a mapping network (``has_mapping=False``) is scored in Z only. ``keep_samples`` puts the raw
    latents and logits into ``MetricResult.samples`` (large: 200k x 512 floats per space).
    ``class_label``/``labels``: the labels of a conditional generator (:mod:`~.conditioning`).
    ``bootstrap``: resamples (SVM refits) of the 95% intervals (:func:`~.intervals.ls_bootstrap`; 0 = none).
    """
    from .._core.device import default_batch_size, describe, metric_precision
    from .._core.results import MetricResult

    if classifier is None:
        raise ValueError("linear separability needs an attribute classifier (images [-1, 1] -> logits [N, A]); "
                         "pass classifier=... or --classifier PATH on the command line")
    if num_samples < 2:
        raise ValueError(f"num_samples must be >= 2, got {num_samples}")
    dev = resolve_device(device)
    from ..generators.sources import GeneratorSource
    src = GeneratorSource(G, device=dev, class_label=class_label, labels=labels)
    if not src.has_mapping:
        spaces = tuple(s for s in spaces if s != "w")
    if not spaces:
        raise ValueError("no latent space left to score: a generator without mapping has only 'z'")
    bs = count_or_default(batch_size, default_batch_size(dev, cpu=8, cuda=32), "batch_size")
    t0 = time.perf_counter()
    with metric_precision():
        me = distributed.info()
        smp = sample_latents_and_logits(src, classifier, num_samples, spaces, bs, seed, dev, rank=me.rank,
                                        world_size=me.world_size, progress=progress and me.is_main)
        if me.world_size > 1:
            smp = _gather_samples(smp, num_samples, bs, me, dev)
        t_sample = time.perf_counter() - t0
        # The SVM stage runs once, on rank 0; the other ranks receive its result.
        res, ivs = None, {}
        if me.is_main:
            res = separability_from_samples(smp.latents, smp.logits, num_keep=num_keep,
                                            attribute_names=smp.attribute_names, backend=backend, device=dev)
            ivs = {s: ls_bootstrap(res.scores[s], smp.latents[s].to(dev), smp.logits.to(dev), res.num_keep,
                                   num_resamples=bootstrap, seed=seed) for s in spaces if bootstrap}
        res, ivs = distributed.broadcast_object((res, ivs))
    values = {f"ls_{s}": res.scores[s] for s in spaces}
    extras: dict[str, Any] = {
        "attribute_names": res.attribute_names,
        "num_keep": res.num_keep,
        "positive_fraction": res.positive_fraction,
        "entropy_bits": {s: res.entropies[s] for s in spaces},
        "svm_accuracy": {s: res.accuracy[s] for s in spaces},
        "svm_status": res.status,
        "svm_converged": {s: v for s, v in res.converged.items()},
        "svm_n_iter": res.n_iter,
        "svm_messages": {s: [m for m in v] for s, v in res.messages.items()},
        "svm_backend": backend,
        "time_sampling_s": t_sample,
        "time_svm_s": res.svm_time_s,
    }
    if res.nan_reason:
        extras["nan_reason"] = dict(res.nan_reason)
    if res.thin_classes:
        extras["notes"] = [res.thin_classes]
    samples = {}
    if keep_samples:
        samples = {f"latents_{s}": smp.latents[s].cpu().numpy() for s in spaces}
        samples["logits"] = smp.logits.cpu().numpy()
    headline = values.get("ls_w", values.get("ls_z"))
    # A classifier other than the paper's carries its tag into every name (ls@testbed, ls_w@testbed).
    tag = getattr(classifier, "metric_tag", None)
    suffix = f"@{tag}" if tag else ""
    values = {k + suffix: v for k, v in values.items()}
    sha = getattr(classifier, "sha256", None)
    out = MetricResult(metric="ls" + suffix, value=headline, values=values,
                        config={"num_samples": num_samples, "num_keep": res.num_keep, "spaces": list(spaces),
                                "batch_size": bs, "backend": backend,
                                "images_downsampled_to": 256,
                                "classifier_resolution": getattr(classifier, "resolution", None),
                                "truncation_psi": 1.0, "noise_mode": "random",
                                "precision": src.describe()["precision"], "labels": src.label_policy.describe()},
                        seed=seed, num_samples=num_samples, wall_time_s=time.perf_counter() - t0,
                        device=describe(dev), weights={f"classifier{suffix}": sha} if sha else {},
                        extras=extras, samples=samples)
    for s, iv in ivs.items():
        out.add_interval(f"ls_{s}{suffix}", iv)
    if ivs:
        out.add_interval("ls" + suffix, ivs["w" if "w" in ivs else "z"])
    return out


@register_metric("ls")
def _ls_metric(G: Any, opts: Any) -> "MetricResult":
    """Registered metric ``ls``: reports ``ls_z`` and (with a mapping network) ``ls_w``."""
    n = count_or_default(opts.num_samples, PAPER_NUM_SAMPLES, "num_samples")
    keep = count_or_default(opts.num_keep, n // 2, "num_keep")
    return separability(G, opts.classifier, num_samples=n, num_keep=keep, batch_size=opts.batch_size,
                        seed=opts.seed, device=opts.device, backend=opts.ls_backend, keep_samples=opts.keep_samples,
                        progress=opts.progress, class_label=opts.class_label, labels=opts.labels,
                        bootstrap=opts.resamples_or(LS_RESAMPLES))

