"""Acclaim ASF/AMC motion capture (Vicon; the CMU and HDM05 databases): skeleton + motion -> joints.

An ``.asf`` file describes one actor's skeleton: units, the root's channel
order and axis, and per bone its direction (in the global rest pose), length,
local axis (``axis ax ay az XYZ``: the bone's frame as rotations applied in
that order) and degrees of freedom (``dof rx ry rz``, a subset in any order).
An ``.amc`` file holds the motion: after ``:FULLY-SPECIFIED`` and
``:DEGREES`` (or ``:RADIANS``), per frame its number and one line per bone,
``name value ...`` in the order of that bone's ``dof`` (the root: its
``order``, translation and rotation).

Forward kinematics (the Acclaim convention, column vectors): a rotation built
from angles applied in a listed order a1, a2, a3 is ``R = R_a3 R_a2 R_a1``;
a bone's global rotation is ``R_parent C M C^-1`` with ``C`` from its
``axis`` and ``M`` from this frame's dof values; its end point is its start
(the parent's end, or the root position) plus ``length * R d`` for its rest
direction ``d``. The joints returned are the root and each bone's end point,
so ``lfemur``'s joint is the left knee (see the ``acclaim`` source layout).

Units: ASF ``:units length L`` means the file's lengths (and the AMC root
translation) are in units of ``1/L`` inches, Vicon's convention used by CMU
and HDM05 (HDM05: ``L = 0.45``); metres = value / L * 0.0254. Angles follow
``:units angle deg|rad`` in the ASF and ``:DEGREES``/``:RADIANS`` in the AMC.
Axes: y up, right-handed, as recorded (no change).

Frame rate: HDM05 names files ``HDM_<actor>_<motion>_<take>_<rate>.amc``, so
the rate comes from the name; other files (CMU: ``<subject>_<take>.amc``)
are taken as 120 Hz, the CMU and Vicon default, unless a rate is given.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pgfa.data.recording import DataError, Recording, frame_times

INCH = 0.0254
DEFAULT_RATE = 120.0
HDM05_NAME = re.compile(r"^(HDM_[A-Za-z0-9]+)_.+_(\d+)_(\d+)$")  # actor, take, rate
CMU_NAME = re.compile(r"^(\d+)_\d+$")  # subject, take
_AXES = {"x": 0, "y": 1, "z": 2}


@dataclass
class Bone:
    """One ASF bone: rest direction (unit, global), length (file units), axis frame, dof names."""

    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray  # (3,) angles in the ASF's angle unit
    axis_order: str  # e.g. "XYZ"
    dof: tuple[str, ...]  # e.g. ("rx", "ry", "rz")
    line: int = 0


@dataclass
class AsfSkeleton:
    """A parsed ASF file.

    Attributes:
        length_scale: metres per file length unit (``0.0254 / L``).
        degrees: whether the ASF's angles (bone axes) are in degrees.
        root_order: the root's AMC channels, e.g. ``("tx", "ty", "tz", "rx", "ry", "rz")``.
        root_axis: order of the root's axis rotations, e.g. ``"XYZ"``.
        bones: by name, in file order.
        children: parent name (``root`` included) -> child bone names, in hierarchy order.
    """

    path: Path
    length_scale: float = INCH
    degrees: bool = True
    root_order: tuple[str, ...] = ("tx", "ty", "tz", "rx", "ry", "rz")
    root_axis: str = "XYZ"
    root_position: np.ndarray = field(default_factory=lambda: np.zeros(3))
    root_orientation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    bones: dict[str, Bone] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)

    def channels(self, name: str) -> tuple[str, ...]:
        """The AMC values expected on a line for ``name`` (root or bone)."""
        return self.root_order if name == "root" else self.bones[name].dof

    def order(self) -> list[str]:
        """Bones parents-first (depth-first from the root)."""
        out, stack = [], list(reversed(self.children.get("root", [])))
        while stack:
            name = stack.pop()
            out.append(name)
            stack.extend(reversed(self.children.get(name, [])))
        return out


def _numbers(values: list[str], count: int, where: str, what: str) -> np.ndarray:
    if len(values) < count:
        raise DataError(f"{where}: {what} needs {count} numbers, got {len(values)}")
    try:
        return np.array([float(v) for v in values[:count]])
    except ValueError:
        raise DataError(f"{where}: {what}: not a number in {' '.join(values[:count])!r}") from None


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    """``(line number, words)`` of every non-empty, non-comment line."""
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if words:
            out.append((number, words))
    return out


def _parse_units(skeleton: AsfSkeleton, words: list[str], where: str) -> None:
    if words[0] == "length":
        factor = _numbers(words[1:], 1, where, "length")[0]
        if factor <= 0:
            raise DataError(f"{where}: length unit must be positive, got {factor}")
        skeleton.length_scale = INCH / factor
    elif words[0] == "angle":
        if len(words) < 2 or words[1].lower() not in ("deg", "degree", "degrees", "rad", "radian", "radians"):
            raise DataError(f"{where}: angle unit must be deg or rad, got {' '.join(words[1:])!r}")
        skeleton.degrees = words[1].lower().startswith("deg")


def _parse_root(skeleton: AsfSkeleton, words: list[str], where: str) -> None:
    key, values = words[0], words[1:]
    if key == "order":
        order = tuple(v.lower() for v in values)
        unknown = [v for v in order if v not in ("tx", "ty", "tz", "rx", "ry", "rz")]
        if unknown:
            raise DataError(f"{where}: unknown root channel(s) {unknown} (expected TX TY TZ RX RY RZ)")
        skeleton.root_order = order
    elif key == "axis":
        skeleton.root_axis = _axis_order(values[0] if values else "", where)
    elif key == "position":
        skeleton.root_position = _numbers(values, 3, where, "root position")
    elif key == "orientation":
        skeleton.root_orientation = _numbers(values, 3, where, "root orientation")


def _axis_order(text: str, where: str) -> str:
    order = text.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise DataError(f"{where}: axis order must be a permutation of XYZ, got {text!r}")
    return order


def _bone(fields: dict, start: int, where: str) -> Bone:
    missing = [k for k in ("name", "direction", "length", "axis") if k not in fields]
    if missing:
        raise DataError(f"{where}: bone starting at line {start} lacks {', '.join(missing)}")
    name = fields["name"][1][0]
    direction = _numbers(fields["direction"][1], 3, f"{where}:{fields['direction'][0]}", f"bone {name} direction")
    norm = np.linalg.norm(direction)
    if norm == 0:
        raise DataError(f"{where}:{fields['direction'][0]}: bone {name} has a zero direction")
    axis_line, axis_words = fields["axis"]
    axis = _numbers(axis_words, 3, f"{where}:{axis_line}", f"bone {name} axis")
    axis_order = _axis_order(axis_words[3] if len(axis_words) > 3 else "XYZ", f"{where}:{axis_line}")
    dof_line, dof_words = fields.get("dof", (start, []))
    dof = tuple(d.lower() for d in dof_words)
    unsupported = [d for d in dof if d not in ("rx", "ry", "rz")]
    if unsupported:
        raise DataError(f"{where}:{dof_line}: bone {name}: unsupported dof {unsupported} (only rx, ry, rz)")
    length = _numbers(fields["length"][1], 1, f"{where}:{fields['length'][0]}", f"bone {name} length")[0]
    return Bone(name, direction / norm, float(length), axis, axis_order, dof, start)


def read_asf(path: str | Path) -> AsfSkeleton:
    """Parse an ASF skeleton file; every problem names the file and line."""
    path = Path(path)
    skeleton = AsfSkeleton(path)
    section, fields, start = None, None, 0
    for number, words in _lines(path):
        where = f"{path}:{number}"
        if words[0].startswith(":"):
            section = words[0][1:].lower()
            if section == "units" and len(words) > 1:  # ':units' may carry values on its own line
                _parse_units(skeleton, words[1:], where)
            continue
        if section == "units":
            _parse_units(skeleton, words, where)
        elif section == "root":
            _parse_root(skeleton, words, where)
        elif section == "bonedata":
            if words[0] == "begin":
                fields, start = {}, number
            elif words[0] == "end":
                if fields is None:
                    raise DataError(f"{where}: 'end' without 'begin'")
                bone = _bone(fields, start, str(path))
                skeleton.bones[bone.name] = bone
                fields = None
            elif fields is not None and words[0] in ("name", "direction", "length", "axis", "dof"):
                fields[words[0]] = (number, words[1:])
        elif section == "hierarchy" and words[0] not in ("begin", "end"):
            parent, kids = words[0], words[1:]
            for name in (parent, *kids):
                if name != "root" and name not in skeleton.bones:
                    raise DataError(f"{where}: hierarchy names bone {name!r}, not defined in :bonedata")
            skeleton.children.setdefault(parent, []).extend(kids)
    if not skeleton.bones:
        raise DataError(f"{path}: no bones (:bonedata) found; is this an ASF file?")
    unplaced = [b for b in skeleton.bones if b not in set(skeleton.order())]
    if unplaced:
        raise DataError(f"{path}: bone(s) {', '.join(unplaced)} not connected to the root in :hierarchy")
    return skeleton


def rotation(angles: np.ndarray, axes: str) -> np.ndarray:
    """Rotation matrices for angles (radians) applied about ``axes`` in order: ``(..., k)`` -> ``(..., 3, 3)``.

    ``axes="xyz"`` gives ``Rz @ Ry @ Rx`` (x applied first, column vectors).
    """
    angles = np.asarray(angles, dtype=np.float64)
    out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3)).copy()
    for k, axis in enumerate(axes.lower()):
        c, s = np.cos(angles[..., k]), np.sin(angles[..., k])
        r = np.zeros(angles.shape[:-1] + (3, 3))
        i = _AXES[axis]
        j, l = (i + 1) % 3, (i + 2) % 3
        r[..., i, i] = 1.0
        r[..., j, j] = c
        r[..., l, l] = c
        r[..., j, l] = -s
        r[..., l, j] = s
        out = r @ out
    return out


def _header(words: list[str], state: dict) -> None:
    key = words[0].upper()
    if key == ":DEGREES":
        state["degrees"] = True
    elif key == ":RADIANS":
        state["degrees"] = False
    elif key == ":FULLY-SPECIFIED":
        state["fully"] = True


def _read_frames(path: Path, skeleton: AsfSkeleton) -> tuple[list[dict], dict]:
    """Parse the AMC's frames: ``[{name: values}]`` and header state; errors name the line."""
    state = {"degrees": skeleton.degrees, "fully": False}
    frames: list[dict] = []
    for number, words in _lines(path):
        where = f"{path}:{number}"
        if words[0].startswith(":"):
            _header(words, state)
            continue
        if len(words) == 1 and words[0].isdigit():
            frames.append({"_line": number, "_number": int(words[0])})
            continue
        if not frames:
            raise DataError(f"{where}: bone line {words[0]!r} before the first frame number")
        name = words[0]
        if name != "root" and name not in skeleton.bones:
            raise DataError(f"{where}: frame {frames[-1]['_number']}: bone {name!r} is not in the skeleton "
                            f"{skeleton.path.name}; wrong ASF file?")
        expected = len(skeleton.channels(name))
        if len(words) - 1 != expected:
            raise DataError(f"{where}: frame {frames[-1]['_number']}: bone {name!r} has {len(words) - 1} values, "
                            f"its dof in {skeleton.path.name} needs {expected}")
        frames[-1][name] = _numbers(words[1:], expected, where, f"bone {name}")
    if not frames:
        raise DataError(f"{path}: no frames found; is this an AMC file?")
    return frames, state


