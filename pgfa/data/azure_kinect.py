"""Azure Kinect / Orbbec Femto body tracking JSON (32 joints, millimetres) -> joints.

The format is the one written by the Body Tracking SDK's
``offline_processor`` (Orbbec's Azure Kinect wrapper writes the same)::

    {"joint_names": ["PELVIS", ...],            # optional; checked when present
     "frames": [{"timestamp_usec": 0,
                 "bodies": [{"body_id": 1,
                             "joint_positions": [[x, y, z], ... 32 rows]}, ...]},
                ...]}

Coordinates are depth-camera millimetres, x right, y down, z forward; the
``azure_kinect_32`` source layout turns them to metres and y up (a 180 degree
turn about z, which gives the Kinect v2 / NTU camera frame). Bodies keep one
slot per ``body_id`` in order of first appearance (at most ``max_bodies``); a
frame where a body is not tracked is zeros in its slot. Times come from
``timestamp_usec``; without them the frame rate must be given.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pgfa.data.layouts import AZURE_KINECT_32
from pgfa.data.recording import DataError, Recording, frame_times


def load_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None


def is_azure_kinect(content: object) -> bool:
    """Whether parsed JSON looks like body-tracking output (frames with ``bodies``)."""
    frames = content.get("frames") if isinstance(content, dict) else None
    return isinstance(frames, list) and any(isinstance(f, dict) and "bodies" in f for f in frames)


def _check_names(path: Path, names: object) -> None:
    if names is None:
        return
    expected = [n.upper() for n in AZURE_KINECT_32.joints]
    got = [str(n).upper() for n in names] if isinstance(names, list) else []
    if got != expected:
        missing = [n for n in expected if n not in got]
        raise DataError(f"{path}: joint_names differ from the 32 Azure Kinect joints"
                        + (f" (missing: {', '.join(missing)})" if missing else " (order differs)"))


def _body_points(path: Path, t: int, body: object) -> tuple[object, np.ndarray]:
    where = f"{path}: frame {t}"
    if not isinstance(body, dict) or "joint_positions" not in body:
        raise DataError(f"{where}: a body without 'joint_positions'")
    try:
        points = np.asarray(body["joint_positions"], dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: body {body.get('body_id')}: joint_positions are not numbers") from None
    if points.ndim != 2 or points.shape[1] != 3:
        raise DataError(f"{where}: body {body.get('body_id')}: joint_positions must be rows of x, y, z")
    if len(points) != AZURE_KINECT_32.num_joints:
        missing = ", ".join(AZURE_KINECT_32.joints[len(points):]) if len(points) < 32 else ""
        raise DataError(f"{where}: body {body.get('body_id')}: {len(points)} joints, Azure Kinect body tracking "
                        f"gives 32" + (f" (missing: {missing})" if missing else ""))
    if not np.isfinite(points).all():
        raise DataError(f"{where}: body {body.get('body_id')}: NaN or infinite coordinates")
    return body.get("body_id", 0), points


def read_azure_kinect(path: str | Path, rate: float | None = None, max_bodies: int = 2) -> Recording:
    """Read a body-tracking JSON file into a :class:`Recording` (metres, y up, up to ``max_bodies`` bodies)."""
    path = Path(path)
    content = load_json(path)
    if not is_azure_kinect(content):
        raise DataError(f"{path}: expected Azure Kinect body tracking JSON ({{'frames': [{{'bodies': ...}}]}})")
    _check_names(path, content.get("joint_names"))
    frames = content["frames"]
    slots: dict[object, int] = {}
    points = np.zeros((max_bodies, len(frames), AZURE_KINECT_32.num_joints, 3))
    stamps = []
    for t, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise DataError(f"{path}: frame {t} is not an object")
        stamps.append(frame.get("timestamp_usec"))
        for body in frame.get("bodies") or []:
            body_id, xyz = _body_points(path, t, body)
            slot = slots.setdefault(body_id, len(slots))
            if slot < max_bodies:
                points[slot, t] = xyz
    if not frames:
        raise DataError(f"{path}: no frames")
    if rate is not None or any(s is None for s in stamps):
        if rate is None:
            raise DataError(f"{path}: frames without timestamp_usec; give the frame rate (--fps)")
        times = frame_times(len(frames), rate, str(path))
    else:
        times = (np.asarray(stamps, dtype=np.float64) - float(stamps[0])) * 1e-6
        if len(times) > 1 and np.any(np.diff(times) <= 0):
            bad = int(np.argmax(np.diff(times) <= 0)) + 1
            raise DataError(f"{path}: frame {bad}: timestamp_usec does not increase")
    used = max(1, min(len(slots), max_bodies))
    points = points[:used] * 1e-3 * np.asarray(AZURE_KINECT_32.flip)
    return Recording(points, AZURE_KINECT_32.joints, times, AZURE_KINECT_32.name, str(path))
