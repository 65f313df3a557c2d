"""Reader for PKU-MMD (phase 1) skeleton and label files.

A skeleton file is one untrimmed video: one line per frame with 150 numbers
(2 bodies x 25 Kinect v2 joints x xyz). A label file with the same name lists
the action instances as ``action, start, end, confidence`` rows (1-based
action id of 51, frame numbers). Samples are cut out of the video by those
rows; clips longer than 300 frames are centre-cropped to 300 (SPEC section 2).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pgfa.data.errors import DataError

PKU_ACTIONS = 51
PKU_VALUES_PER_FRAME = 150
PKU_MAX_FRAMES = 300


def read_pku_skeleton(path: str | Path) -> np.ndarray:
    """``(T, 2, 25, 3)`` float32 from one PKU-MMD skeleton file."""
    path = Path(path)
    frames = []
    for lineno, line in enumerate(path.read_text(encoding="ascii", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = [float(v) for v in line.split()]
        except ValueError:
            raise DataError(f"{path}: line {lineno}: not a row of numbers") from None
        if len(values) != PKU_VALUES_PER_FRAME:
            raise DataError(f"{path}: line {lineno}: {len(values)} values, expected {PKU_VALUES_PER_FRAME} "
                            "(2 bodies x 25 joints x 3)")
        frames.append(values)
    if not frames:
        raise DataError(f"{path}: zero frames")
    array = np.asarray(frames, dtype=np.float32).reshape(len(frames), 2, 25, 3)
    if not np.isfinite(array).all():
        bad = int(np.argmax(~np.isfinite(array).reshape(len(frames), -1).all(axis=1)))
        raise DataError(f"{path}: frame {bad + 1}: NaN or infinite coordinate")
    return array


def read_pku_labels(path: str | Path, num_frames: int) -> list[tuple[int, int, int, float]]:
    """Rows ``(action 0-based, start, end, confidence)``; checked against the video length."""
    path = Path(path)
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="ascii", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        try:
            action, start, end = (int(float(f)) for f in fields[:3])
            confidence = float(fields[3]) if len(fields) > 3 else 1.0
        except (ValueError, IndexError):
            raise DataError(f"{path}: line {lineno}: expected 'action, start, end, confidence', got {line.strip()!r}") from None
        if not 1 <= action <= PKU_ACTIONS:
            raise DataError(f"{path}: line {lineno}: unknown action id {action} (PKU-MMD has 1-{PKU_ACTIONS})")
        if not 0 <= start <= end < num_frames:
            raise DataError(f"{path}: line {lineno}: frames {start}-{end} lie outside the sequence of {num_frames} frames")
        rows.append((action - 1, start, end, confidence))
    return rows


def cut_pku_clips(skeleton: np.ndarray, rows: list[tuple[int, int, int, float]]) -> list[np.ndarray]:
    """One ``(2, T, 25, 3)`` clip per label row, centre-cropped to 300 frames."""
    clips = []
    for _, start, end, _ in rows:
        clip = skeleton[start : end + 1]
        if len(clip) > PKU_MAX_FRAMES:
            offset = (len(clip) - PKU_MAX_FRAMES) // 2
            clip = clip[offset : offset + PKU_MAX_FRAMES]
        clips.append(np.ascontiguousarray(clip.transpose(1, 0, 2, 3)))
    return clips
