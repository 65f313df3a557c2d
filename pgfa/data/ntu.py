"""Reader for raw NTU RGB+D 60/120 ``.skeleton`` files (Kinect v2, 25 joints).

File names are ``SsssCcccPpppRrrrAaaa.skeleton``: setup, camera, performer,
replication and the 1-based action. The text holds the frame count, then per
frame the body count and, per body, an info line, the joint count (25) and
one line per joint whose first three numbers are x, y, z in metres.

Bodies are kept *in file order within each frame* (the reference pipeline,
SPEC section 2): slot m of frame t is the m-th body listed in that frame.
Every problem raises :class:`~pgfa.data.errors.DataError` naming the file
and the line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pgfa.data.errors import DataError

NTU_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
NTU_JOINTS = 25
NTU120_ACTIONS = 120


@dataclass
class NtuSample:
    """One raw NTU sequence.

    Attributes:
        keypoints: ``(M, T, 25, 3)`` float32 camera-space joints; slots of
            frames with fewer bodies are zero.
        action: 0-based class index (file ``A001`` is 0).
        setup, camera, performer, replication: from the file name.
        bodies_per_frame: ``(T,)`` number of bodies the file lists per frame.
    """

    keypoints: np.ndarray
    action: int
    setup: int
    camera: int
    performer: int
    replication: int
    bodies_per_frame: np.ndarray


def parse_ntu_name(path: str | Path) -> tuple[int, int, int, int, int]:
    """``(setup, camera, performer, replication, action 1-based)`` from a file name."""
    match = NTU_NAME.search(Path(path).name)
    if match is None:
        raise DataError(f"{path}: file name is not of the NTU form SsssCcccPpppRrrrAaaa.skeleton")
    setup, camera, performer, replication, action = (int(g) for g in match.groups())
    if not 1 <= action <= NTU120_ACTIONS:
        raise DataError(f"{path}: unknown action id A{action:03d} (NTU RGB+D has A001-A{NTU120_ACTIONS})")
    return setup, camera, performer, replication, action


def read_ntu_skeleton(path: str | Path, max_bodies: int = 2) -> NtuSample:
    """Parse one ``.skeleton`` file; see the module docstring for the rules."""
    path = Path(path)
    setup, camera, performer, replication, action = parse_ntu_name(path)
    lines = path.read_text(encoding="ascii", errors="replace").split("\n")
    cursor = 0

    def next_fields(what: str) -> list[str]:
        nonlocal cursor
        while cursor < len(lines) and not lines[cursor].strip():
            cursor += 1
        if cursor >= len(lines):
            raise DataError(f"{path}: file ends early (line {cursor + 1}): expected {what}; truncated file?")
        cursor += 1
        return lines[cursor - 1].split()

    def next_int(what: str) -> int:
        fields = next_fields(what)
        if len(fields) != 1 or not fields[0].isdigit():
            raise DataError(f"{path}: line {cursor}: expected {what} (one integer), got {' '.join(fields)[:60]!r}")
        return int(fields[0])

    frames = next_int("the frame count")
    if frames == 0:
        raise DataError(f"{path}: zero frames")
    if frames > len(lines):  # each frame needs a line: never allocate what the file cannot hold
        raise DataError(f"{path}: line {cursor}: header claims {frames} frames but the file has only "
                        f"{len(lines)} lines; corrupt or truncated file?")
    keypoints = np.zeros((max_bodies, frames, NTU_JOINTS, 3), dtype=np.float32)
    bodies_per_frame = np.zeros(frames, dtype=np.int64)
    for t in range(frames):
        bodies = next_int(f"the body count of frame {t + 1}")
        bodies_per_frame[t] = bodies
        for m in range(bodies):
            info = next_fields(f"the info line of body {m + 1} in frame {t + 1}")
            if len(info) != 10:
                raise DataError(f"{path}: line {cursor}: body info line has {len(info)} values, expected 10")
            joints = next_int(f"the joint count of body {m + 1} in frame {t + 1}")
            if joints != NTU_JOINTS:
                raise DataError(f"{path}: line {cursor}: body has {joints} joints, expected {NTU_JOINTS}")
            for v in range(joints):
                fields = next_fields(f"joint {v + 1} of body {m + 1} in frame {t + 1}")
                try:
                    xyz = [float(x) for x in fields[:3]]
                except ValueError:
                    xyz = []
                if len(xyz) != 3 or len(fields) < 3:
                    raise DataError(f"{path}: line {cursor}: joint line does not start with three numbers")
                if not np.isfinite(xyz).all():
                    raise DataError(f"{path}: line {cursor}: NaN or infinite coordinate")
                if m < max_bodies:
                    keypoints[m, t, v] = xyz
    return NtuSample(keypoints, action - 1, setup, camera, performer, replication, bodies_per_frame)
