"""The synthetic action catalogue: the primitive vocabulary and the classes built from it.

Every class is a list of :class:`Move` primitives (a body part going to a
named pose with a time envelope), and its description is written from the
same primitives with a fixed vocabulary, so an unseen class is a new
combination of parts and motions that seen classes show. The class texts
(:func:`synthetic_class_texts`) come from this table, so the generator and
its texts cannot drift apart.

Imports nothing from pgfa but the :class:`~pgfa.data.skeletons.ClassText`
record, so :mod:`pgfa.data.class_texts` can read it cheaply.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pgfa.data.skeletons import ClassText

__all__ = [
    "DOFS", "PARTS", "POSES", "Move", "SyntheticAction", "SYNTHETIC_ACTIONS", "SUGGESTED_UNSEEN",
    "synthetic_class_texts",
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


def synthetic_class_texts() -> list[ClassText]:
    """Class texts (name and description) of all synthetic classes, index = label."""
    return [ClassText(a.name, a.description) for a in SYNTHETIC_ACTIONS]
