"""The synthetic benchmark: seeded 3D skeleton actions built from shared primitives.

Why it exists: the package must be runnable, testable and demonstrable without
NTU RGB+D or PKU-MMD (which need a licence and tens of GB). A zero-shot demo is
only meaningful if an unseen class can be recognised from its *text*, so every
class is composed from a small set of shared body-part primitives (which part,
which pose, how often, how fast) and its description is written from the same
primitives with a fixed vocabulary. An unseen class such as "raise left arm
sideways" is then a new combination of parts that were seen separately
("raise right arm sideways", "raise left arm forward").

How a sample is made (see ``docs/SYNTHETIC.md`` for the ranges):

1. a *performer* (body size, limb proportions, rest posture, tempo and
   amplitude style) is taken from a seeded pool, so a cross-performer split
   exists just like NTU's cross-subject split;
2. a per-frame vector of joint angles (degrees of freedom, DOFs) starts at the
   performer's rest posture plus idle sway, and each primitive of the class
   blends some DOFs towards a target pose with a time envelope (once, twice,
   repeatedly; slowly, normally, quickly), with per-sample jitter of amplitude,
   timing and target;
3. a small forward-kinematics skeleton turns the angles into the 25 NTU joints
   in metres, feet on the floor;
4. the body is placed in camera space (yaw, 2-4 m away, camera height and
   tilt), sensor noise and occasional joint glitches are added;
5. the raw sequence goes through :func:`pgfa.data.preprocess.preprocess_sequence`
   so the output is shaped and normalised like processed NTU data.

Coordinates: a body frame has x = the subject's right, y = up and z = the
subject's back (forward is -z). This is the frame the SPEC-2 rotation produces
(left-to-right shoulder vector on +x, rotation proper), and it matches Kinect
camera space for a subject facing the camera.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pgfa.data.layouts import get_layout
from pgfa.data.preprocess import preprocess_sequence
from pgfa.data.skeletons import SkeletonSet
from pgfa.text.classes import ClassText

__all__ = [
    "Move",
    "SyntheticAction",
    "SYNTHETIC_ACTIONS",
    "SUGGESTED_UNSEEN",
    "DEFAULT_NOISE",
    "generate",
    "synthetic_class_texts",
    "train_performers",
    "difficulty_proxy",
]

# ----------------------------------------------------------------------------
# Primitive vocabulary
# ----------------------------------------------------------------------------

#: Degrees of freedom of one body, in radians unless noted. Arms: upper-arm
#: (``ua``) and forearm (``fa``) direction as elevation (0 hanging down, pi
#: straight up) and azimuth (0 forward, pi/2 outward to the side, pi back, negative
#: across the body) in the torso frame. Legs: thigh flexion (forward),
#: abduction (outward) and knee flexion. ``jump`` is a vertical offset in metres.
DOFS: tuple[str, ...] = (
    "jump", "pelvis_yaw",
    "torso_pitch", "torso_roll", "torso_yaw",
    "head_pitch", "head_yaw",
    "l_ua_e", "l_ua_a", "l_fa_e", "l_fa_a",
    "r_ua_e", "r_ua_a", "r_fa_e", "r_fa_a",
    "l_th_f", "l_th_a", "l_kn",
    "r_th_f", "r_th_a", "r_kn",
)
_D = {name: i for i, name in enumerate(DOFS)}

#: Which DOF prefixes a part name addresses. "both" parts apply the same pose
#: to each side; azimuths and abductions are defined per side (outward = +), so
#: one pose is automatically mirrored.
PARTS: dict[str, tuple[str, ...]] = {
    "right_arm": ("r_",), "left_arm": ("l_",), "both_arms": ("l_", "r_"),
    "right_leg": ("r_",), "left_leg": ("l_",), "both_legs": ("l_", "r_"),
    "torso": ("torso_",), "head": ("head_",), "body": ("",),
}

_P2 = math.pi / 2
#: Target poses per part kind. Keys are DOF suffixes. A primitive either blends
#: towards these absolute values (``add=False``) or adds them as offsets on top
#: of what earlier primitives produced (``add=True``, used for oscillations
#: riding on a held pose, e.g. the waving forearm on a raised arm).
POSES: dict[str, dict[str, dict[str, float]]] = {
    "arm": {
        "forward": {"ua_e": _P2, "ua_a": 0.0, "fa_e": _P2, "fa_a": 0.0},
        "sideways": {"ua_e": _P2, "ua_a": _P2, "fa_e": _P2, "fa_a": _P2},
        "upward": {"ua_e": 2.9, "ua_a": 0.35, "fa_e": 3.0, "fa_a": 0.35},
        "wave_raise": {"ua_e": 1.45, "ua_a": 1.35, "fa_e": 2.55, "fa_a": _P2},
        "wave_swing": {"fa_e": 0.75},
        "chamber": {"ua_e": 0.35, "ua_a": 0.25, "fa_e": 1.95, "fa_a": -0.25},
        "punch": {"ua_e": 1.5, "ua_a": -0.08, "fa_e": 1.5, "fa_a": -0.08},
        "push": {"ua_e": 1.35, "ua_a": 0.05, "fa_e": 1.4, "fa_a": 0.0},
        "clap_open": {"ua_e": 0.85, "ua_a": 0.35, "fa_e": 1.55, "fa_a": -0.35},
        "clap_close": {"fa_a": -0.85},
        "swing": {"ua_e": 0.6, "ua_a": -0.15, "fa_e": 0.95, "fa_a": -0.15},
        "swing_back": {"ua_e": 0.45, "ua_a": 3.0, "fa_e": 0.5, "fa_a": 3.0},
        "back": {"ua_e": 0.7, "ua_a": 3.0, "fa_e": 0.75, "fa_a": 3.0},
        "hang_forward": {"ua_e": 0.85, "ua_a": 0.0, "fa_e": 0.95, "fa_a": 0.0},
        "handshake": {"ua_e": 0.55, "ua_a": 0.1, "fa_e": 1.45, "fa_a": -0.2},
        "handshake_shake": {"fa_e": 0.35},
    },
    "leg": {
        "kick": {"th_f": 1.3, "kn": 0.15},
        "sideways": {"th_a": 0.75, "kn": 0.1},
        "knee_up": {"th_f": 1.55, "kn": 1.75},
        "march": {"th_f": 1.05, "kn": 1.35},
        "step": {"th_f": 0.55, "kn": 0.9},
        "squat": {"th_f": 1.45, "kn": 2.3},
        "crouch": {"th_f": 0.8, "kn": 1.35},
        "stretch": {"th_f": 0.1, "kn": 0.25},
        "step_back": {"th_f": -0.45, "kn": 0.35},
    },
    "torso": {
        "bend_forward": {"pitch": 1.0},
        "lean_forward": {"pitch": 0.4},
        "lean_back": {"pitch": -0.3},
        "lean_left": {"roll": 0.38},
        "twist_left": {"yaw": 0.7},
        "twist_right": {"yaw": -0.7},
        "lag": {"yaw": -0.45},
    },
    "head": {
        "nod": {"pitch": 0.5},
        "turn_left": {"yaw": 0.9},
        "turn_right": {"yaw": -0.9},
        "bow": {"pitch": 0.3},
    },
    "body": {
        "jump": {"jump": 0.3},
        "turn": {"pelvis_yaw": math.pi},
    },
}
_KIND = {
    "right_arm": "arm", "left_arm": "arm", "both_arms": "arm",
    "right_leg": "leg", "left_leg": "leg", "both_legs": "leg",
    "torso": "torso", "head": "head", "body": "body",
}
#: Fraction of one repetition spent rising (and falling): quick moves snap to
#: the pose and hold it, slow ones never hold. Because every clip is resampled
#: to T frames, *absolute* speed is normalised away (as in NTU); what survives
#: is this profile shape and the number of repetitions.
_RISE = {"quick": 0.14, "normal": 0.3, "slow": 0.5}


@dataclass(frozen=True)
class Move:
    """One primitive: a body part going to a named pose with a time envelope.

    Attributes:
        part: key of :data:`PARTS` (``right_arm``, ``both_legs``, ``head``...).
        pose: key of :data:`POSES` for the part's kind.
        reps: repetitions (there-and-back bumps); 0 means "repeatedly" (3 to 5,
            drawn per sample).
        speed: ``slow``, ``normal`` or ``quick`` (rise profile, see ``_RISE``).
        window: when in the action (0..1 of the action's duration) it happens.
        shape: ``bump`` (go and come back) or ``ramp`` (go and stay).
        add: add the pose as offsets instead of blending to absolute values.
        phase: shift in repetitions, so two limbs alternate (0.5 = anti-phase).
        duty: fraction of each repetition the bump occupies; alternating
            moves use 0.5 so that the two sides are never up together.
    """

    part: str
    pose: str
    reps: int = 1
    speed: str = "normal"
    window: tuple[float, float] = (0.0, 1.0)
    shape: str = "bump"
    add: bool = False
    phase: float = 0.0
    duty: float = 1.0

    def __post_init__(self) -> None:
        if self.part not in PARTS:
            raise ValueError(f"unknown part {self.part!r}")
        if self.pose not in POSES[_KIND[self.part]]:
            raise ValueError(f"unknown pose {self.pose!r} for part {self.part!r}")
        if self.speed not in _RISE:
            raise ValueError(f"unknown speed {self.speed!r}")
        if self.shape not in ("bump", "ramp"):
            raise ValueError(f"unknown shape {self.shape!r}")
        if not 0.0 < self.duty <= 1.0:
            raise ValueError(f"duty must be in (0, 1], got {self.duty}")

    @property
    def primitive(self) -> str:
        """Short tag naming the shared primitive, e.g. ``right_arm:forward``."""
        return f"{self.part}:{self.pose}"


@dataclass(frozen=True)
class SyntheticAction:
    """One synthetic action class.

    Attributes:
        name: short label name.
        description: one sentence built from the same primitives, with the
            shared vocabulary (left/right are the subject's own).
        two_person: whether a second body takes part.
        moves: primitives of the (first) performer.
        partner_moves: primitives of the second body (two-person classes only).
    """

    name: str
    description: str
    two_person: bool = False
    moves: tuple[Move, ...] = ()
    partner_moves: tuple[Move, ...] = ()

    @property
    def primitives(self) -> tuple[str, ...]:
        """Distinct primitive tags used, in order (partner ones prefixed)."""
        tags = [m.primitive for m in self.moves]
        tags += [f"partner {m.primitive}" for m in self.partner_moves]
        return tuple(dict.fromkeys(tags))


_BOW = (
    Move("torso", "bend_forward", speed="slow", window=(0.05, 0.95)),
    Move("head", "bow", window=(0.1, 0.9)),
    Move("both_arms", "hang_forward", speed="slow", window=(0.05, 0.95)),
)

#: The class list; index = label. Descriptions are written from the moves.
SYNTHETIC_ACTIONS: tuple[SyntheticAction, ...] = (
    SyntheticAction(
        "raise right arm forward",
        "the right arm rises forward to shoulder height and lowers again once while the rest of the body stays still",
        moves=(Move("right_arm", "forward"),),
    ),
    SyntheticAction(
        "raise left arm forward",
        "the left arm rises forward to shoulder height and lowers again once while the rest of the body stays still",
        moves=(Move("left_arm", "forward"),),
    ),
    SyntheticAction(
        "raise right arm sideways",
        "the right arm rises sideways to shoulder height and lowers again once while the rest of the body stays still",
        moves=(Move("right_arm", "sideways"),),
    ),
    SyntheticAction(
        "raise left arm sideways",
        "the left arm rises sideways to shoulder height and lowers again once while the rest of the body stays still",
        moves=(Move("left_arm", "sideways"),),
    ),
    SyntheticAction(
        "raise both arms upward",
        "both arms rise upward above the head and lower again once while the legs stay still",
        moves=(Move("both_arms", "upward", speed="slow"),),
    ),
    SyntheticAction(
        "raise both arms sideways",
        "both arms rise sideways to shoulder height and lower again once while the legs stay still",
        moves=(Move("both_arms", "sideways"),),
    ),
    SyntheticAction(
        "wave right hand",
        "the right arm rises sideways with the elbow bent and the right hand waves from side to side repeatedly above the shoulder",
        moves=(
            Move("right_arm", "wave_raise", speed="quick"),
            Move("right_arm", "wave_swing", reps=0, window=(0.15, 0.85), add=True),
        ),
    ),
    SyntheticAction(
        "wave left hand",
        "the left arm rises sideways with the elbow bent and the left hand waves from side to side repeatedly above the shoulder",
        moves=(
            Move("left_arm", "wave_raise", speed="quick"),
            Move("left_arm", "wave_swing", reps=0, window=(0.15, 0.85), add=True),
        ),
    ),
    SyntheticAction(
        "punch forward with right arm",
        "the right hand comes to the chest with the elbow bent and the right arm punches forward quickly twice",
        moves=(
            Move("right_arm", "chamber", speed="quick"),
            Move("right_arm", "punch", reps=2, speed="quick", window=(0.15, 0.85)),
        ),
    ),
    SyntheticAction(
        "clap hands",
        "both arms come forward with the elbows bent and the hands meet in front of the chest repeatedly",
        moves=(
            Move("both_arms", "clap_open", speed="quick"),
            Move("both_arms", "clap_close", reps=0, speed="quick", window=(0.15, 0.85), add=True),
        ),
    ),
    SyntheticAction(
        "kick forward with right leg",
        "the right leg kicks forward quickly once with a straight knee while the left leg stands still",
        moves=(Move("right_leg", "kick", speed="quick", window=(0.2, 0.8)),),
    ),
    SyntheticAction(
        "kick forward with left leg",
        "the left leg kicks forward quickly once with a straight knee while the right leg stands still",
        moves=(Move("left_leg", "kick", speed="quick", window=(0.2, 0.8)),),
    ),
    SyntheticAction(
        "raise right leg sideways",
        "the right leg rises sideways and lowers again once while the left leg stands still",
        moves=(Move("right_leg", "sideways"),),
    ),
    SyntheticAction(
        "lift right knee",
        "the right leg bends to lift the knee upward in front of the body and lowers again twice while the left leg stands still",
        moves=(Move("right_leg", "knee_up", reps=2),),
    ),
    SyntheticAction(
        "march in place",
        "the left and right knees lift upward alternately and repeatedly while both arms swing forward and backward",
        moves=(
            Move("left_leg", "march", reps=0, duty=0.5),
            Move("right_leg", "march", reps=0, phase=0.5, duty=0.5),
            Move("right_arm", "swing", reps=0, duty=0.5),
            Move("right_arm", "swing_back", reps=0, phase=0.5, duty=0.5),
            Move("left_arm", "swing_back", reps=0, duty=0.5),
            Move("left_arm", "swing", reps=0, phase=0.5, duty=0.5),
        ),
    ),
    SyntheticAction(
        "squat down",
        "both knees bend deeply and the body lowers with the torso leaning forward, then the body rises again once while the arms hang down",
        moves=(
            Move("both_legs", "squat", speed="slow"),
            Move("torso", "lean_forward", speed="slow"),
            Move("both_arms", "hang_forward", speed="slow"),
        ),
    ),
    SyntheticAction(
        "jump up",
        "both knees bend with both arms swinging backward, then the body jumps upward quickly with both arms swinging upward, and the knees bend again on landing",
        moves=(
            Move("both_legs", "crouch", window=(0.0, 0.38)),
            Move("both_arms", "back", window=(0.0, 0.38)),
            Move("body", "jump", speed="slow", window=(0.3, 0.68)),
            Move("both_legs", "stretch", speed="quick", window=(0.3, 0.68)),
            Move("both_arms", "upward", speed="quick", window=(0.25, 0.72)),
            Move("both_legs", "crouch", window=(0.62, 1.0)),
        ),
    ),
    SyntheticAction(
        "bow",
        "the torso bends forward at the hips and returns upright once while the arms hang down",
        moves=_BOW,
    ),
    SyntheticAction(
        "lean torso to the left",
        "the torso leans sideways to the left and returns upright once while the legs stay still",
        moves=(Move("torso", "lean_left", speed="slow"),),
    ),
    SyntheticAction(
        "twist torso",
        "the torso twists to the left and to the right repeatedly while the legs stay still",
        moves=(
            Move("torso", "twist_left", reps=0, speed="slow", add=True, duty=0.5),
            Move("torso", "twist_right", reps=0, speed="slow", add=True, phase=0.5, duty=0.5),
        ),
    ),
    SyntheticAction(
        "nod head",
        "the head nods forward and back up repeatedly while the rest of the body stays still",
        moves=(Move("head", "nod", reps=0, add=True),),
    ),
    SyntheticAction(
        "shake head",
        "the head turns to the left and to the right repeatedly while the rest of the body stays still",
        moves=(
            Move("head", "turn_left", reps=0, add=True, duty=0.5),
            Move("head", "turn_right", reps=0, add=True, phase=0.5, duty=0.5),
        ),
    ),
    SyntheticAction(
        "turn around",
        "the whole body turns around slowly while the left and right knees lift alternately in small steps and the hips lead the torso",
        moves=(
            Move("body", "turn", speed="slow", shape="ramp", window=(0.05, 0.95)),
            Move("torso", "lag", speed="slow", window=(0.05, 0.95), add=True),
            Move("left_leg", "step", reps=3, window=(0.05, 0.95), duty=0.5),
            Move("right_leg", "step", reps=3, window=(0.05, 0.95), phase=0.5, duty=0.5),
        ),
    ),
    SyntheticAction(
        "push other person",
        "two people face each other, one brings both hands to the chest and pushes the other quickly with both arms forward, and the other leans the torso backward and steps back with the right leg",
        two_person=True,
        moves=(
            Move("both_arms", "chamber", window=(0.0, 0.5)),
            Move("both_arms", "push", speed="quick", window=(0.25, 0.85)),
            Move("torso", "lean_forward", speed="quick", window=(0.25, 0.85)),
        ),
        partner_moves=(
            Move("torso", "lean_back", speed="quick", window=(0.35, 1.0)),
            Move("right_leg", "step_back", window=(0.4, 1.0)),
            Move("both_arms", "hang_forward", speed="quick", window=(0.35, 1.0)),
        ),
    ),
    SyntheticAction(
        "shake hands",
        "two people face each other and each extends the right arm forward while the right hands shake up and down repeatedly",
        two_person=True,
        moves=(
            Move("right_arm", "handshake", speed="quick", window=(0.05, 0.95)),
            Move("right_arm", "handshake_shake", reps=0, window=(0.25, 0.8), add=True),
        ),
        partner_moves=(
            Move("right_arm", "handshake", speed="quick", window=(0.05, 0.95)),
            Move("right_arm", "handshake_shake", reps=0, window=(0.25, 0.8), add=True),
        ),
    ),
    SyntheticAction(
        "bow to each other",
        "two people face each other and each torso bends forward at the hips and returns upright once while the arms hang down",
        two_person=True,
        moves=_BOW,
        partner_moves=_BOW,
    ),
)

#: A zero-shot split for demos: one class per body region (one arm, both
#: arms, a leg, the head, two people). Each recombines parts and motions that
#: seen classes show, and every word of its description occurs in some seen
#: description: "raise left arm sideways" = the left arm of "raise left arm
#: forward" + the sideways raise of "raise right arm sideways"; "raise both
#: arms upward" = both arms of "raise both arms sideways" + the upward swing of
#: "jump up"; "lift right knee" = the knee lift of "march in place" + the right
#: leg of "kick forward with right leg"; "shake head" = the head of "nod head"
#: + the left/right alternation of "twist torso"; "bow to each other" = "bow"
#: done by both bodies of a two-person class. Mirror-image unseen classes
#: (left twins of seen right classes) are avoided on purpose: the default
#: sentence encoder barely separates "left" from "right" (docs/SYNTHETIC.md).
SUGGESTED_UNSEEN: tuple[int, ...] = (3, 4, 13, 21, 25)

#: Gaussian sensor jitter per joint and frame (metres, standard deviation).
DEFAULT_NOISE = 0.012

# ----------------------------------------------------------------------------
# Performers
# ----------------------------------------------------------------------------

# Reference segment lengths (metres) for a 1.70 m performer.
_SEG = {
    "pelvis_mid": 0.25, "mid_shoulder": 0.22, "neck": 0.08, "head": 0.13,
    "shoulder_w": 0.18, "upper_arm": 0.28, "forearm": 0.25, "hand": 0.08,
    "tip": 0.06, "thumb": 0.05, "hip_w": 0.09, "hip_d": 0.05,
    "thigh": 0.42, "shin": 0.40, "foot": 0.13,
}
_SEG_KEYS = tuple(_SEG)
_SEG_REF = np.array([_SEG[k] for k in _SEG_KEYS])
_S = {k: i for i, k in enumerate(_SEG_KEYS)}
_ANKLE_H = 0.08  # ankle joint height above the floor when the foot is on it

# Rest posture (arms hanging slightly away from the body, knees almost straight).
_REST = np.zeros(len(DOFS))
for _k, _v in {
    "torso_pitch": 0.03, "head_pitch": 0.05,
    "l_ua_e": 0.12, "l_ua_a": 1.3, "l_fa_e": 0.2, "l_fa_a": 0.3,
    "r_ua_e": 0.12, "r_ua_a": 1.3, "r_fa_e": 0.2, "r_fa_a": 0.3,
    "l_th_a": 0.06, "l_kn": 0.05, "r_th_a": 0.06, "r_kn": 0.05,
}.items():
    _REST[_D[_k]] = _v
# Per-performer spread of that posture (standard deviation, radians).
_REST_SD = np.zeros(len(DOFS))
for _k, _v in {
    "torso_pitch": 0.04, "torso_roll": 0.02, "head_pitch": 0.08,
    "l_ua_e": 0.06, "l_ua_a": 0.25, "l_fa_e": 0.12, "l_fa_a": 0.25,
    "r_ua_e": 0.06, "r_ua_a": 0.25, "r_fa_e": 0.12, "r_fa_a": 0.25,
    "l_th_a": 0.03, "l_kn": 0.04, "r_th_a": 0.03, "r_kn": 0.04,
}.items():
    _REST_SD[_D[_k]] = _v
del _k, _v
_SWAY = np.array([_D[k] for k in (
    "torso_pitch", "torso_roll", "head_pitch", "head_yaw",
    "l_ua_e", "r_ua_e", "l_fa_e", "r_fa_e", "l_kn", "r_kn",
)])


@dataclass(frozen=True)
class _Performer:
    """A synthetic person: why samples of one performer resemble each other."""

    segments: np.ndarray  # segment lengths in metres, order of _SEG_KEYS
    rest: np.ndarray  # rest DOFs
    amplitude: float  # how far this person tends to move (multiplies targets)
    tempo: float  # fraction of the clip their action typically fills
    sway: float  # idle sway amplitude (radians)
    style: np.ndarray  # per-DOF bias of this person's target poses (radians)


def _make_performers(seed: int, count: int) -> list[_Performer]:
    rng = np.random.default_rng([seed, 0])
    performers = []
    for _ in range(count):
        height = rng.uniform(1.50, 1.92)
        props = np.clip(rng.normal(1.0, 0.06, len(_SEG_KEYS)), 0.85, 1.15)
        props[_S["shoulder_w"]] = np.clip(rng.normal(1.0, 0.1), 0.8, 1.2)
        performers.append(
            _Performer(
                segments=_SEG_REF * (height / 1.70) * props,
                rest=_REST + rng.normal(0.0, 1.0, len(DOFS)) * _REST_SD,
                amplitude=float(rng.uniform(0.85, 1.1)),
                tempo=float(rng.uniform(0.55, 0.9)),
                sway=float(rng.uniform(0.01, 0.05)),
                style=rng.normal(0.0, 0.15, len(DOFS)),
            )
        )
    return performers


def train_performers(num_performers: int) -> np.ndarray:
    """Performers of the training side of the cross-performer split: the first
    ``ceil(P / 2)`` (the rest are test), mirroring NTU's half/half subjects."""
    return np.arange((num_performers + 1) // 2)


# ----------------------------------------------------------------------------
# Motion: DOF trajectories
# ----------------------------------------------------------------------------


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _envelope(u: np.ndarray, move: Move, reps: int, window: tuple[float, float]) -> np.ndarray:
    """Weight in [0, 1] of ``move`` at action times ``u``: ``reps`` bumps (or a
    ramp) inside ``window``; zero before it."""
    s, e = window
    v = (u - s) / max(e - s, 1e-6)
    if move.shape == "ramp":
        return _smooth(v)
    x = v * reps - move.phase
    k = np.floor(x)
    f = (x - k) / move.duty
    r = _RISE[move.speed]
    w = _smooth(f / r) * _smooth((1.0 - f) / r)
    return np.where((k >= 0) & (k < reps) & (f <= 1.0), w, 0.0)


def _apply_moves(
    dofs: np.ndarray, u: np.ndarray, moves: Sequence[Move], rng: np.random.Generator,
    performer: _Performer, repeat_count: int, strength: float = 1.0,
) -> None:
    """Blend/add every move into ``dofs`` (T, D), in order, with per-sample
    amplitude, target and timing jitter plus the performer's own style bias
    (why: no two repetitions of a real action are the same, and a person's
    habits are what a cross-performer split tests). ``strength`` scales the
    whole move (fidgets are weak versions of primitives)."""
    amplitude = performer.amplitude
    for move in moves:
        reps = move.reps if move.reps > 0 else repeat_count
        shift = rng.normal(0.0, 0.03)
        stretch = rng.uniform(0.92, 1.08)
        s, e = move.window
        window = (s + shift, s + shift + (e - s) * stretch)
        w = _envelope(u, move, reps, window)
        scale = amplitude * float(np.clip(rng.normal(1.0, 0.12), 0.65, 1.35))
        if not move.add:  # blending past the target would overshoot the pose
            scale = float(np.clip(scale, 0.75, 1.0))
        scale *= strength
        pose = POSES[_KIND[move.part]][move.pose]
        for prefix in PARTS[move.part]:
            for suffix, target in pose.items():
                col = _D[prefix + suffix]
                if move.add:
                    dofs[:, col] += w * scale * target * rng.uniform(0.9, 1.1)
                else:
                    goal = target + performer.style[col] + rng.normal(0.0, 0.1)
                    dofs[:, col] += w * scale * (goal - dofs[:, col])


def _sway(t: np.ndarray, rng: np.random.Generator, amp: float) -> np.ndarray:
    """Idle sway: two slow sinusoids per swaying DOF (why: real people are
    never still, and a still 'rest of the body' would make classes too easy)."""
    out = np.zeros((len(t), len(DOFS)))
    n = len(_SWAY)
    for _ in range(2):
        freq = rng.uniform(0.1, 0.6, n)  # cycles per second at 30 fps
        ph = rng.uniform(0, 2 * np.pi, n)
        a = amp * rng.uniform(0.3, 1.0, n)
        out[:, _SWAY] += a * np.sin(2 * np.pi * freq * t[:, None] / 30.0 + ph)
    return out


# ----------------------------------------------------------------------------
# Forward kinematics
# ----------------------------------------------------------------------------


def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    """Rotation matrices (T, 3, 3) about x (0), y (1) or z (2)."""
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros(angle.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m[..., axis, axis] = 1.0
    m[..., i, i] = c
    m[..., j, j] = c
    m[..., i, j] = -s
    m[..., j, i] = s
    return m


def _apply(rot: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.einsum("tij,tj->ti", rot, v)


def _limb_dir(elev: np.ndarray, azim: np.ndarray, side: float) -> np.ndarray:
    """Unit vector (T, 3) of an arm segment in the torso frame."""
    se = np.sin(elev)
    return np.stack([side * se * np.sin(azim), -np.cos(elev), -se * np.cos(azim)], axis=-1)


def _leg_dir(flex: np.ndarray, abd: np.ndarray, side: float) -> np.ndarray:
    ca = np.cos(abd)
    return np.stack([side * np.sin(abd), -ca * np.cos(flex), -ca * np.sin(flex)], axis=-1)


def _forward_kinematics(dofs: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Joint positions (T, 25, 3) in the body frame, floor at y = 0.

    Why the pelvis height is solved rather than animated: with the lower ankle
    pinned to the floor, squats lower the body and lifted legs do not sink it,
    so whole-body moves look physical without a separate root trajectory.
    """
    t = dofs.shape[0]
    d = lambda name: dofs[:, _D[name]]  # noqa: E731
    L = lambda name: seg[_S[name]]  # noqa: E731
    j = np.zeros((t, 25, 3))
    up = np.array([0.0, 1.0, 0.0])

    # Legs in the pelvis frame (pelvis at the origin).
    for side, pre, (hip, knee, ankle, foot) in ((-1.0, "l_", (12, 13, 14, 15)), (1.0, "r_", (16, 17, 18, 19))):
        flex, abd, kn = d(pre + "th_f"), d(pre + "th_a"), d(pre + "kn")
        j[:, hip] = [side * L("hip_w"), -L("hip_d"), 0.0]
        j[:, knee] = j[:, hip] + L("thigh") * _leg_dir(flex, abd, side)
        shin = flex - kn
        j[:, ankle] = j[:, knee] + L("shin") * _leg_dir(shin, abd, side)
        ang = 1.25 + np.maximum(shin, 0.0)  # the foot stays flat unless the shin swings forward
        j[:, foot] = j[:, ankle] + L("foot") * np.stack(
            [np.zeros(t), -np.cos(ang), -np.sin(ang)], axis=-1
        )

    # Upper body: the spine bends partly at spine_mid, fully above it.
    pitch, roll, yaw = d("torso_pitch"), d("torso_roll"), d("torso_yaw")
    r_low = _rot(1, 0.4 * yaw) @ _rot(0, -0.4 * pitch) @ _rot(2, 0.4 * roll)
    r_up = _rot(1, yaw) @ _rot(0, -pitch) @ _rot(2, roll)
    j[:, 1] = _apply(r_low, np.broadcast_to(up * L("pelvis_mid"), (t, 3)))
    j[:, 20] = j[:, 1] + _apply(r_up, np.broadcast_to(up * L("mid_shoulder"), (t, 3)))
    j[:, 2] = j[:, 20] + _apply(r_up, np.broadcast_to(up * L("neck"), (t, 3)))
    r_head = r_up @ _rot(1, d("head_yaw")) @ _rot(0, -d("head_pitch"))
    # The head centre sits a little in front of the neck axis, so turning the
    # head moves it (slightly) - a head on the axis would make yaw invisible.
    j[:, 3] = j[:, 2] + _apply(r_head, np.broadcast_to([0.0, L("head"), -0.05], (t, 3)))

    fwd_hint = np.array([0.0, 0.0, -1.0])
    for side, pre, (sh, el, wr, ha, tip, th) in (
        (-1.0, "l_", (4, 5, 6, 7, 21, 22)), (1.0, "r_", (8, 9, 10, 11, 23, 24)),
    ):
        ua = _limb_dir(d(pre + "ua_e"), d(pre + "ua_a"), side)
        fa = _limb_dir(d(pre + "fa_e"), d(pre + "fa_a"), side)
        # Thumb: off the hand line towards the front/inside (palm facing in).
        hint = fwd_hint + np.array([-0.35 * side, 0.0, 0.0])
        perp = hint - (fa @ hint)[:, None] * fa
        perp += 1e-3 * up
        perp /= np.linalg.norm(perp, axis=-1, keepdims=True)
        thumb_dir = 0.55 * fa + 0.85 * perp
        j[:, sh] = j[:, 20] + _apply(r_up, np.broadcast_to([side * L("shoulder_w"), -0.035, 0.0], (t, 3)))
        j[:, el] = j[:, sh] + L("upper_arm") * _apply(r_up, ua)
        j[:, wr] = j[:, el] + L("forearm") * _apply(r_up, fa)
        j[:, ha] = j[:, wr] + L("hand") * _apply(r_up, fa)
        j[:, tip] = j[:, ha] + L("tip") * _apply(r_up, fa)
        j[:, th] = j[:, ha] + L("thumb") * _apply(r_up, thumb_dir)

    # Stand on the lower ankle, then add the jump offset.
    lowest = np.minimum(j[:, 14, 1], j[:, 18, 1])
    j[..., 1] += (_ANKLE_H - lowest + np.maximum(d("jump"), 0.0))[:, None]
    # Whole-body turn about the vertical axis through the pelvis.
    return np.einsum("tij,tvj->tvi", _rot(1, d("pelvis_yaw")), j)


# ----------------------------------------------------------------------------
# Sensor model
# ----------------------------------------------------------------------------

_DISTAL = np.array([3, 6, 7, 10, 11, 14, 15, 18, 19, 21, 22, 23, 24])
_NOISE_SCALE = np.ones(25)
_NOISE_SCALE[[7, 11, 15, 19]] = 1.5
_NOISE_SCALE[[21, 22, 23, 24]] = 2.2


def _sensor(kp: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Kinect-like errors on one body (T, 25, 3): white jitter plus slow drift
    per joint (larger on hands and feet) and occasional glitches where a
    distal joint jumps away or freezes for a few frames."""
    if noise <= 0:
        return kp
    t = kp.shape[0]
    scale = (noise * _NOISE_SCALE)[None, :, None]
    out = kp + rng.normal(0.0, 1.0, kp.shape) * scale * 0.8
    drift = rng.normal(0.0, 1.0, (t + 8, 25, 3))
    drift = np.cumsum(drift, axis=0)
    drift = (drift[8:] - drift[:-8]) / np.sqrt(8.0)  # moving sum: smooth, unit variance
    out += drift * scale * 0.6
    for _ in range(rng.poisson(0.6)):
        joint = int(rng.choice(_DISTAL))
        start = int(rng.integers(0, t))
        stop = min(t, start + int(rng.integers(2, 9)))
        if rng.random() < 0.5:
            out[start:stop, joint] += rng.normal(0.0, 6.0 * noise, 3)
        else:
            out[start:stop, joint] = out[start, joint]
    return out


# ----------------------------------------------------------------------------
# Generation
# ----------------------------------------------------------------------------

#: Weak unrelated motions a performer sometimes makes during a sample (why: real
#: recordings contain them, and a classifier should rely on the motion that
#: defines the class, not on the rest of the body being perfectly still).
#: Only fidgets touching none of the class's DOFs are used.
_FIDGETS: tuple[Move, ...] = (
    Move("right_arm", "forward", window=(-0.2, 1.2)),
    Move("left_arm", "forward", window=(-0.2, 1.2)),
    Move("right_arm", "sideways", window=(-0.2, 1.2)),
    Move("left_arm", "sideways", window=(-0.2, 1.2)),
    Move("head", "turn_left", add=True, window=(-0.2, 1.2)),
    Move("head", "nod", add=True, window=(-0.2, 1.2)),
    Move("torso", "lean_forward", window=(-0.2, 1.2)),
    Move("right_leg", "step", window=(-0.2, 1.2)),
    Move("left_leg", "step", window=(-0.2, 1.2)),
)
_FIDGET_P = 0.35


def _touched(moves: Sequence[Move]) -> set[int]:
    """DOF columns a set of moves writes to."""
    return {
        _D[prefix + suffix]
        for m in moves
        for prefix in PARTS[m.part]
        for suffix in POSES[_KIND[m.part]][m.pose]
    }


def _body_track(
    action_moves: Sequence[Move], performer: _Performer, rng: np.random.Generator,
    clock: np.ndarray, start: float, duration: float, repeat_count: int,
) -> np.ndarray:
    """Body-frame joints (T, 25, 3) of one person doing ``action_moves``;
    ``clock`` is the (warped) clip time in [0, 1] of each frame."""
    length = len(clock)
    frames = np.arange(length, dtype=np.float64)
    u = (clock - start) / duration
    dofs = np.tile(performer.rest, (length, 1)) + _sway(frames, rng, performer.sway)
    _apply_moves(dofs, u, action_moves, rng, performer, repeat_count)
    if rng.random() < _FIDGET_P:
        used = _touched(action_moves)
        options = [f for f in _FIDGETS if not (_touched((f,)) & used)]
        if options:
            fidget = options[int(rng.integers(len(options)))]
            _apply_moves(dofs, u, (fidget,), rng, performer, 1, rng.uniform(0.2, 0.4))
    return _forward_kinematics(dofs, performer.segments)


def _place(kp: np.ndarray, yaw: float, pos: np.ndarray) -> np.ndarray:
    """Rotate a body-frame track by ``yaw`` about y and move it to ``pos``."""
    r = _rot(1, np.array(yaw))
    return kp @ r.T + pos


def _sample(
    action: SyntheticAction, performer: _Performer, partner: _Performer | None,
    rng: np.random.Generator, noise: float, frames: int,
) -> np.ndarray:
    length = int(rng.integers(60, 141))  # 2 to 4.7 s at 30 fps
    duration = float(np.clip(performer.tempo * rng.uniform(0.85, 1.15), 0.5, 0.97))
    start = float(rng.uniform(0.0, 1.0 - duration))
    repeat_count = int(rng.integers(3, 6))
    # A monotone time warp: people speed up and slow down within an action.
    lin = np.linspace(0.0, 1.0, length)
    clock = lin + rng.uniform(-0.6, 0.6) * np.sin(2 * np.pi * lin) / (2 * np.pi)
    bodies = [_body_track(action.moves, performer, rng, clock, start, duration, repeat_count)]
    cam_height = rng.uniform(0.7, 1.4)
    pos = np.array([rng.uniform(-0.7, 0.7), -cam_height, rng.uniform(2.0, 4.0)])
    if action.two_person:
        assert partner is not None
        lag = rng.normal(0.0, 0.03)
        bodies.append(
            _body_track(action.partner_moves, partner, rng, clock, start + lag, duration, repeat_count)
        )
        # Face each other along a line roughly across the camera's view.
        yaw = rng.choice([-1.0, 1.0]) * np.pi / 2 + rng.uniform(-0.5, 0.5)
        facing = np.array([-np.sin(yaw), 0.0, -np.cos(yaw)])  # body forward after the yaw
        gap = rng.uniform(0.75, 1.15)
        placed = [
            _place(bodies[0], yaw, pos - 0.5 * gap * facing),
            _place(bodies[1], yaw + np.pi + rng.normal(0.0, 0.15), pos + 0.5 * gap * facing),
        ]
        if rng.random() < 0.5:  # file order of bodies is arbitrary in NTU
            placed.reverse()
    else:
        placed = [_place(bodies[0], rng.uniform(-0.8, 0.8), pos)]
    tilt = _rot(0, np.array(rng.uniform(-0.2, 0.2)))
    kp = np.zeros((2, length, 25, 3))
    for b, body in enumerate(placed):
        kp[b] = _sensor(body @ tilt.T, rng, noise)
    return preprocess_sequence(kp, "ntu25", frames=frames)


def generate(
    samples_per_class: int = 40,
    seed: int = 0,
    frames: int = 50,
    num_performers: int = 10,
    classes: Sequence[int] | None = None,
    noise: float = DEFAULT_NOISE,
    extra_test_per_class: int = 0,
) -> SkeletonSet:
    """Generate the synthetic benchmark as a preprocessed :class:`SkeletonSet`.

    Args:
        samples_per_class: samples of each class; sample ``j`` is performed
            by performer ``j % num_performers`` so every class has every
            performer.
        seed: everything (performers, samples) derives from it; each sample
            has its own generator keyed by ``(seed, class, j)``, so selecting
            ``classes`` yields exactly the same samples as the full set.
        frames: output length T after resampling.
        num_performers: size of the performer pool; the first
            ``ceil(P / 2)`` are the ``train`` subset, the others ``test``.
        classes: global class indices to generate (default all); labels stay
            global and class names/descriptions cover all classes.
        noise: sensor jitter in metres (0 = clean, no glitches).
        extra_test_per_class: further samples of each class, all by ``test``
            performers (cycling over them), appended after the regular ones.
            Why: a transductive step such as prototype alignment, and the
            accuracy estimate itself, depend on how many test samples there
            are, while the training side (and so the trained model) should
            not change; samples ``0 .. samples_per_class - 1`` stay exactly
            what they are without this option.

    Returns:
        ``data`` (N, 3, frames, 25, 2) float32, ``labels`` int64, sample ids
        ``c{class:02d}_p{performer:02d}_s{j:03d}``, subsets ``train``/``test``.
    """
    if samples_per_class < 1 or num_performers < 1 or frames < 2:
        raise ValueError("samples_per_class, num_performers must be >= 1 and frames >= 2")
    if extra_test_per_class < 0:
        raise ValueError(f"extra_test_per_class must be >= 0, got {extra_test_per_class}")
    class_list = list(range(len(SYNTHETIC_ACTIONS))) if classes is None else [int(c) for c in classes]
    for c in class_list:
        if not 0 <= c < len(SYNTHETIC_ACTIONS):
            raise ValueError(f"class index {c} outside 0..{len(SYNTHETIC_ACTIONS) - 1}")
    performers = _make_performers(seed, num_performers)
    n_train = len(train_performers(num_performers))
    groups = [list(range(n_train)), list(range(n_train, num_performers))]
    if extra_test_per_class and not groups[1]:
        raise ValueError("extra_test_per_class needs at least two performers (one on the test side)")

    per_class = samples_per_class + extra_test_per_class
    n = len(class_list) * per_class
    data = np.empty((n, 3, frames, 25, 2), dtype=np.float32)
    labels = np.empty(n, dtype=np.int64)
    perf_of = np.empty(n, dtype=np.int64)
    ids: list[str] = []
    i = 0
    for c in class_list:
        action = SYNTHETIC_ACTIONS[c]
        for j in range(per_class):
            rng = np.random.default_rng([seed, 1, c, j])
            p = j % num_performers if j < samples_per_class else groups[1][j % len(groups[1])]
            partner = None
            if action.two_person:
                # The partner comes from the same side of the split, so test
                # performers never appear in training data as partners.
                group = groups[0] if p < n_train else groups[1]
                others = [q for q in group if q != p] or [p]
                partner = performers[others[int(rng.integers(len(others)))]]
            data[i] = _sample(action, performers[p], partner, rng, noise, frames)
            labels[i] = c
            perf_of[i] = p
            ids.append(f"c{c:02d}_p{p:02d}_s{j:03d}")
            i += 1
    train = np.flatnonzero(perf_of < n_train)
    test = np.flatnonzero(perf_of >= n_train)
    return SkeletonSet(
        data=data,
        labels=labels,
        layout=get_layout("ntu25").name,
        class_names=[a.name for a in SYNTHETIC_ACTIONS],
        class_descriptions=[a.description for a in SYNTHETIC_ACTIONS],
        sample_ids=ids,
        subsets={"train": train, "test": test},
        source=(
            f"synthetic(seed={seed}, samples_per_class={samples_per_class}, "
            f"num_performers={num_performers}, noise={noise}"
            + (f", extra_test_per_class={extra_test_per_class})" if extra_test_per_class else ")")
        ),
    )


def synthetic_class_texts() -> list[ClassText]:
    """Class texts (name and description) of all synthetic classes, index = label."""
    return [ClassText(a.name, a.description) for a in SYNTHETIC_ACTIONS]


# ----------------------------------------------------------------------------
# Difficulty proxy
# ----------------------------------------------------------------------------


def difficulty_proxy(dataset: SkeletonSet, l2: float = 1e-3) -> dict[str, float]:
    """Cross-performer accuracy of two cheap classifiers on flattened sequences.

    Why: the benchmark must be hard enough that model quality shows. If a
    nearest-class-mean or a linear classifier on raw coordinates were near
    100 %, every method would be too. Both are trained on the ``train``
    subset (all classes, supervised) and scored on ``test``.

    Returns ``{"ncm": ..., "logreg": ..., "min_mean_distance": ...}``, the
    last being the smallest distance between two class-mean sequences.
    """
    import torch

    x = dataset.data.reshape(len(dataset), -1).astype(np.float64)
    y = dataset.labels
    tr, te = dataset.subsets["train"], dataset.subsets["test"]
    classes = np.unique(y)
    means = np.stack([x[tr][y[tr] == c].mean(axis=0) for c in classes])
    d2 = (x[te] ** 2).sum(1)[:, None] - 2.0 * x[te] @ means.T + (means**2).sum(1)[None]
    ncm = float((classes[d2.argmin(1)] == y[te]).mean())
    dist = np.sqrt(((means[:, None] - means[None]) ** 2).sum(-1))
    min_dist = float(dist[~np.eye(len(classes), dtype=bool)].min()) if len(classes) > 1 else 0.0

    mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-3
    xa = torch.tensor((x[tr] - mu) / sd, dtype=torch.float32)
    xb = torch.tensor((x[te] - mu) / sd, dtype=torch.float32)
    ya = torch.tensor(np.searchsorted(classes, y[tr]))
    gen = torch.Generator().manual_seed(0)
    weight = torch.zeros(xa.shape[1], len(classes), requires_grad=True)
    bias = torch.zeros(len(classes), requires_grad=True)
    with torch.no_grad():
        weight.normal_(0.0, 0.01, generator=gen)
    opt = torch.optim.LBFGS([weight, bias], max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xa @ weight + bias, ya) + l2 * (weight**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred = classes[(xb @ weight + bias).argmax(1).numpy()]
    return {"ncm": ncm, "logreg": float((pred == y[te]).mean()), "min_mean_distance": min_dist}


def _main(argv: Sequence[str] | None = None) -> None:
    """``python -m pgfa.data.synthetic``: generate a set and print the proxies."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("--samples-per-class", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-performers", type=int, default=10)
    parser.add_argument("--noise", type=float, default=DEFAULT_NOISE)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    dataset = generate(
        samples_per_class=args.samples_per_class, seed=args.seed,
        num_performers=args.num_performers, noise=args.noise,
    )
    elapsed = time.perf_counter() - start
    print(f"{dataset.source}: {len(dataset)} samples, {dataset.num_classes} classes, {elapsed:.2f} s")
    print(f"train {len(dataset.subsets['train'])} / test {len(dataset.subsets['test'])} samples (cross-performer)")
    proxy = difficulty_proxy(dataset)
    print(
        f"nearest class mean {proxy['ncm']:.3f}  logistic regression {proxy['logreg']:.3f}  "
        f"min class-mean distance {proxy['min_mean_distance']:.2f}"
    )


if __name__ == "__main__":
    _main()
