"""Body model of the synthetic benchmark: performers, DOF trajectories, forward kinematics.

A performer (body size, limb proportions, rest posture, tempo and amplitude
style) is drawn from a seeded pool; a per-frame vector of joint angles
(degrees of freedom, :data:`~pgfa.data.synthetic.catalogue.DOFS`) starts at
the rest posture plus idle sway, every move of the class blends or adds
its pose with a time envelope, and :func:`_forward_kinematics` turns the
angles into the 25 NTU joints in metres, feet on the floor.

Coordinates: a body frame has x = the subject's right, y = up and z = the
subject's back (forward is -z). This is the frame the SPEC-2 rotation produces
(left-to-right shoulder vector on +x, rotation proper), and it matches Kinect
camera space for a subject facing the camera.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pgfa.data.synthetic.catalogue import _D, _KIND, _RISE, DOFS, PARTS, POSES, Move

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
