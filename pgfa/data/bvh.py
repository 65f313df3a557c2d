"""BVH motion capture (Vicon, OptiTrack, Xsens, Rokoko, Mixamo...): hierarchy + motion -> joints.

A ``.bvh`` file has a ``HIERARCHY`` (``ROOT``/``JOINT`` blocks, each with an
``OFFSET`` from its parent and ``CHANNELS n name...``; ``End Site`` blocks
with only an offset) and a ``MOTION`` section (``Frames: N``, ``Frame Time:
dt``, then one line of all channel values per frame, in hierarchy order).

Forward kinematics, per joint, in the order its channels are declared: the
rotation channels ``Zrotation Xrotation Yrotation`` give the local rotation
``Rz Rx Ry`` (column vectors; the last listed is applied first), any order
of X/Y/Z allowed; position channels, where a joint has them (the root),
give its local position in place of its offset (Blender's convention; the
usual root offset is zero anyway). Global: ``R = R_parent R_local``,
``p = p_parent + R_parent local_position``. End sites are returned as
joints named ``<parent>_End``.

Units: BVH files say nothing; the rest pose's size tells (a person is about
1.7 m: its extent in file units picks metres, centimetres, millimetres or
inches), or ``units`` overrides. Axes: y up, right-handed (the BVH norm).
Frame rate: ``1 / Frame Time``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pgfa.data.asf_amc import rotation
from pgfa.data.recording import DataError, Recording, frame_times

UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254}
_POSITION = {"Xposition": "x", "Yposition": "y", "Zposition": "z"}
_ROTATION = {"Xrotation": "x", "Yrotation": "y", "Zrotation": "z"}


@dataclass
class BvhJoint:
    name: str
    parent: int  # -1 for the root
    offset: np.ndarray
    channels: tuple[str, ...] = ()
    line: int = 0
    end_site: bool = False


@dataclass
class BvhFile:
    """A parsed BVH: joints parents-first, ``motion`` ``(T, channels)`` in file units and degrees."""

    path: Path
    joints: list[BvhJoint] = field(default_factory=list)
    motion: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    frame_time: float = 0.0


def _check_channels(names: list[str], where: str, joint: str) -> tuple[str, ...]:
    unknown = [n for n in names if n not in _POSITION and n not in _ROTATION]
    if unknown:
        raise DataError(f"{where}: joint {joint}: unknown channel(s) {unknown} "
                        "(expected X/Y/Z position and X/Y/Z rotation)")
    order = "".join(_ROTATION[n] for n in names if n in _ROTATION)
    if len(set(order)) != len(order):
        raise DataError(f"{where}: joint {joint}: unknown rotation order {order.upper()!r} "
                        "(each of X, Y, Z at most once)")
    return tuple(names)


def _parse_hierarchy(path: Path, lines: list[str]) -> tuple[list[BvhJoint], int]:
    """Joints from the HIERARCHY lines; returns them and the index of the MOTION line."""
    joints: list[BvhJoint] = []
    stack: list[int] = []
    pending: BvhJoint | None = None
    for i, line in enumerate(lines):
        words, where = line.split(), f"{path}:{i + 1}"
        if not words or words[0] == "HIERARCHY":
            continue
        key = words[0]
        if key == "MOTION":
            if stack or pending is not None:
                raise DataError(f"{where}: MOTION before the hierarchy's braces are closed")
            return joints, i
        if key in ("ROOT", "JOINT") or (key == "End" and words[1:2] == ["Site"]):
            end = key == "End"
            parent = stack[-1] if stack else -1
            if (key == "ROOT") != (parent == -1) and not end:
                raise DataError(f"{where}: {key} {' '.join(words[1:])} in the wrong place")
            name = f"{joints[parent].name}_End" if end else " ".join(words[1:])
            pending = BvhJoint(name or f"joint{len(joints)}", parent, np.zeros(3), line=i + 1, end_site=end)
        elif key == "{":
            if pending is None:
                raise DataError(f"{where}: '{{' without a joint")
            joints.append(pending)
            stack.append(len(joints) - 1)
            pending = None
        elif key == "}":
            if not stack:
                raise DataError(f"{where}: unmatched '}}'")
            stack.pop()
        elif key == "OFFSET":
            if not stack:
                raise DataError(f"{where}: OFFSET outside a joint")
            joints[stack[-1]].offset = _floats(words[1:4], where, "OFFSET", 3)
        elif key == "CHANNELS":
            if not stack:
                raise DataError(f"{where}: CHANNELS outside a joint")
            joint = joints[stack[-1]]
            count = _floats(words[1:2], where, "CHANNELS count", 1)[0]
            if count != len(words) - 2:
                raise DataError(f"{where}: joint {joint.name}: CHANNELS says {int(count)}, lists {len(words) - 2}")
            joint.channels = _check_channels(words[2:], where, joint.name)
        else:
            raise DataError(f"{where}: unexpected {key!r} in HIERARCHY")
    raise DataError(f"{path}: no MOTION section; is this a BVH file?")


def _floats(words: list[str], where: str, what: str, count: int) -> np.ndarray:
    if len(words) < count:
        raise DataError(f"{where}: {what} needs {count} number(s), got {len(words)}")
    try:
        return np.array([float(w) for w in words[:count]])
    except ValueError:
        raise DataError(f"{where}: {what}: not a number in {' '.join(words[:count])!r}") from None


def _parse_motion(path: Path, lines: list[str], start: int, channels: int) -> tuple[np.ndarray, float]:
    header = {}
    i = start + 1
    while i < len(lines) and len(header) < 2:
        key, _, value = lines[i].partition(":")
        if key.strip() in ("Frames", "Frame Time"):
            header[key.strip()] = _floats(value.split(), f"{path}:{i + 1}", key.strip(), 1)[0]
        elif lines[i].strip():
            raise DataError(f"{path}:{i + 1}: expected 'Frames:' and 'Frame Time:' after MOTION")
        i += 1
    if len(header) < 2:
        raise DataError(f"{path}: MOTION lacks 'Frames:' or 'Frame Time:'")
    rows = []
    for j in range(i, len(lines)):
        words = lines[j].split()
        if not words:
            continue
        if len(words) != channels:
            raise DataError(f"{path}:{j + 1}: frame {len(rows)}: {len(words)} values, the hierarchy has "
                            f"{channels} channels")
        rows.append(_floats(words, f"{path}:{j + 1}", f"frame {len(rows)}", channels))
    if len(rows) != int(header["Frames"]):
        raise DataError(f"{path}: 'Frames: {int(header['Frames'])}' but {len(rows)} frame lines")
    if not rows:
        raise DataError(f"{path}: no frames")
    return np.stack(rows), float(header["Frame Time"])


def read_bvh_file(path: str | Path) -> BvhFile:
    """Parse a BVH file (no kinematics yet); every problem names the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    joints, motion_line = _parse_hierarchy(path, lines)
    if not joints:
        raise DataError(f"{path}: no ROOT joint")
    motion, frame_time = _parse_motion(path, lines, motion_line, sum(len(j.channels) for j in joints))
    return BvhFile(path, joints, motion, frame_time)


