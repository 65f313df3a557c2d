"""Generation of the synthetic benchmark: sensor noise, one sample, the whole set.

:func:`generate` draws every sample from its own generator keyed by
``(seed, class, sample)``, so a subset of the classes yields exactly the
same samples as the full set; :func:`_sample` places one or two bodies in
camera space (yaw, 2-4 m away, camera height and tilt), adds Kinect-like
noise and runs the SPEC section 2 preprocessing.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from pgfa.data.layouts import get_layout
from pgfa.data.preprocess import preprocess_sequence
from pgfa.data.skeletons import SkeletonSet
from pgfa.data.synthetic.catalogue import _D, _KIND, PARTS, POSES, SYNTHETIC_ACTIONS, Move, SyntheticAction
from pgfa.data.synthetic.kinematics import (
    _apply_moves,
    _forward_kinematics,
    _make_performers,
    _Performer,
    _rot,
    _sway,
)

__all__ = ["DEFAULT_NOISE", "generate", "train_performers"]

#: Gaussian sensor jitter per joint and frame (metres, standard deviation).
DEFAULT_NOISE = 0.012


def train_performers(num_performers: int) -> np.ndarray:
    """Performers of the training side of the cross-performer split: the first
    ``ceil(P / 2)`` (the rest are test), mirroring NTU's half/half subjects."""
    return np.arange((num_performers + 1) // 2)


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


def _partner(
    action: SyntheticAction, p: int, group: list[int], performers: list[_Performer], rng: np.random.Generator,
) -> _Performer | None:
    """The second body of a two-person sample by performer ``p`` (``None`` for one-person classes).

    The partner comes from ``group``, the same side of the split as ``p``, so
    test performers never appear in training data as partners.
    """
    if not action.two_person:
        return None
    others = [q for q in group if q != p] or [p]
    return performers[others[int(rng.integers(len(others)))]]


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
            partner = _partner(action, p, groups[0] if p < n_train else groups[1], performers, rng)
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
