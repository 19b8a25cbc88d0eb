"""Attribute classifiers for linear separability: one callable images -> logits [N, A].

The paper used 40 separate CelebA-HQ networks, each with one logit per image; a single network
with one logit per attribute works the same. :func:`as_attribute_classifier` accepts either and
:func:`box_downsample` shrinks generated images to the classifiers' 256x256 input the way the
paper's code did (mean over factor x factor boxes).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch

from ..generators.protocol import module_device

CLASSIFIER_RESOLUTION = 256


def box_downsample(images: torch.Tensor, resolution: int = CLASSIFIER_RESOLUTION) -> torch.Tensor:
    """Average ``factor x factor`` pixel boxes, factor = H // resolution, when H > resolution.

    Images at or below ``resolution`` pass unchanged (as in the paper's code). A size that is not a
    multiple of ``resolution`` is refused rather than silently cropped.
    """
    if images.ndim != 4:
        raise ValueError(f"images must be NCHW, got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    if h <= resolution and w <= resolution:
        return images
    if h % resolution or w % resolution or h // resolution != w // resolution:
        raise ValueError(f"cannot box-downsample {h}x{w} images to {resolution}x{resolution}: the size must be "
                         f"the same integer multiple of {resolution} in both directions")
    from ..generators.sources import box_downsample as box_by_factor   # the one box filter (PPL's crop uses it too)
    return box_by_factor(images, h // resolution)


@dataclass
class AttributeClassifier:
    """One or more networks whose logits are concatenated into [N, A]; ``names`` has A entries."""

    parts: list[Callable[[torch.Tensor], torch.Tensor]]
    names: list[str]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Logits [N, A] (float32) for images in [-1, 1], NCHW."""
        outs = []
        for k, net in enumerate(self.parts):
            out = net(images)
            if isinstance(out, (tuple, list)):
                out = out[0]
            if not isinstance(out, torch.Tensor):
                raise TypeError(f"classifier {k} returned {type(out).__name__}, expected a tensor of logits")
            if out.ndim == 1:
                out = out[:, None]
            if out.ndim != 2 or out.shape[0] != images.shape[0]:
                raise ValueError(f"classifier {k} returned logits of shape {tuple(out.shape)} for "
                                 f"{images.shape[0]} images; expected [N] or [N, num_attributes]")
            outs.append(out.float())
        logits = torch.cat(outs, dim=1)
        if self.names and logits.shape[1] != len(self.names):
            raise ValueError(f"the classifier returned {logits.shape[1]} logits per image but has "
                             f"{len(self.names)} attribute names; set attribute_names to match its output")
        return logits

    def to(self, device: torch.device) -> "AttributeClassifier":
        """A copy whose torch modules live on ``device`` (in eval mode, no gradients)."""
        parts = []
        for net in self.parts:
            if isinstance(net, torch.nn.Module):
                if module_device(net) not in (None, device):
                    net = copy.deepcopy(net).to(device)
                net = net.eval().requires_grad_(False)
            parts.append(net)
        return AttributeClassifier(parts, list(self.names))


def _names_of(net: Any) -> Optional[list[str]]:
    for attr in ("attribute_names", "attributes"):
        names = getattr(net, attr, None)
        if names is not None and not isinstance(names, str):
            return [str(n) for n in names]
    name = getattr(net, "attribute_name", None)
    return [str(name)] if name is not None else None


NAMED_CLASSIFIERS = ("testbed",)


def named_classifier(name: str) -> Any:
    """The attribute classifier registered as ``name``: ``testbed``, the shipped test-bed classifier."""
    if name == "testbed":
        from ..features.testbed_net import load_testbed_classifier
        return load_testbed_classifier()
    raise ValueError(f"unknown attribute classifier {name!r}: the named ones are {', '.join(NAMED_CLASSIFIERS)}; "
                     "else pass a callable images -> logits [N, A] (the CLI also takes a checkpoint folder)")


def as_attribute_classifier(classifier: Any, attribute_names: Optional[Sequence[str]] = None,
                            num_attributes: Optional[int] = None) -> AttributeClassifier:
    """Wrap a callable (logits [N, A]) or a list of callables (each [N] or [N, A_k]) as one classifier.

    Attribute names come from ``attribute_names``, else from the networks' ``attribute_names`` /
    ``attribute_name`` attributes, else ``attr00``, ``attr01``, ... (then ``num_attributes``, or a
    probe call, fixes their count).
    """
    if isinstance(classifier, str):
        classifier = named_classifier(classifier)
    if isinstance(classifier, AttributeClassifier):
        parts = list(classifier.parts)
        found: Optional[list[str]] = list(classifier.names)
    elif isinstance(classifier, (list, tuple)):
        if not classifier:
            raise ValueError("the list of attribute classifiers is empty")
        parts = list(classifier)
        per = [_names_of(p) for p in parts]
        found = sum(per, []) if all(n is not None for n in per) else None
    elif callable(classifier):
        parts = [classifier]
        found = _names_of(classifier)
    else:
        raise TypeError(f"a classifier must be a callable images -> logits [N, A] or a list of them, "
                        f"got {type(classifier).__name__}")
    for k, p in enumerate(parts):
        if not callable(p):
            raise TypeError(f"classifier {k} ({type(p).__name__}) is not callable")
    if attribute_names is not None:
        names = [str(n) for n in attribute_names]
    elif found is not None:
        names = found
    elif num_attributes is not None:
        names = [f"attr{i:02d}" for i in range(num_attributes)]
    else:
        names = []  # filled by :func:`infer_names` after the first call
    return AttributeClassifier(parts, names)


def infer_names(clf: AttributeClassifier, logits_dim: int) -> None:
    """Give an unnamed classifier default names once its output width is known."""
    if not clf.names:
        clf.names[:] = [f"attr{i:02d}" for i in range(logits_dim)]
