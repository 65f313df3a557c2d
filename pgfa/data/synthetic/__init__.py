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

The package, in the order a sample is built:

* :mod:`~pgfa.data.synthetic.catalogue`: the primitive vocabulary (parts,
  poses, envelopes), the class list :data:`SYNTHETIC_ACTIONS` with its texts,
  and :data:`SUGGESTED_UNSEEN`;
* :mod:`~pgfa.data.synthetic.kinematics`: performers (body sizes, rest
  posture, style), DOF trajectories and forward kinematics;
* :mod:`~pgfa.data.synthetic.generator`: sensor noise, one sample, and
  :func:`generate` (the whole set, with its cross-performer split).

The difficulty probe (how hard the set is for cheap classifiers) is
``benchmarks/synthetic_difficulty.py``.
"""
from __future__ import annotations

from pgfa.data.synthetic.catalogue import (
    SUGGESTED_UNSEEN,
    SYNTHETIC_ACTIONS,
    Move,
    SyntheticAction,
    synthetic_class_texts,
)
from pgfa.data.synthetic.generator import DEFAULT_NOISE, generate, train_performers

__all__ = [
    "Move",
    "SyntheticAction",
    "SYNTHETIC_ACTIONS",
    "SUGGESTED_UNSEEN",
    "DEFAULT_NOISE",
    "generate",
    "synthetic_class_texts",
    "train_performers",
]
