"""Zero-shot scoring in one place: encode samples, score them against class texts.

Every figure pgfa reports (seen validation during training, the two-stage
baseline's selection, zero-shot, GZSL and one-shot evaluation, alignment
tuning, prediction) is a *cosine* between skeleton features and text features
of some classes, with each sample's true class given as a *position* among
those classes. These functions are the only implementation of that, so every
caller scores in the same way, bit for bit.

``inputs`` arguments are :class:`pgfa.run.RunInputs` (anything with
``skeletons.data``, ``skeletons.labels``, ``text_features`` and ``split``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from pgfa.data.formats import read_rows

__all__ = ["encode", "unit", "cosine_scores", "class_positions", "ClassTask", "class_task", "unseen_task",
           "seen_validation", "validation_scores"]


@torch.no_grad()
def encode(model: torch.nn.Module, data: np.ndarray, indices: np.ndarray | None = None,
           device: torch.device | str = "cpu", batch_size: int = 256, on_device: bool = False) -> torch.Tensor:
    """Model outputs ``(len(indices), D)`` of ``data[indices]`` in batches, evaluation mode, float32.

    ``data``: ``(N, C, T, V, M)``; a memory map is read with positional reads
    (:func:`pgfa.data.formats.read_rows`), so encoding all of NTU-120 does
    not leave its 3.4 GB of file pages in this process's resident memory.
    ``indices`` default to all of it. The features are gathered on the device
    and copied to the CPU once at the end unless ``on_device``; an empty
    ``indices`` gives ``torch.zeros(0)``. The model is left in evaluation mode.
    """
    model.eval()
    indices = np.arange(len(data)) if indices is None else indices
    out = []
    for start in range(0, len(indices), batch_size):
        batch = torch.from_numpy(read_rows(data, indices[start : start + batch_size])).to(device)
        out.append(model(batch).float())
    if not out:
        return torch.zeros(0)
    features = torch.cat(out)
    return features if on_device else features.cpu()


def unit(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` scaled to unit length (float32)."""
    return F.normalize(torch.as_tensor(x).float(), dim=-1)


def cosine_scores(features: torch.Tensor, text: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """``(N, K)`` cosine of every feature ``(N, D)`` to every text feature ``(K, D)``, times ``scale`` if given.

    With ``scale`` these are the logits of the contrastive loss (SPEC 6).
    """
    f, t = unit(features), unit(text)
    return (f if scale is None else scale * f) @ t.t()


def class_positions(classes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``(N,)`` int64 position of each label among ``classes`` (the columns of a score matrix).

    Raises ``ValueError`` naming any label that is not one of ``classes``.
    """
    classes = np.asarray(classes, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    size = int(max(classes.max(initial=-1), labels.max(initial=-1))) + 1
    lookup = np.full(size, -1, dtype=np.int64)
    lookup[classes] = np.arange(len(classes))
    positions = lookup[labels]
    if (positions < 0).any():
        missing = sorted({int(y) for y in labels[positions < 0]})
        raise ValueError(f"label(s) {missing} are not among the classes scored ({classes.tolist()})")
    return positions


@dataclass
class ClassTask:
    """Samples to recognise among some classes, ready to score.

    Attributes:
        features: ``(N, D)`` model outputs of the samples (not normalised, CPU).
        targets: ``(N,)`` true class positions into ``classes``.
        text: ``(K, D)`` text features of ``classes``.
        classes: ``(K,)`` class indices of the dataset.
        indices: ``(N,)`` dataset indices of the samples.
    """

    features: torch.Tensor
    targets: np.ndarray
    text: torch.Tensor
    classes: np.ndarray
    indices: np.ndarray


def class_task(model: torch.nn.Module, inputs, indices: np.ndarray, classes: np.ndarray, device) -> ClassTask:
    """Encode ``indices`` of a run's data and pair them with the text features of ``classes``."""
    features = encode(model, inputs.skeletons.data, indices, device)
    targets = class_positions(classes, inputs.skeletons.labels[indices])
    return ClassTask(features, targets, torch.from_numpy(inputs.text_features[classes]), np.asarray(classes), indices)


def unseen_task(model: torch.nn.Module, inputs, device) -> ClassTask:
    """The zero-shot task of a run: its unseen test samples among its unseen classes."""
    split = inputs.split
    return class_task(model, inputs, split.unseen_test, split.unseen_classes, device)


def validation_scores(logits: torch.Tensor, target: torch.Tensor) -> dict:
    """The two figures every model selection in pgfa compares: ``val_top1`` and ``val_loss``."""
    return {"val_top1": float((logits.argmax(1) == target).float().mean()),
            "val_loss": float(F.cross_entropy(logits, target))}


def seen_validation(model: torch.nn.Module, inputs, device, scale: float, indices: np.ndarray | None = None) -> dict:
    """Top-1 and cross-entropy of seen-class samples against the seen-class texts only.

    ``indices`` default to the seen-validation samples (what selection uses);
    diagnostics may pass other seen-class samples, e.g. the training ones.
    ``{}`` when there are none.
    """
    split = inputs.split
    indices = split.val if indices is None else indices
    if len(indices) == 0:
        return {}
    features = encode(model, inputs.skeletons.data, indices, device, on_device=True)  # scored on the device
    text = torch.from_numpy(inputs.text_features[split.seen_classes]).to(features.device)
    target = torch.from_numpy(class_positions(split.seen_classes, inputs.skeletons.labels[indices]))
    return validation_scores(cosine_scores(features, text, scale), target.to(features.device))
