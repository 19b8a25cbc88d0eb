"""TorchScript export of a trained attribute classifier, loadable without ``reference_models``.

``disentangle_metrics`` must not import ``reference_models``, so the shipped test-bed classifier is
also written as a TorchScript archive: a traced :class:`ClassifierExport` with three methods on
float images [N, 3, R, R] in [-1, 1] at exactly the classifier's resolution R:

- ``forward(images) -> logits [N, A]``
- ``features(images) -> [N, D]`` (penultimate activations, :meth:`AttributeClassifier.features`)
- ``activations(images) -> List[Tensor]`` (one map per resolution, :meth:`AttributeClassifier.activations`)

plus an extra file ``meta.json`` (attribute names, resolution, feature and activation sizes,
held-out accuracy). Resizing other image sizes to R is the loader's job
(:mod:`disentangle_metrics.features.testbed_net`).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from disentangle_metrics.features.testbed_net import META_FILE, META_FORMAT

from .checkpoint import load_checkpoint
from .classifier import AttributeClassifier



class ClassifierExport(nn.Module):
    """The three entry points of an :class:`AttributeClassifier`, as plain tensor functions."""

    def __init__(self, net: AttributeClassifier) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.features(images)

    def activations(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.net.activations(images)


def export_module(net: AttributeClassifier, example_batch: int = 3) -> torch.jit.ScriptModule:
    """Trace ``net`` (in eval mode, on CPU) into a TorchScript module with forward/features/activations."""
    if net.cfg.mbstd_group_size > 1:
        # The stddev layer mixes the images of a batch; a traced group size would be baked in.
        raise ValueError("cannot export a classifier with minibatch stddev (mbstd_group_size > 1)")
    net = net.cpu().eval().requires_grad_(False)
    R, C = net.cfg.resolution, net.cfg.num_channels
    x = torch.linspace(-1, 1, example_batch * C * R * R).reshape(example_batch, C, R, R)
    inputs = {"forward": (x,), "features": (x,), "activations": (x,)}
    # strict=False: activations returns a list, which the tracer otherwise refuses (its length is
    # fixed by the architecture, not by the input, so the trace is exact). No check_trace: the
    # tests compare the export with the network on other batch sizes, which is the check that matters.
    return torch.jit.trace_module(ClassifierExport(net), inputs, strict=False, check_trace=False)


def metadata(net: AttributeClassifier, attribute_names: list[str], extra: Optional[dict[str, Any]] = None) -> dict:
    """The ``meta.json`` of an export: what a loader needs to know without running the network."""
    if len(attribute_names) != net.num_attributes:
        raise ValueError(f"{len(attribute_names)} attribute names for a classifier with {net.num_attributes} logits")
    R, C = net.cfg.resolution, net.cfg.num_channels
    with torch.no_grad():
        probe = torch.zeros(1, C, R, R)
        acts = net.activations(probe)
        feat = net.features(probe)
    return {"format": META_FORMAT, "attribute_names": list(attribute_names), "resolution": R, "channels": C,
            "feature_dim": int(feat.shape[1]), "activation_channels": [int(a.shape[1]) for a in acts],
            "activation_resolutions": [int(a.shape[2]) for a in acts], "input_range": [-1.0, 1.0],
            "classifier_config": {k: v for k, v in vars(net.cfg).items()}, **(extra or {})}


def save_export(module: torch.jit.ScriptModule, meta: dict, path: str | os.PathLike) -> Path:
    """Write the TorchScript archive with ``meta.json`` inside, atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.jit.save(module, buf, _extra_files={META_FILE: json.dumps(meta, indent=2, sort_keys=True)})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def export_torchscript(checkpoint: str | os.PathLike, out_path: str | os.PathLike) -> str:
    """Export a folder written by :func:`~reference_models.classifier_training.write_outputs`; returns the sha256.

    Attribute names and held-out accuracy come from the folder's ``training.json``.
    """
    import hashlib

    from .classifier_training import read_summary
    net = load_checkpoint(checkpoint)
    if not isinstance(net, AttributeClassifier):
        raise TypeError(f"{checkpoint} holds a {type(net).__name__}, not an attribute classifier")
    summary = read_summary(checkpoint)
    extra = {"held_out_accuracy": summary["held_out_accuracy"], "num_validation": summary["num_validation"],
             "training_data": summary["data"].get("kind")}
    meta = metadata(net, summary["attribute_names"], extra)
    save_export(export_module(net), meta, out_path)
    return hashlib.sha256(Path(out_path).read_bytes()).hexdigest()