def bvh_positions(bvh: BvhFile, motion: np.ndarray | None = None) -> np.ndarray:
    """Global positions ``(T, J, 3)`` in file units by forward kinematics (``motion`` default: the file's)."""
    motion = bvh.motion if motion is None else motion
    t = len(motion)
    positions, rotations = [], []
    column = 0
    for joint in bvh.joints:
        values = motion[:, column:column + len(joint.channels)]
        column += len(joint.channels)
        local = np.tile(joint.offset, (t, 1))
        axes, angles = "", []
        for k, name in enumerate(joint.channels):
            if name in _POSITION:
                local[:, "xyz".index(_POSITION[name])] = values[:, k]
            else:
                axes += _ROTATION[name]
                angles.append(np.deg2rad(values[:, k]))
        # the last-listed rotation is applied first: reverse for rotation()'s first-applied-first order
        r = rotation(np.stack(angles[::-1], axis=-1), axes[::-1]) if axes else np.broadcast_to(np.eye(3), (t, 3, 3))
        if joint.parent < 0:
            positions.append(local)
            rotations.append(r)
        else:
            rp = rotations[joint.parent]
            positions.append(positions[joint.parent] + np.einsum("tij,tj->ti", rp, local))
            rotations.append(rp @ r)
    return np.stack(positions, axis=1)


def guess_unit(bvh: BvhFile) -> float:
    """Metres per file unit from the rest pose's extent (a person is about 1.7 m)."""
    rest = bvh_positions(bvh, np.zeros((1, bvh.motion.shape[1])))[0]
    extent = float((rest.max(axis=0) - rest.min(axis=0)).max())
    if extent <= 0:
        raise DataError(f"{bvh.path}: the rest pose has no extent; give --units")
    return min(UNITS.values(), key=lambda u: abs(np.log(extent * u / 1.7)))


def _unit(bvh: BvhFile, units: str | float | None) -> float:
    if units in (None, "auto"):
        return guess_unit(bvh)
    if isinstance(units, str) and units in UNITS:
        return UNITS[units]
    try:
        value = float(units)
    except (TypeError, ValueError):
        raise DataError(f"{bvh.path}: units must be auto, {', '.join(UNITS)} or metres per unit, got {units!r}") from None
    if value <= 0:
        raise DataError(f"{bvh.path}: units must be positive, got {value}")
    return value


def read_bvh(path: str | Path, units: str | float | None = None, rate: float | None = None) -> Recording:
    """Read a BVH file into a :class:`Recording` (one body, metres, y up).

    Args:
        units: ``auto`` / ``None`` (from the rest pose's size), ``m``, ``cm``,
            ``mm``, ``in``, or metres per file unit.
        rate: frames per second; default ``1 / Frame Time``.
    """
    bvh = read_bvh_file(path)
    scale = _unit(bvh, units)
    if rate is None:
        if bvh.frame_time <= 0:
            raise DataError(f"{bvh.path}: Frame Time is {bvh.frame_time}; give the frame rate (--fps)")
        rate = 1.0 / bvh.frame_time
    points = bvh_positions(bvh) * scale
    times = frame_times(len(points), rate, str(bvh.path))
    return Recording(points[None], tuple(j.name for j in bvh.joints), times, "bvh", str(bvh.path))
