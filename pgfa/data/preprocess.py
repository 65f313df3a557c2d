"""Sequence normalisation of SPEC section 2: centre, resample to T frames, rotate.

Every source that is not already preprocessed (raw files, pyskl pickles, the
synthetic generator) goes through :func:`preprocess_sequence`, so a model sees
the same kind of input whatever the data came from.
"""
from __future__ import annotations

import numpy as np

from pgfa.data.layouts import Layout, get_layout


def resample_frames(seq: np.ndarray, frames: int) -> np.ndarray:
    """Linearly interpolate ``seq`` ``(T, ...)`` along time to ``frames`` frames."""
    t = seq.shape[0]
    if t == frames:
        return seq.copy()
    if t == 1:
        return np.repeat(seq, frames, axis=0)
    pos = np.linspace(0.0, t - 1, frames)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo).reshape((-1,) + (1,) * (seq.ndim - 1))
    return (1.0 - w) * seq[lo] + w * seq[hi]


def rotate_shoulders_to_x(body: np.ndarray, shoulders: tuple[int, int]) -> np.ndarray:
    """Rotate every frame of ``body`` ``(T, V, 3)`` about the vertical (y) axis so
    that the left-to-right shoulder vector, with y ignored, points along +x."""
    left, right = shoulders
    vec = body[:, right] - body[:, left]  # (T, 3)
    angle = np.arctan2(vec[:, 2], vec[:, 0])  # angle of the shoulder line in the x-z plane
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x, y, z = body[..., 0], body[..., 1], body[..., 2]
    out = np.empty_like(body)
    out[..., 0] = x * cos + z * sin
    out[..., 1] = y
    out[..., 2] = -x * sin + z * cos
    return out


def preprocess_sequence(
    keypoints: np.ndarray,
    layout: str | Layout,
    frames: int = 50,
    center: bool = True,
    rotate: bool = True,
) -> np.ndarray:
    """Turn one raw sequence into the model's input format.

    Args:
        keypoints: ``(M, T, V, 3)`` camera-space coordinates; an absent body,
            or a frame where a body is untracked, is all zeros.
        layout: joint layout (gives the centre and shoulder joints).
        frames: output length T (SPEC: 50).
        center: subtract each body's centre joint in every frame.
        rotate: rotate each body's shoulder line onto the x axis per frame.

    Returns:
        ``(3, frames, V, M)`` float32.

    Valid frames are those where body 0's joint 0 is non-zero (SPEC 2.2); only
    they are resampled. Bodies that are zero in every valid frame stay zero.
    """
    layout = get_layout(layout)
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 4 or kp.shape[-1] != 3:
        raise ValueError(f"keypoints must be (M, T, V, 3), got {kp.shape}")
    if kp.shape[2] != layout.num_joints:
        raise ValueError(
            f"keypoints have {kp.shape[2]} joints, layout {layout.name} has {layout.num_joints}"
        )
    if not np.isfinite(kp).all():
        raise ValueError("keypoints contain NaN or infinite values")
    valid = np.any(kp[0, :, 0] != 0, axis=-1)
    if not valid.any():
        raise ValueError("sequence has no valid frame (body 0 is all zeros)")
    kp = kp[:, valid]
    m = kp.shape[0]
    out = np.zeros((m, frames, layout.num_joints, 3))
    for b in range(m):
        body = kp[b]
        present = np.any(body != 0, axis=(1, 2))  # frames where this body is tracked
        if not present.any():
            continue
        if center:
            body = np.where(present[:, None, None], body - body[:, layout.center : layout.center + 1], 0.0)
        body = resample_frames(body, frames)
        if rotate:
            body = rotate_shoulders_to_x(body, layout.shoulders)
        out[b] = body
    return np.ascontiguousarray(out.transpose(3, 1, 2, 0), dtype=np.float32)