def _channel_arrays(path: Path, skeleton: AsfSkeleton, frames: list[dict], fully: bool) -> dict[str, np.ndarray]:
    """Per bone (root included) its values over time, ``(T, channels)``."""
    arrays = {}
    for name in ("root", *skeleton.order()):
        channels = skeleton.channels(name)
        values = np.zeros((len(frames), len(channels)))
        for t, frame in enumerate(frames):
            if name in frame:
                values[t] = frame[name]
            elif channels and (fully or name == "root"):  # otherwise an unlisted bone keeps its rest pose
                raise DataError(f"{path}:{frame['_line']}: frame {frame['_number']} has no line for {name!r}"
                                + (" (the file is :FULLY-SPECIFIED)" if fully else ""))
        arrays[name] = values
    return arrays


def forward_kinematics(skeleton: AsfSkeleton, arrays: dict[str, np.ndarray], degrees: bool) -> tuple[np.ndarray, list[str]]:
    """Global joint positions ``(T, 1 + bones, 3)`` in metres: the root, then each bone's end, in ``order()``."""
    to_rad = np.pi / 180.0 if degrees else 1.0
    asf_rad = np.pi / 180.0 if skeleton.degrees else 1.0
    root = arrays["root"]
    t = len(root)
    order = skeleton.root_order
    translation = np.tile(skeleton.root_position, (t, 1))
    angles, axes = [], ""
    for k, channel in enumerate(order):
        if channel[0] == "t":
            translation[:, _AXES[channel[1]]] = root[:, k]
        else:
            angles.append(root[:, k] * to_rad)
            axes += channel[1]
    c = rotation(skeleton.root_orientation * asf_rad, skeleton.root_axis)
    m = rotation(np.stack(angles, axis=-1), axes) if axes else np.eye(3)
    rotations = {"root": c @ m @ c.T}
    positions = {"root": translation * skeleton.length_scale}
    names = skeleton.order()
    parent_of = {kid: parent for parent, kids in skeleton.children.items() for kid in kids}
    for name in names:
        bone, parent = skeleton.bones[name], parent_of[name]
        c = rotation(bone.axis * asf_rad, bone.axis_order)
        values = arrays[name]
        m = rotation(values * to_rad, "".join(d[1] for d in bone.dof)) if bone.dof else np.eye(3)
        rotations[name] = rotations[parent] @ c @ m @ c.T
        offset = rotations[name] @ (bone.direction * bone.length * skeleton.length_scale)
        positions[name] = positions[parent] + offset
    joints = ["root", *names]
    return np.stack([np.broadcast_to(positions[j], (t, 3)) for j in joints], axis=1), joints


