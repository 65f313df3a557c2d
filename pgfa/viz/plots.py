"""Figures a person would rather look at than read."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pgfa.io import atomic_write


def plot_confusion(matrix: np.ndarray, names: list[str], path: str | Path, title: str) -> Path:
    """Row-normalised confusion matrix as a PNG (counts written in the cells)."""
    plt = _pyplot()
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
    return _save(fig, path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    _pyplot().close(fig)
    return Path(path)


def plot_per_class(names: list[str], plain: np.ndarray, aligned: np.ndarray | None, counts: np.ndarray,
                   path: str | Path, title: str) -> Path:
    """Per-class top-1, text features vs alignment, side by side (n test samples under each name)."""
    plt = _pyplot()
    k = len(names)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * k + 2), 3.8))
    x = np.arange(k)
    width = 0.4 if aligned is not None else 0.8
    ax.bar(x - (width / 2 if aligned is not None else 0), 100 * plain, width, label="text features", color="#8fb4d9")
    if aligned is not None:
        ax.bar(x + width / 2, 100 * aligned, width, label="aligned", color="#2b6aa6")
    ax.set_xticks(x, [f"{n[:24]}\n(n={c})" for n, c in zip(names, counts)], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("top-1 (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def pca_2d(points: np.ndarray) -> np.ndarray:
    """First two principal components (deterministic sign: largest loading positive)."""
    centred = points - points.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    axes *= np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])[:, None]
    return centred @ axes.T


def plot_feature_map(features: np.ndarray, targets: np.ndarray, text: np.ndarray, prototypes: np.ndarray | None,
                     names: list[str], path: str | Path, title: str) -> Path:
    """PCA of unit test features (coloured by true class) with text features (stars) and prototypes (crosses).

    PCA rather than t-SNE: it is deterministic, needs no extra dependency, and
    keeps the distances between a class's samples, its text feature and its
    prototype comparable, which is what the picture is for.
    """
    plt = _pyplot()

    def unit(a):
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    stacked = [unit(features), unit(text)] + ([unit(prototypes)] if prototypes is not None else [])
    coords = pca_2d(np.concatenate(stacked))
    n, k = len(features), len(text)
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    colours = plt.get_cmap("tab20" if k > 10 else "tab10")
    for c in range(k):
        pts = coords[:n][targets == c]
        ax.scatter(pts[:, 0], pts[:, 1], s=10, alpha=0.6, color=colours(c % 20), label=names[c][:24])
        ax.scatter(*coords[n + c], marker="*", s=220, color=colours(c % 20), edgecolor="black", linewidth=0.8)
        if prototypes is not None:
            ax.scatter(*coords[n + k + c], marker="X", s=120, color=colours(c % 20), edgecolor="black", linewidth=0.8)
    ax.set_title(title + "\n(dots: test samples by true class; ★ text feature; ✖ prototype)", fontsize=9)
    ax.legend(fontsize=6, loc="best", ncol=2 if k > 8 else 1)
    ax.set_xticks([])
    ax.set_yticks([])
    return _save(fig, path)


def plot_summary(results: dict, path: str | Path) -> Path:
    """Mean ± sd top-1 per split and method, text features vs aligned (a reproduction's headline)."""
    plt = _pyplot()
    splits = [s["name"] for s in results["splits"]]
    methods = results["methods"]
    bars = [(m, key) for m in methods for key in ("top1", "top1_aligned")]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(splits) + 2), 3.8))
    width = 0.8 / len(bars)
    for b, (method, key) in enumerate(bars):
        means, stds = [], []
        for name in splits:
            s = results["summary"][method]["per_split"][name][key]
            means.append(100 * s["mean"] if s else 0.0)
            stds.append(100 * s["std"] if s else 0.0)
        label = f"{method}, {'aligned' if key.endswith('aligned') else 'text features'}"
        ax.bar(np.arange(len(splits)) + (b - (len(bars) - 1) / 2) * width, means, width, yerr=stds,
               capsize=2, label=label)
    chance = [100 / len(s["unseen_classes"]) for s in results["splits"]]
    ax.scatter(np.arange(len(splits)), chance, marker="_", s=400, color="black", label="chance", zorder=3)
    ax.set_xticks(np.arange(len(splits)), splits, fontsize=8)
    ax.set_ylabel("unseen top-1 (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    ax.set_title(f"setting {results['setting']}: mean ± sd over seeds {results['seeds']}", fontsize=10)
    return _save(fig, path)


def plot_alignment_premise(rows: list[dict], path: str | Path) -> Path:
    """Support precision vs how much nearer the true centroid the prototype is than the text feature."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.8))
    x = np.array([r["support_precision"] for r in rows])
    y = np.array([r["gain"] for r in rows])
    ax.scatter(x, y, s=14, alpha=0.7)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("support-set pseudo-label precision")
    ax.set_ylabel("cos(prototype, centroid) − cos(text, centroid)")
    ax.set_title("alignment premise, one dot per unseen class and run", fontsize=9)
    return _save(fig, path)
