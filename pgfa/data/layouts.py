"""Joint layouts: which joint is which, which joints are connected.

A layout is data, not code: the graph used by the networks, the centring joint
used by preprocessing and the bones drawn by plots all come from here, so a
new sensor only needs a new table entry.

Two kinds of entry:

* model layouts (:data:`LAYOUTS`: ``ntu25``, ``kinect_v1_20``): what networks
  and preprocessing work on;
* source layouts (:data:`SOURCE_LAYOUTS`): what a recording device or file
  format delivers (Acclaim ASF/AMC, BVH, Azure Kinect, MediaPipe Pose). Each
  declares its joint names, the axis convention and unit of its files, and for
  every NTU joint a rule saying which of its joints give it (the mean of a few
  joints where it has no such joint, e.g. a mid-spine from hips and neck).
  :func:`source_to_layout` applies the rules, so every reader hands the model
  the same kind of skeleton: NTU order (or Kinect v1 20), metres, y up.
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


# ---------------------------------------------------------------- source layouts

# A rule: alternatives tried in order; each alternative is a tuple of joint
# names whose mean gives the target joint. The first alternative whose joints
# all exist in the recording wins.
Rule = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class SourceLayout:
    """The skeleton a device or file format delivers, and how it maps to NTU-25.

    Attributes:
        name: registry key (``pgfa layouts`` lists them).
        description: the devices / files that deliver it.
        joints: joint names in the source's own order (empty where the file
            names its joints itself, as BVH does; rules then match by name).
        to_ntu25: one :data:`Rule` per NTU joint, in NTU order.
        unit: unit of the raw coordinates (readers convert to metres).
        axes: the source's axis convention, and the fixed change to y up.
        flip: sign per axis applied to raw ``(x, y, z)`` to get the
            right-handed, y-up frame used everywhere in pgfa (a rotation,
            never a mirror: ``flip`` has an even number of -1s).
    """

    name: str
    description: str
    joints: tuple[str, ...]
    to_ntu25: tuple[Rule, ...]
    unit: str
    axes: str
    flip: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if len(self.to_ntu25) != NTU25.num_joints:
            raise ValueError(f"layout {self.name}: {len(self.to_ntu25)} rules, NTU has {NTU25.num_joints} joints")
        if sum(f < 0 for f in self.flip) % 2:
            raise ValueError(f"layout {self.name}: flip {self.flip} mirrors the body")

    @property
    def num_joints(self) -> int:
        return len(self.joints)


def _rules(table: dict[str, tuple]) -> tuple[Rule, ...]:
    """NTU joint name -> alternatives (a name, a tuple of names, or a list of those) as a rule tuple in NTU order.

    Keys with ``{s}`` stand for both sides; in their values ``{s}`` / ``{S}`` /
    ``{l}`` become left / Left / l (and right / Right / r).
    """
    expanded: dict[str, Rule] = {}
    for key, value in table.items():
        alternatives = value if isinstance(value, list) else [value]
        alternatives = [(a,) if isinstance(a, str) else tuple(a) for a in alternatives]
        if "{s}" not in key:
            expanded[key] = tuple(alternatives)
            continue
        for side, (s, S, l) in (("left", ("left", "Left", "l")), ("right", ("right", "Right", "r"))):
            expanded[key.format(s=side)] = tuple(tuple(n.format(s=s, S=S, l=l) for n in a) for a in alternatives)
    missing = [j for j in NTU25.joints if j not in expanded]
    if missing:
        raise ValueError(f"rules lack NTU joints {missing}")
    return tuple(expanded[j] for j in NTU25.joints)


ACCLAIM = SourceLayout(
    name="acclaim",
    description="Acclaim ASF/AMC motion capture (Vicon; the CMU and HDM05 databases' bone names)",
    joints=("root", "lhipjoint", "lfemur", "ltibia", "lfoot", "ltoes", "rhipjoint", "rfemur", "rtibia", "rfoot",
            "rtoes", "lowerback", "upperback", "thorax", "lowerneck", "upperneck", "head", "lclavicle", "lhumerus",
            "lradius", "lwrist", "lhand", "lfingers", "lthumb", "rclavicle", "rhumerus", "rradius", "rwrist",
            "rhand", "rfingers", "rthumb"),
    # Each bone's joint is the point at the bone's END (lfemur ends at the knee).
    to_ntu25=_rules({
        "spine_base": "root", "spine_mid": ["upperback", ("root", "thorax")], "neck": "lowerneck",
        "head": [("upperneck", "head")], "spine_shoulder": "thorax",
        "shoulder_{s}": "{l}clavicle", "elbow_{s}": "{l}humerus", "wrist_{s}": "{l}radius",
        "hand_{s}": ["{l}hand", "{l}wrist"], "hand_tip_{s}": ["{l}fingers", "{l}hand", "{l}wrist"],
        "thumb_{s}": ["{l}thumb", "{l}hand", "{l}wrist"],
        "hip_{s}": "{l}hipjoint", "knee_{s}": "{l}femur", "ankle_{s}": "{l}tibia", "foot_{s}": ["{l}foot", "{l}tibia"],
    }),
    unit="1/L inches, L from the ASF's ':units length L' (Vicon)",
    axes="y up, right-handed (as recorded)",
)

BVH = SourceLayout(
    name="bvh",
    description="BVH motion capture (Vicon, OptiTrack, Xsens, Rokoko, Mixamo): joints by name, "
                "any prefix such as 'mixamorig:' ignored",
    joints=(),
    to_ntu25=_rules({
        "spine_base": ["Hips", "Pelvis", "Root"], "spine_mid": ["Spine1", "Spine", "Chest", ("Hips", "Neck")],
        "neck": ["Neck", "Neck1"], "head": ["Head"],
        "spine_shoulder": [("LeftShoulder", "RightShoulder"), "Spine2", "Chest", "Neck"],
        "shoulder_{s}": ["{S}Arm", "{S}UpperArm"], "elbow_{s}": ["{S}ForeArm", "{S}LowerArm"],
        "wrist_{s}": ["{S}Hand", "{S}Wrist"],
        "hand_{s}": ["{S}HandMiddle1", "{S}FingerBase", "{S}HandIndex1", "{S}Hand", "{S}Wrist"],
        "hand_tip_{s}": ["{S}HandMiddle3", "{S}HandIndex3", "{S}HandIndex1", "{S}Hand", "{S}Wrist"],
        "thumb_{s}": ["{S}HandThumb2", "{S}HandThumb1", "{l}Thumb", "{S}Hand", "{S}Wrist"],
        "hip_{s}": ["{S}UpLeg", "{S}UpperLeg", "{S}Thigh"], "knee_{s}": ["{S}Leg", "{S}LowerLeg", "{S}Shin"],
        "ankle_{s}": ["{S}Foot", "{S}Ankle"], "foot_{s}": ["{S}ToeBase", "{S}Toe", "{S}Foot", "{S}Ankle"],
    }),
    unit="m, cm, mm or inches, from the skeleton's size (or --units)",
    axes="y up, right-handed (the BVH convention)",
)

AZURE_KINECT_32 = SourceLayout(
    name="azure_kinect_32",
    description="Azure Kinect / Orbbec Femto body tracking (k4abt offline_processor JSON, 32 joints)",
    joints=("pelvis", "spine_navel", "spine_chest", "neck", "clavicle_left", "shoulder_left", "elbow_left",
            "wrist_left", "hand_left", "handtip_left", "thumb_left", "clavicle_right", "shoulder_right",
            "elbow_right", "wrist_right", "hand_right", "handtip_right", "thumb_right", "hip_left", "knee_left",
            "ankle_left", "foot_left", "hip_right", "knee_right", "ankle_right", "foot_right", "head", "nose",
            "eye_left", "ear_left", "eye_right", "ear_right"),
    to_ntu25=_rules({
        "spine_base": "pelvis", "spine_mid": "spine_navel", "neck": "neck", "head": "head",
        "spine_shoulder": "spine_chest", "shoulder_{s}": "shoulder_{s}", "elbow_{s}": "elbow_{s}",
        "wrist_{s}": "wrist_{s}", "hand_{s}": "hand_{s}", "hand_tip_{s}": "handtip_{s}", "thumb_{s}": "thumb_{s}",
        "hip_{s}": "hip_{s}", "knee_{s}": "knee_{s}", "ankle_{s}": "ankle_{s}", "foot_{s}": "foot_{s}",
    }),
    unit="millimetres",
    axes="depth camera: x right, y down, z forward; turned 180 degrees about z to y up (Kinect v2 / NTU frame)",
    flip=(-1.0, -1.0, 1.0),
)

MEDIAPIPE_POSE_33 = SourceLayout(
    name="mediapipe_pose_33",
    description="MediaPipe Pose world landmarks (33 points, metres, origin between the hips)",
    joints=("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
            "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
            "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky",
            "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee",
            "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel", "left_foot_index",
            "right_foot_index"),
    # MediaPipe has no spine: spine joints are means of hips, shoulders and ears.
    to_ntu25=_rules({
        "spine_base": [("left_hip", "right_hip")], "spine_mid": [("left_hip", "right_hip", "left_shoulder",
                                                                  "right_shoulder")],
        "neck": [("left_shoulder", "right_shoulder", "left_ear", "right_ear")], "head": [("left_ear", "right_ear")],
        "spine_shoulder": [("left_shoulder", "right_shoulder")],
        "shoulder_{s}": "{s}_shoulder", "elbow_{s}": "{s}_elbow", "wrist_{s}": "{s}_wrist",
        "hand_{s}": [("{s}_index", "{s}_pinky")], "hand_tip_{s}": "{s}_index", "thumb_{s}": "{s}_thumb",
        "hip_{s}": "{s}_hip", "knee_{s}": "{s}_knee", "ankle_{s}": "{s}_ankle", "foot_{s}": "{s}_foot_index",
    }),
    unit="metres",
    axes="image axes: x right, y down, z away from the camera; turned 180 degrees about z to y up",
    flip=(-1.0, -1.0, 1.0),
)

SOURCE_LAYOUTS: dict[str, SourceLayout] = {
    layout.name: layout for layout in (ACCLAIM, BVH, AZURE_KINECT_32, MEDIAPIPE_POSE_33)
}


def get_source_layout(name_or_layout: str | SourceLayout) -> SourceLayout:
    """Return a registered source layout by name (or pass a :class:`SourceLayout` through)."""
    if isinstance(name_or_layout, SourceLayout):
        return name_or_layout
    try:
        return SOURCE_LAYOUTS[name_or_layout]
    except KeyError:
        raise ValueError(f"unknown source layout {name_or_layout!r}; known: {', '.join(sorted(SOURCE_LAYOUTS))}") from None


def normalise_joint_name(name: str) -> str:
    """``'mixamorig:Left_Arm'`` -> ``'leftarm'``: the form rules are matched in."""
    return name.rpartition(":")[2].replace("_", "").replace(" ", "").replace("-", "").lower()


def resolve_rules(source: str | SourceLayout, joint_names: list[str] | tuple[str, ...]) -> list[tuple[int, ...]]:
    """For each NTU joint, the indices (into ``joint_names``) whose mean gives it.

    Raises ``ValueError`` naming the NTU joints that no alternative of their
    rule can give (the recording lacks the joints the rules need).
    """
    source = get_source_layout(source)
    position = {}
    for i, name in enumerate(joint_names):
        position.setdefault(normalise_joint_name(name), i)
    chosen, unmet = [], []
    for target, rule in zip(NTU25.joints, source.to_ntu25):
        for alternative in rule:
            keys = [normalise_joint_name(n) for n in alternative]
            if all(k in position for k in keys):
                chosen.append(tuple(position[k] for k in keys))
                break
        else:
            chosen.append(())
            unmet.append(f"{target} (needs {' or '.join('+'.join(a) for a in rule)})")
    if unmet:
        raise ValueError(f"{source.name} skeleton lacks joints for NTU {'; '.join(unmet)}")
    return chosen


def source_to_layout(points, joint_names, source: str | SourceLayout, target: str | Layout = "ntu25"):
    """Map ``(M, T, J, 3)`` source joints (metres, y up) to ``(M, T, V, 3)`` in a model layout.

    Each NTU joint is the mean of the source joints its rule names; the
    Kinect v1 20 layout takes its joints from the NTU ones
    (``KINECT_V1_20.to_ntu25``). A body that is all zeros in a frame (not
    tracked) stays all zeros.
    """
    import numpy as np

    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 4 or points.shape[-1] != 3:
        raise ValueError(f"source joints must be (M, T, J, 3), got {points.shape}")
    if points.shape[2] != len(joint_names):
        raise ValueError(f"{points.shape[2]} joints in the data, {len(joint_names)} joint names")
    groups = resolve_rules(source, joint_names)
    ntu = np.stack([points[:, :, list(g)].mean(axis=2) for g in groups], axis=2)
    absent = ~np.any(points != 0, axis=(2, 3))  # (M, T)
    ntu[absent] = 0.0
    target = get_layout(target)
    if target.name == "ntu25":
        return ntu
    if target.name == "kinect_v1_20":
        return ntu[:, :, list(KINECT_V1_20.to_ntu25)]
    raise ValueError(f"no conversion from source layout to {target.name}")