def find_asf(amc: str | Path) -> Path:
    """The ASF skeleton beside an AMC file, by the HDM05 or CMU naming; raises naming what was tried."""
    amc = Path(amc)
    stem, candidates = amc.stem, []
    for pattern in (HDM05_NAME, CMU_NAME):
        match = pattern.match(stem)
        if match:
            candidates.append(match.group(1))
    candidates.append(stem)
    for candidate in candidates:
        for suffix in (".asf", ".ASF"):
            path = amc.with_name(candidate + suffix)
            if path.is_file():
                return path
    tried = ", ".join(f"{c}.asf" for c in dict.fromkeys(candidates))
    raise DataError(f"{amc}: no ASF skeleton found beside it (looked for {tried}); give it with --asf FILE")


def amc_rate(amc: str | Path) -> float:
    """Frames per second from an HDM05 name (``..._120.amc``), else the CMU/Vicon default 120."""
    match = HDM05_NAME.match(Path(amc).stem)
    return float(match.group(3)) if match else DEFAULT_RATE


def read_amc(path: str | Path, asf: str | Path | None = None, rate: float | None = None) -> Recording:
    """Read an AMC motion with its ASF skeleton into a :class:`Recording` (one body, metres, y up).

    Args:
        path: the ``.amc`` file.
        asf: its skeleton; default: found beside it by name (:func:`find_asf`).
        rate: frames per second; default: from the name (:func:`amc_rate`).
    """
    path = Path(path)
    skeleton = read_asf(asf if asf is not None else find_asf(path))
    frames, state = _read_frames(path, skeleton)
    arrays = _channel_arrays(path, skeleton, frames, state["fully"])
    points, joints = forward_kinematics(skeleton, arrays, state["degrees"])
    times = frame_times(len(points), rate if rate is not None else amc_rate(path), str(path))
    return Recording(points[None], tuple(joints), times, "acclaim", str(path))
