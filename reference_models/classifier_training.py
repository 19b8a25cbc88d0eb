"""Training the attribute classifier (:class:`AttributeClassifier`) on an attribute-labelled dataset.

The network is the discriminator architecture with one logit per attribute; the loss is the mean
binary logistic loss over images and attributes,

    L = - mean_{i, a} [ y_ia log sigmoid(l_ia) + (1 - y_ia) log(1 - sigmoid(l_ia)) ],

optimised with Adam and a cosine learning-rate decay. Two kinds of data (see :mod:`.classifier_data`):
the procedural test bed rendered on the fly (fresh image indices every step, so the training data is
unlimited and never repeats) and a CelebA-layout folder (``list_attr_celeba.txt`` + images). The
held-out accuracy is measured on images the training never sees: a disjoint index range of the
test bed, or the last rows of the label file.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

from .build import build_classifier
from .checkpoint import load_checkpoint, save_checkpoint
from .classifier import AttributeClassifier
from .classifier_data import LabelledData, to_float_images

#: Name of the training summary written beside the checkpoint (attribute names, accuracy, timing).
SUMMARY_FILE = "training.json"
TABLE_FILE = "accuracy.md"


@dataclass
class ClassifierTrainConfig:
    """Hyper-parameters of one training run (the data source is passed separately)."""

    resolution: int = 32
    steps: int = 2000
    batch_size: int = 128
    lr: float = 2e-3
    final_lr_fraction: float = 0.02     # cosine decay from lr to lr * this
    weight_decay: float = 0.0
    seed: int = 0                       # weight initialisation and batch order of finite datasets
    fmap_base: int = 256
    fmap_max: int = 64
    eval_every: int = 250               # held-out accuracy every this many steps (0: only at the end)
    eval_batch_size: int = 500
    init_from: Optional[str] = None     # continue from this checkpoint folder instead of a fresh network

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError(f"steps, batch_size and eval_batch_size must be >= 1, got {self.steps}, "
                             f"{self.batch_size}, {self.eval_batch_size}")
        if not self.lr > 0 or not 0 <= self.final_lr_fraction <= 1:
            raise ValueError(f"lr must be > 0 and final_lr_fraction in [0, 1], got {self.lr}, {self.final_lr_fraction}")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}")


@dataclass
class TrainResult:
    """A trained classifier and what was measured while training it."""

    model: AttributeClassifier
    attribute_names: list[str]
    accuracy: dict[str, float]                  # held-out accuracy per attribute (final)
    positive_fraction: dict[str, float]         # held-out fraction of positives per attribute
    num_validation: int
    losses: list[float]                         # training loss of every step
    history: list[dict] = field(default_factory=list)   # [{step, mean_accuracy, min_accuracy, loss}]
    train_time_s: float = 0.0
    images_seen: int = 0

    @property
    def mean_accuracy(self) -> float:
        return sum(self.accuracy.values()) / len(self.accuracy)

    @property
    def min_accuracy(self) -> float:
        return min(self.accuracy.values())


def lr_at(cfg: ClassifierTrainConfig, step: int) -> float:
    """Cosine decay from ``cfg.lr`` at step 0 to ``cfg.lr * final_lr_fraction`` at the last step."""
    t = step / max(cfg.steps - 1, 1)
    lo = cfg.lr * cfg.final_lr_fraction
    return lo + 0.5 * (cfg.lr - lo) * (1 + math.cos(math.pi * t))


@torch.no_grad()
def evaluate(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
             batch_size: int = 500) -> torch.Tensor:
    """Per-attribute accuracy [A] of ``model`` on uint8 ``images`` with 0/1 ``labels`` (logit > 0 = positive)."""
    was_training = model.training
    model.eval()
    correct = torch.zeros(labels.shape[1], dtype=torch.float64)
    for s in range(0, len(images), batch_size):
        logits = model(to_float_images(images[s:s + batch_size]))
        correct += ((logits > 0).float() == labels[s:s + batch_size]).double().sum(0)
    model.train(was_training)
    return correct / len(images)


def _train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                lr: float, losses: list[float]) -> None:
    for g in opt.param_groups:
        g["lr"] = lr
    loss = F.binary_cross_entropy_with_logits(model(to_float_images(x)), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    losses.append(float(loss.detach()))


def _record(history: list[dict], losses: list[float], acc: torch.Tensor, step: int, cfg: ClassifierTrainConfig,
            names: list[str], elapsed: float, log: Optional[Callable[[str], None]]) -> None:
    recent = losses[-cfg.eval_every:] if cfg.eval_every else losses
    loss = sum(recent) / len(recent)
    history.append({"step": step + 1, "loss": loss, "mean_accuracy": float(acc.mean()),
                    "min_accuracy": float(acc.min()), "elapsed_s": elapsed})
    if log is not None:
        worst = ", ".join(f"{names[k]} {acc[k]:.3f}" for k in acc.argsort()[:4].tolist())
        log(f"step {step + 1}/{cfg.steps}  loss {loss:.4f}  held-out accuracy mean {acc.mean():.4f}; "
            f"lowest: {worst}  ({(step + 1) * cfg.batch_size / elapsed:.0f} img/s)")


def _warm_start(cfg: ClassifierTrainConfig, names: list[str]) -> AttributeClassifier:
    """The network of ``cfg.init_from``, checked against the run's resolution, widths and attribute count."""
    net = load_checkpoint(cfg.init_from)
    if not isinstance(net, AttributeClassifier):
        raise ValueError(f"{cfg.init_from} holds a {type(net).__name__}, not an attribute classifier")
    want = (cfg.resolution, cfg.fmap_base, cfg.fmap_max, len(names))
    have = (net.cfg.resolution, net.cfg.fmap_base, net.cfg.fmap_max, net.num_attributes)
    if want != have:
        raise ValueError(f"{cfg.init_from} is a classifier with (resolution, fmap_base, fmap_max, attributes) = {have}, "
                         f"but this run asks for {want}")
    earlier = read_summary(cfg.init_from)["attribute_names"]
    if earlier != names:
        raise ValueError(f"{cfg.init_from} was trained for attributes {earlier}, this run for {names}")
    return net


