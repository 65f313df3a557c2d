"""Accuracy metrics over test samples (SPEC section 8)."""
from __future__ import annotations

import numpy as np


def topk_accuracy(scores: np.ndarray, targets: np.ndarray, k: int = 1) -> float:
    """Fraction of samples whose target is among the ``k`` highest scores.

    ``scores`` ``(N, K)``, ``targets`` ``(N,)`` positions into the K columns.
    Counted over samples, not averaged over batches.
    """
    if len(targets) == 0:
        return float("nan")
    k = min(k, scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == targets[:, None]).any(axis=1).mean())


def confusion_matrix(targets: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """``(K, K)`` counts, row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (targets, predictions), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray) -> np.ndarray:
    """Recall of every class from a confusion matrix (NaN for a class with no sample)."""
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)
