"""Draw skeleton sequences: a strip of frames (PNG) or an animation (GIF).

Front view (x right, y up) of the preprocessed coordinates, one colour per
body, bones from the joint layout, an optional title (e.g. the predicted
label). The coordinates are drawn as preprocessed: every body centred on
its own spine-shoulder joint, so two people overlap in the picture.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pgfa.data.layouts import get_layout
from pgfa.io import atomic_write

BODY_COLOURS = ("tab:blue", "tab:orange")


def _limits(seq: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    present = np.abs(seq).sum(axis=(0, 1, 2)) > 0  # bodies that are there
    xy = seq[:2][..., present].reshape(2, -1)
    lo, hi = xy.min(axis=1), xy.max(axis=1)
    pad = 0.1 * max(float((hi - lo).max()), 1e-3)
    return (lo[0] - pad, hi[0] + pad), (lo[1] - pad, hi[1] + pad)


def _draw(ax, frame: np.ndarray, bones, xlim, ylim) -> None:
    """``frame``: ``(3, V, M)``."""
    for m in range(frame.shape[-1]):
        if not frame[..., m].any():
            continue
        x, y = frame[0, :, m], frame[1, :, m]
        for child, parent in bones:
            ax.plot([x[child], x[parent]], [y[child], y[parent]], color=BODY_COLOURS[m % 2], lw=2)
        ax.scatter(x, y, s=8, color="black", zorder=3)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")


def render_sequence(seq: np.ndarray, layout: str, out: str | Path, title: str = "",
                    panels: int = 8, size: float = 2.0, fps: int = 15) -> Path:
    """Render one ``(3, T, V, M)`` sequence to ``out`` (``.png``: ``panels`` frames in a row; ``.gif``: all frames)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import animation

    out = Path(out)
    bones = get_layout(layout).bones
    xlim, ylim = _limits(seq)
    T = seq.shape[1]
    if out.suffix.lower() == ".png":
        frames = np.linspace(0, T - 1, min(panels, T)).round().astype(int)
        fig, axes = plt.subplots(1, len(frames), figsize=(size * len(frames), size * 1.3))
        for ax, t in zip(np.atleast_1d(axes), frames):
            _draw(ax, seq[:, t], bones, xlim, ylim)
            ax.set_title(f"t={t}", fontsize=8)
        if title:
            fig.suptitle(title, fontsize=10)
        atomic_write(out, lambda p: fig.savefig(p, format="png", dpi=100))
        plt.close(fig)
        return out
    if out.suffix.lower() != ".gif":
        raise ValueError(f"{out}: give a .png or .gif output")
    fig, ax = plt.subplots(figsize=(size * 1.5, size * 1.8))

    def update(t):
        ax.clear()
        _draw(ax, seq[:, t], bones, xlim, ylim)
        ax.set_title(f"{title}\nframe {t + 1}/{T}" if title else f"frame {t + 1}/{T}", fontsize=9)

    anim = animation.FuncAnimation(fig, update, frames=T)
    atomic_write(out, lambda p: anim.save(p, writer=animation.PillowWriter(fps=fps)))
    plt.close(fig)
    return out