def train_classifier(cfg: ClassifierTrainConfig, data: LabelledData,
                     log: Optional[Callable[[str], None]] = None) -> TrainResult:
    """Train a fresh classifier on ``data`` (images at ``cfg.resolution``) and measure it on the held-out set."""
    if data.resolution != cfg.resolution:
        raise ValueError(f"the data delivers {data.resolution}x{data.resolution} images but the classifier is "
                         f"{cfg.resolution}x{cfg.resolution}")
    names = list(data.attribute_names)
    if cfg.init_from:
        model = _warm_start(cfg, names)
    else:
        model = build_classifier(len(names), cfg.resolution, seed=cfg.seed, fmap_base=cfg.fmap_base,
                                 fmap_max=cfg.fmap_max)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    val_x, val_y = data.validation()
    gen = torch.Generator().manual_seed(cfg.seed)
    losses: list[float] = []
    history: list[dict] = []
    t0 = time.perf_counter()
    # One thread prepares the next batch while this one trains (rendering and decoding release the
    # GIL); batches are still requested strictly in step order, so runs are reproducible.
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(data.train_batch, 0, cfg.batch_size, gen)
        for step in range(cfg.steps):
            x, y = pending.result()
            if step + 1 < cfg.steps:
                pending = pool.submit(data.train_batch, step + 1, cfg.batch_size, gen)
            _train_step(model, opt, x, y, lr_at(cfg, step), losses)
            if step == cfg.steps - 1 or (cfg.eval_every and (step + 1) % cfg.eval_every == 0):
                acc = evaluate(model, val_x, val_y, cfg.eval_batch_size)
                _record(history, losses, acc, step, cfg, names, time.perf_counter() - t0, log)
    elapsed = time.perf_counter() - t0
    model.eval()
    return TrainResult(model=model, attribute_names=names,
                       accuracy={n: float(a) for n, a in zip(names, acc)},
                       positive_fraction={n: float(p) for n, p in zip(names, val_y.mean(0))},
                       num_validation=len(val_x), losses=losses, history=history, train_time_s=elapsed,
                       images_seen=cfg.steps * cfg.batch_size)


def accuracy_table(result: TrainResult, threshold: Optional[float] = None) -> str:
    """Markdown table: attribute, held-out accuracy, held-out positive fraction (and pass/fail vs ``threshold``)."""
    head = "| attribute | held-out accuracy | positives |" + (" >= {:.0%} |".format(threshold) if threshold else "")
    rule = "|---|---:|---:|" + ("---|" if threshold else "")
    rows = [head, rule]
    for n in result.attribute_names:
        a = result.accuracy[n]
        rows.append(f"| {n} | {a:.4f} | {result.positive_fraction[n]:.3f} |"
                    + ((" yes |" if a >= threshold else " **no** |") if threshold else ""))
    rows.append(f"| **mean** | {result.mean_accuracy:.4f} | |" + (" |" if threshold else ""))
    rows.append(f"| **min** | {result.min_accuracy:.4f} | |" + (" |" if threshold else ""))
    return "\n".join(rows) + "\n"


def write_outputs(result: TrainResult, cfg: ClassifierTrainConfig, out_dir: str | Path,
                  data_description: dict, threshold: Optional[float] = None) -> Path:
    """Checkpoint (``config.json`` + ``model.pt``) plus ``training.json`` and ``accuracy.md`` in ``out_dir``.

    All are written into one temporary folder that replaces ``out_dir`` in one rename
    (:func:`save_checkpoint`), so a reader never sees a checkpoint without its summary.
    """
    out = Path(out_dir)
    summary = {
        "attribute_names": result.attribute_names,
        "held_out_accuracy": result.accuracy,
        "held_out_positive_fraction": result.positive_fraction,
        "mean_accuracy": result.mean_accuracy,
        "min_accuracy": result.min_accuracy,
        "num_validation": result.num_validation,
        "train_time_s": result.train_time_s,
        "images_seen": result.images_seen,
        "train_config": asdict(cfg),
        "data": data_description,
        "history": result.history,
        "loss_first_last": [result.losses[0], result.losses[-1]],
    }
    extra = {SUMMARY_FILE: json.dumps(summary, indent=2) + "\n", TABLE_FILE: accuracy_table(result, threshold)}
    return save_checkpoint(result.model, out, extra_files=extra)


def read_summary(folder: str | Path) -> dict:
    """The ``training.json`` of a folder written by :func:`write_outputs`."""
    path = Path(folder) / SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {folder} was not written by `dmetrics train-classifier`")
    return json.loads(path.read_text())


def parse_attributes(text: Optional[str], available: Sequence[str]) -> list[str]:
    """``'a,b,c'`` -> ['a', 'b', 'c'] checked against ``available`` (None or 'all': every attribute)."""
    if text is None or text.strip() in ("", "all"):
        return list(available)
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"unknown attribute(s) {unknown}; the dataset has {list(available)}")
    if len(set(names)) != len(names):
        raise ValueError(f"attribute list {names} names an attribute twice")
    return names
