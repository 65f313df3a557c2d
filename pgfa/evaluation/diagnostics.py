"""After-the-fact checks of the alignment's premise, for reports only.

The paper argues that a prototype built from confident, mostly correctly
pseudo-labelled test samples lies nearer the class's true feature centre than
the class's text feature. These numbers test that on a finished evaluation.
They use the true test labels, so they are computed after prediction and are
never fed back into it.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pgfa.alignment.prototype import AlignmentResult
from pgfa.scoring import unit

__all__ = ["alignment_diagnostics"]


def alignment_diagnostics(features: torch.Tensor, text: torch.Tensor, targets: np.ndarray,
                          result: AlignmentResult, names: list[str]) -> dict:
    """Per class: how many samples it was predicted for, the pseudo-label precision
    of its support set, and the cosine of its text feature and its prototype to
    the true centroid of its test features."""
    f, t = unit(features), unit(text)
    y = torch.as_tensor(targets)
    per_class, nearer = {}, 0
    for k, name in enumerate(names):
        predicted = result.initial_labels == k
        support = result.support & predicted
        centroid = F.normalize(f[y == k].mean(0), dim=0) if (y == k).any() else None
        cos_text = float(t[k] @ centroid) if centroid is not None else None
        cos_proto = float(result.prototypes[k] @ centroid) if centroid is not None else None
        if cos_text is not None and support.any() and cos_proto > cos_text:
            nearer += 1
        per_class[name] = {
            "predicted": int(predicted.sum()),
            "support": int(support.sum()),
            "support_precision": float((y[support] == k).float().mean()) if support.any() else None,
            "cos_text_to_centroid": cos_text,
            "cos_prototype_to_centroid": cos_proto,
        }
    return {"classes_with_prototype_nearer_than_text": nearer, "per_class": per_class,
            "note": "uses true test labels after prediction; never used to predict or select"}
