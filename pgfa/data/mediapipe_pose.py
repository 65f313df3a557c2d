"""MediaPipe Pose world landmarks (33 points, metres) from JSON or CSV -> joints.

MediaPipe is not a dependency: ``docs/mediapipe_to_pgfa.py`` (a short script
to run where MediaPipe is installed) turns a video into one of these files.

JSON::

    {"format": "mediapipe_pose_world", "fps": 30.0,          # fps optional
     "frames": [{"time_s": 0.0,                             # optional
                 "landmarks": [[x, y, z, visibility], ... 33 rows]},   # or null: no person
                ...]}

``landmarks`` rows may also be objects ``{"x":, "y":, "z":, "visibility":}``.

CSV: a header line, then one line per frame; columns ``time_s`` (optional)
and ``<name>_x``, ``<name>_y``, ``<name>_z`` for the 33 landmark names of the
``mediapipe_pose_33`` layout (``<name>_visibility`` and other columns are
ignored); a line whose coordinates are empty means no person in that frame.

Coordinates: metres, origin between the hips, image axes (x right, y down, z
away from the camera); the source layout turns them to y up, and the hips are
put 1 m above the origin (see ``HIP_HEIGHT``). Times: from
``time_s``, else ``fps`` in the file, else the rate must be given.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from pgfa.data.azure_kinect import load_json
from pgfa.data.layouts import MEDIAPIPE_POSE_33
from pgfa.data.recording import DataError, Recording, frame_times

JOINTS = MEDIAPIPE_POSE_33.joints
# World landmarks have their origin between the hips, so NTU's spine base (the
# hips' mean) would be exactly zero, which SPEC 2.2 reads as "not tracked":
# the body is lifted by this much (y), a shift that centring removes again.
HIP_HEIGHT = 1.0


def is_mediapipe(content: object) -> bool:
    """Whether parsed JSON looks like this module's MediaPipe format (frames with ``landmarks``)."""
    frames = content.get("frames") if isinstance(content, dict) else None
    return isinstance(frames, list) and any(isinstance(f, dict) and "landmarks" in f for f in frames)


def _landmarks(path: Path, t: int, rows: object) -> np.ndarray:
    where = f"{path}: frame {t}"
    if rows is None:
        return np.zeros((len(JOINTS), 3))
    if not isinstance(rows, list):
        raise DataError(f"{where}: landmarks must be a list of {len(JOINTS)} points or null")
    if len(rows) != len(JOINTS):
        missing = f" (missing: {', '.join(JOINTS[len(rows):])})" if len(rows) < len(JOINTS) else ""
        raise DataError(f"{where}: {len(rows)} landmarks, MediaPipe Pose gives {len(JOINTS)}{missing}")
    try:
        xyz = np.array([[r["x"], r["y"], r["z"]] if isinstance(r, dict) else r[:3] for r in rows], dtype=np.float64)
    except (KeyError, TypeError, ValueError, IndexError):
        raise DataError(f"{where}: each landmark must be [x, y, z, ...] or {{'x', 'y', 'z'}}") from None
    if xyz.shape != (len(JOINTS), 3) or not np.isfinite(xyz).all():
        raise DataError(f"{where}: landmarks must be {len(JOINTS)} finite x, y, z points")
    return xyz


def _times(path: Path, stamps: list, fps: object, rate: float | None, count: int) -> np.ndarray:
    if rate is not None:
        return frame_times(count, rate, str(path))
    if stamps and all(s is not None for s in stamps):
        times = np.asarray(stamps, dtype=np.float64)
        if np.any(np.diff(times) <= 0):
            raise DataError(f"{path}: frame {int(np.argmax(np.diff(times) <= 0)) + 1}: time_s does not increase")
        return times - times[0]
    if fps is not None:
        return frame_times(count, float(fps), str(path))
    raise DataError(f"{path}: no time_s per frame and no fps; give the frame rate (--fps)")


def _read_json(path: Path) -> tuple[np.ndarray, list, object]:
    content = load_json(path)
    if not is_mediapipe(content):
        raise DataError(f"{path}: expected MediaPipe Pose JSON ({{'frames': [{{'landmarks': ...}}]}})")
    frames = content["frames"]
    points = np.stack([_landmarks(path, t, f.get("landmarks") if isinstance(f, dict) else "bad")
                       for t, f in enumerate(frames)])
    stamps = [f.get("time_s") for f in frames]
    return points, stamps, content.get("fps")


def _read_csv(path: Path) -> tuple[np.ndarray, list, object]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            header = rows[0].keys() if rows else []
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    missing = [j for j in JOINTS if any(f"{j}_{a}" not in header for a in "xyz")]
    if not rows or missing:
        raise DataError(f"{path}: " + (f"no columns for landmark(s) {', '.join(missing)} (need <name>_x, _y, _z)"
                                       if rows else "no frames"))
    points = np.zeros((len(rows), len(JOINTS), 3))
    stamps = []
    for t, row in enumerate(rows):
        cells = [row[f"{j}_{a}"] for j in JOINTS for a in "xyz"]
        stamps.append(row.get("time_s") or None)
        if all(c in ("", None) for c in cells):
            continue
        try:
            points[t] = np.array(cells, dtype=np.float64).reshape(len(JOINTS), 3)
        except (TypeError, ValueError):
            raise DataError(f"{path}:{t + 2}: frame {t}: a landmark coordinate is empty or not a number") from None
    stamps = [float(s) if s is not None else None for s in stamps]
    return points, stamps, None


def read_mediapipe(path: str | Path, rate: float | None = None) -> Recording:
    """Read MediaPipe world landmarks (``.json`` or ``.csv``) into a :class:`Recording` (one body, metres, y up)."""
    path = Path(path)
    points, stamps, fps = (_read_csv if path.suffix.lower() == ".csv" else _read_json)(path)
    if not len(points):
        raise DataError(f"{path}: no frames")
    times = _times(path, stamps, fps, rate, len(points))
    points = points * np.asarray(MEDIAPIPE_POSE_33.flip)
    present = np.any(points != 0, axis=(1, 2))
    points[present, :, 1] += HIP_HEIGHT
    return Recording(points[None], JOINTS, times, MEDIAPIPE_POSE_33.name, str(path))
