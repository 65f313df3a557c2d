"""Figures a person would rather look at than read."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pgfa.io import atomic_write


def plot_confusion(matrix: np.ndarray, names: list[str], path: str | Path, title: str) -> Path:
    """Row-normalised confusion matrix as a PNG (counts written in the cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(names)
    size = max(4.0, 0.45 * k + 2.5)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    totals = matrix.sum(axis=1, keepdims=True)
    norm = np.divide(matrix, np.maximum(totals, 1))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), [n[:28] for n in names], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), [n[:28] for n in names], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)
    return Path(path)
