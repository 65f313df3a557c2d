"""Joint layouts: which joint is which, which joints are connected.

A layout is data, not code: the graph used by the networks, the centring joint
used by preprocessing and the bones drawn by plots all come from here, so a
new sensor only needs a new table entry.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """A skeleton joint layout.

    Attributes:
        name: registry key.
        joints: joint names, index = joint id.
        bones: ``(child, parent)`` pairs, parent nearer the body centre.
        center: joint used as graph centre for ST-GCN's spatial partitioning
            and as the origin when centring a sequence.
        shoulders: ``(left, right)`` shoulder joints, used to rotate a body so
            that its shoulder line lies on the x axis.
        to_ntu25: for each joint here, the nearest NTU/Kinect v2 joint index
            (``None`` for the NTU layout itself).
    """

    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[int, int], ...]
    center: int
    shoulders: tuple[int, int]
    to_ntu25: tuple[int, ...] | None = None

    @property
    def num_joints(self) -> int:
        return len(self.joints)


NTU25 = Layout(
    name="ntu25",
    joints=(
        "spine_base", "spine_mid", "neck", "head",
        "shoulder_left", "elbow_left", "wrist_left", "hand_left",
        "shoulder_right", "elbow_right", "wrist_right", "hand_right",
        "hip_left", "knee_left", "ankle_left", "foot_left",
        "hip_right", "knee_right", "ankle_right", "foot_right",
        "spine_shoulder", "hand_tip_left", "thumb_left", "hand_tip_right", "thumb_right",
    ),
    # Kinect v2 bone list (0-based), parent towards the spine.
    bones=(
        (1, 0), (20, 1), (2, 20), (3, 2), (4, 20), (5, 4), (6, 5), (7, 6),
        (8, 20), (9, 8), (10, 9), (11, 10), (12, 0), (13, 12), (14, 13), (15, 14),
        (16, 0), (17, 16), (18, 17), (19, 18), (21, 7), (22, 7), (23, 11), (24, 11),
    ),
    center=20,
    shoulders=(4, 8),
)

KINECT_V1_20 = Layout(
    name="kinect_v1_20",
    joints=(
        "hip_center", "spine", "shoulder_center", "head",
        "shoulder_left", "elbow_left", "wrist_left", "hand_left",
        "shoulder_right", "elbow_right", "wrist_right", "hand_right",
        "hip_left", "knee_left", "ankle_left", "foot_left",
        "hip_right", "knee_right", "ankle_right", "foot_right",
    ),
    bones=(
        (1, 0), (2, 1), (3, 2), (4, 2), (5, 4), (6, 5), (7, 6), (8, 2), (9, 8),
        (10, 9), (11, 10), (12, 0), (13, 12), (14, 13), (15, 14), (16, 0), (17, 16),
        (18, 17), (19, 18),
    ),
    # shoulder_center is the Kinect v1 analogue of NTU's spine_shoulder.
    center=2,
    shoulders=(4, 8),
    # Nearest Kinect v2 joint for each v1 joint; v2's neck, hand tips and
    # thumbs have no v1 counterpart.
    to_ntu25=(0, 1, 20, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19),
)

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (NTU25, KINECT_V1_20)}


def get_layout(name_or_layout: str | Layout) -> Layout:
    """Return a registered layout by name (or pass a :class:`Layout` through)."""
    if isinstance(name_or_layout, Layout):
        return name_or_layout
    try:
        return LAYOUTS[name_or_layout]
    except KeyError:
        raise ValueError(
            f"unknown joint layout {name_or_layout!r}; known layouts: {', '.join(sorted(LAYOUTS))}"
        ) from None


def layout_for_joints(num_joints: int) -> Layout:
    """Guess the layout from a joint count (25 -> ntu25, 20 -> kinect_v1_20)."""
    matches = [layout for layout in LAYOUTS.values() if layout.num_joints == num_joints]
    if len(matches) != 1:
        raise ValueError(
            f"cannot infer a joint layout for {num_joints} joints; "
            f"known layouts: {', '.join(f'{l.name} ({l.num_joints})' for l in LAYOUTS.values())}"
        )
    return matches[0]


def convert_layout(data, source: str | Layout, target: str | Layout):
    """Map ``(N, C, T, V, M)`` data from one layout to another.

    Supported: ``kinect_v1_20`` -> ``ntu25``, so 20-joint data can use the
    25-joint graph (and models trained on NTU). Each v1 joint goes to its
    nearest v2 joint (``KINECT_V1_20.to_ntu25``); the v2 joints that v1 lacks
    are filled from their neighbours: the neck is the midpoint of head and
    spine shoulder, each hand tip and thumb copies its hand. An absent body
    (all zeros) stays all zeros.
    """
    import numpy as np

    source, target = get_layout(source), get_layout(target)
    if source.name == target.name:
        return data
    if (source.name, target.name) != ("kinect_v1_20", "ntu25"):
        raise ValueError(f"no conversion from layout {source.name} to {target.name} (only kinect_v1_20 -> ntu25)")
    if data.shape[3] != source.num_joints:
        raise ValueError(f"data has {data.shape[3]} joints, layout {source.name} has {source.num_joints}")
    out = np.zeros(data.shape[:3] + (target.num_joints,) + data.shape[4:], dtype=data.dtype)
    out[:, :, :, list(source.to_ntu25)] = data
    out[:, :, :, 2] = 0.5 * (out[:, :, :, 3] + out[:, :, :, 20])  # neck
    out[:, :, :, 21] = out[:, :, :, 22] = out[:, :, :, 7]  # left hand tip, thumb
    out[:, :, :, 23] = out[:, :, :, 24] = out[:, :, :, 11]  # right hand tip, thumb
    return out
