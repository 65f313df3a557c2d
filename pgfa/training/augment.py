"""Skeleton augmentation of training batches (``augment`` in the config; none by default, as the paper).

Why: a few hundred clips are too few for a graph network to learn which
variations of a movement do not change its class. Each augmentation below
makes one such variation explicit. They act on a training batch ``x`` of
shape ``(N, C, T, V, M)`` (C = 3 coordinates x, y, z; T frames; V joints; M
bodies) where it already lives (CPU or GPU), with torch operations over the
whole batch and per-sample random parameters.

Axes after preprocessing (:mod:`pgfa.data.preprocess`, SPEC 2): every body is
centred on its own centre joint and rotated about the vertical **y** axis so
that its left-to-right shoulder line points along **+x**; so x is the lateral
(left/right) axis, y the vertical one and z the depth. A missing second body
(or a body untracked in a frame) is all zeros; every augmentation keeps it
zero (the linear ones map 0 to 0, the noise is added only where a body is
present in that frame).

The augmentations and their fixed ranges (module constants below):

* ``rotate``: about the vertical axis by an angle uniform in ±30°. People face
  the camera at any angle; preprocessing removes most of that, but a body's
  hips and limbs still turn relative to its shoulders, and already-processed
  arrays may not be rotated at all. 30° keeps the front of the body in front.
* ``scale``: all coordinates by a factor uniform in [0.8, 1.2], about the
  spread of adult body sizes (a 1.7 m person stands for 1.36-2.04 m).
* ``shear``: coordinates times ``I + S`` with each off-diagonal entry of ``S``
  uniform in ±0.2: a body leaning or stretched by up to a fifth of its size,
  milder than the 0.5 used by contrastive pre-training (AimCLR), which cares
  less about keeping the pose recognisable.
* ``crop``: a random window of 80-100 % of the T frames, resampled back to T
  (linear interpolation): the action seen a little late or cut a little early.
* ``speed``: played at a speed factor log-uniform in [0.8, 1.25] (both
  directions alike); slower: a random window of the stretched sequence is
  kept; faster: the sequence ends early and its last pose is held to T frames.
* ``noise``: Gaussian noise of standard deviation 1 cm on every present joint,
  about the frame-to-frame jitter of a Kinect-class depth sensor.
* ``mirror``: with probability ½ the body is mirrored: left and right joints
  swap (pairs found from the layout's joint names) and x is negated. Only for
  samples whose class's name and description never say "left" or "right"
  (:func:`mirror_allowed`): mirroring "wave left hand" would make it "wave
  right hand". A layout without left/right joints refuses ``mirror``.

They are applied in the order of :data:`pgfa.config.AUGMENTATIONS` whatever
the order the config lists them in. The random parameters come from a
``torch.Generator`` on the batch's device seeded from ``(seed, epoch, step,
rank)`` (:func:`batch_generator`): a run is reproducible, a resumed run draws
what the uninterrupted one drew, and the global random stream (dropout) is
not touched. Validation, BatchNorm recalibration, evaluation and feature
export never see augmented data: only the epoch loop's training steps call it
(:func:`pgfa.training.epochs.run_epochs`).
"""
from __future__ import annotations

import math
import re
from typing import Callable, Sequence

import numpy as np
import torch

from pgfa.config import AUGMENTATIONS
from pgfa.data.layouts import Layout, get_layout
from pgfa.errors import ConfigError

__all__ = ["rotate", "scale", "shear", "crop", "speed", "noise", "mirror", "augment_batch", "mirror_permutation",
           "mirror_allowed", "batch_generator", "BatchAugmenter", "batch_augmenter",
           "ROTATE_DEGREES", "SCALE_RANGE", "SHEAR", "CROP_RANGE", "SPEED_RANGE", "NOISE_STD", "MIRROR_PROBABILITY"]

LATERAL, VERTICAL, DEPTH = 0, 1, 2  # coordinate axes after preprocessing (x, y, z)

ROTATE_DEGREES = 30.0
SCALE_RANGE = (0.8, 1.2)
SHEAR = 0.2
CROP_RANGE = (0.8, 1.0)
SPEED_RANGE = (0.8, 1.25)
NOISE_STD = 0.01
MIRROR_PROBABILITY = 0.5

_SIDE_WORD = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def _uniform(generator: torch.Generator, x: torch.Tensor, low: float, high: float, *shape: int) -> torch.Tensor:
    """Uniform draws in ``[low, high)`` of shape ``(N, *shape)`` on ``x``'s device, in its dtype."""
    u = torch.rand((x.shape[0], *shape), generator=generator, device=x.device, dtype=x.dtype)
    return low + (high - low) * u


def _transform(x: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Per-sample ``(3, 3)`` matrices times the coordinates: ``matrices`` ``(N, 3, 3)``, ``x`` ``(N, 3, T, V, M)``."""
    return torch.einsum("nij,njtvm->nitvm", matrices, x)


def rotate(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Rotate each sample about the vertical (y) axis by an angle uniform in ±``ROTATE_DEGREES``.

    ``x`` ``(N, 3, T, V, M)``; y is unchanged, bone lengths too.
    """
    angle = _uniform(generator, x, -math.radians(ROTATE_DEGREES), math.radians(ROTATE_DEGREES))
    cos, sin = torch.cos(angle), torch.sin(angle)
    matrices = torch.zeros(x.shape[0], 3, 3, device=x.device, dtype=x.dtype)
    matrices[:, VERTICAL, VERTICAL] = 1.0
    matrices[:, LATERAL, LATERAL] = cos
    matrices[:, LATERAL, DEPTH] = sin
    matrices[:, DEPTH, LATERAL] = -sin
    matrices[:, DEPTH, DEPTH] = cos
    return _transform(x, matrices)


def scale(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Multiply each sample's coordinates by one factor uniform in ``SCALE_RANGE``; ``x`` ``(N, 3, T, V, M)``."""
    factor = _uniform(generator, x, *SCALE_RANGE)
    return x * factor.view(-1, 1, 1, 1, 1)


def shear(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Coordinates times ``I + S``, each off-diagonal of ``S`` uniform in ±``SHEAR`` per sample.

    ``x`` ``(N, 3, T, V, M)``.
    """
    off = _uniform(generator, x, -SHEAR, SHEAR, 3, 3)
    eye = torch.eye(3, device=x.device, dtype=x.dtype)
    return _transform(x, eye + off * (1 - eye))


def _resample(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Linear interpolation along time: output frame t of sample n is ``x`` at frame ``positions[n, t]``.

    ``x`` ``(N, C, T, V, M)``; ``positions`` ``(N, T')`` in ``[0, T - 1]`` (clamped) gives ``(N, C, T', V, M)``.
    """
    n, c, t, v, m = x.shape
    positions = positions.clamp(0, t - 1)
    lo = positions.floor().long().clamp(max=t - 1)
    hi = (lo + 1).clamp(max=t - 1)
    weight = (positions - lo).view(n, 1, -1, 1, 1).to(x.dtype)
    shape = (n, c, positions.shape[1], v, m)
    before = x.gather(2, lo.view(n, 1, -1, 1, 1).expand(shape))
    after = x.gather(2, hi.view(n, 1, -1, 1, 1).expand(shape))
    return before + weight * (after - before)


def crop(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Keep a random window of a ``CROP_RANGE`` fraction of the frames, resampled back to T.

    ``x`` ``(N, C, T, V, M)``.
    """
    t = x.shape[2]
    span = _uniform(generator, x, *CROP_RANGE) * (t - 1)  # (N,) window length in frame steps
    start = _uniform(generator, x, 0.0, 1.0) * (t - 1 - span)
    steps = torch.linspace(0.0, 1.0, t, device=x.device, dtype=x.dtype)
    return _resample(x, start[:, None] + span[:, None] * steps)


def speed(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Play each sample at a speed log-uniform in ``SPEED_RANGE``, cropped (slower) or last-pose padded (faster) to T.

    ``x`` ``(N, C, T, V, M)``. Output frame t shows input frame ``start + factor * t``.
    """
    t = x.shape[2]
    factor = torch.exp(_uniform(generator, x, math.log(SPEED_RANGE[0]), math.log(SPEED_RANGE[1])))
    start = _uniform(generator, x, 0.0, 1.0) * ((t - 1) * (1 - factor)).clamp(min=0)
    frames = torch.arange(t, device=x.device, dtype=x.dtype)
    return _resample(x, start[:, None] + factor[:, None] * frames)


def noise(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Add Gaussian noise of standard deviation ``NOISE_STD`` to every joint of a body present in that frame.

    ``x`` ``(N, C, T, V, M)``; a (frame, body) whose joints are all zero (padding) stays zero.
    """
    present = (x != 0).any(dim=3, keepdim=True).any(dim=1, keepdim=True)  # (N, 1, T, 1, M)
    draw = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + NOISE_STD * draw * present


def mirror_permutation(layout: str | Layout) -> tuple[int, ...]:
    """Joint order of the mirrored body: each ``*left*`` joint swapped with its ``*right*`` namesake.

    Raises ``ConfigError`` (key ``augment``) when the layout has no such pair: it cannot be mirrored.
    """
    layout = get_layout(layout)
    index = {name: i for i, name in enumerate(layout.joints)}
    perm = list(range(layout.num_joints))
    swap = {"left": "right", "right": "left"}
    for i, name in enumerate(layout.joints):
        other = re.sub(r"(?<![a-z])(left|right)(?![a-z])", lambda m: swap[m.group(1)], name)
        if other != name and other in index:
            perm[i] = index[other]
    if perm == list(range(layout.num_joints)):
        raise ConfigError(f"augment: mirror needs left/right joint pairs, and layout {layout.name} has none "
                          "(no joint names with left/right); remove mirror from augment", key="augment")
    return tuple(perm)


def mirror(x: torch.Tensor, generator: torch.Generator, allowed: torch.Tensor | None = None,
           layout: str | Layout = "ntu25") -> torch.Tensor:
    """Mirror each allowed sample with probability ``MIRROR_PROBABILITY``: left/right joints swap, x is negated.

    ``x`` ``(N, 3, T, V, M)``; ``allowed`` ``(N,)`` bool (None: every sample may be mirrored).
    """
    perm = torch.tensor(mirror_permutation(layout), device=x.device)
    sign = torch.ones(3, device=x.device, dtype=x.dtype)
    sign[LATERAL] = -1.0
    mirrored = x.index_select(3, perm) * sign.view(1, 3, 1, 1, 1)
    chosen = _uniform(generator, x, 0.0, 1.0) < MIRROR_PROBABILITY
    if allowed is not None:
        chosen = chosen & allowed.to(device=x.device, dtype=torch.bool)
    return torch.where(chosen.view(-1, 1, 1, 1, 1), mirrored, x)


_PLAIN: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "rotate": rotate, "scale": scale, "shear": shear, "crop": crop, "speed": speed, "noise": noise}


def augment_batch(x: torch.Tensor, names: Sequence[str], generator: torch.Generator,
                  mirror_ok: torch.Tensor | None = None, layout: str | Layout = "ntu25") -> torch.Tensor:
    """The batch ``x`` ``(N, C, T, V, M)`` with the augmentations ``names`` applied; a new tensor, same shape/device.

    Applied in the order of :data:`pgfa.config.AUGMENTATIONS`; ``mirror_ok`` ``(N,)`` bool says which samples
    may be mirrored (None: all); ``generator`` lives on ``x``'s device.
    """
    unknown = sorted(set(names) - set(AUGMENTATIONS))
    if unknown:
        raise ConfigError(f"augment: unknown augmentation(s) {', '.join(unknown)}; known: "
                          f"{', '.join(AUGMENTATIONS)}", key="augment")
    for name in AUGMENTATIONS:
        if name not in names:
            continue
        if name == "mirror":
            x = mirror(x, generator, mirror_ok, layout)
        else:
            x = _PLAIN[name](x, generator)
    return x


def mirror_allowed(texts: Sequence) -> np.ndarray:
    """``(K,)`` bool: whether class k may be mirrored, i.e. neither its name nor its description says left or right.

    ``texts``: one :class:`pgfa.data.skeletons.ClassText` (``name``, ``description``) per class index.
    """
    return np.array([not (_SIDE_WORD.search(t.name or "") or _SIDE_WORD.search(t.description or ""))
                     for t in texts], dtype=bool)


def batch_generator(device: torch.device | str, seed: int, epoch: int, step: int, rank: int = 0) -> torch.Generator:
    """A generator on ``device`` seeded from ``(seed, epoch, step, rank)`` only, so a resumed run draws alike."""
    mixed = ((((seed * 1_000_003 + epoch) * 1_000_033 + step) * 1_009 + rank) + 0x5EED_A06) % (2**63)
    return torch.Generator(device=torch.device(device)).manual_seed(mixed)


class BatchAugmenter:
    """A run's augmentation: which names, on which layout, and which classes may be mirrored.

    Built once per run (:func:`batch_augmenter`); :meth:`for_batch` gives the epoch loop one
    ``(x, labels) -> x`` per training step, ``labels`` ``(N,)`` the samples' class indices.
    """

    def __init__(self, names: Sequence[str], layout: str | Layout, texts: Sequence, seed: int,
                 device: torch.device | str, rank: int = 0):
        self.names = [n for n in AUGMENTATIONS if n in names]
        self.layout = get_layout(layout)
        self.seed, self.device, self.rank = seed, torch.device(device), rank
        self.class_ok = mirror_allowed(texts)
        if "mirror" in self.names:
            mirror_permutation(self.layout)  # refuses a layout without left/right pairs, before training
        self._class_ok = torch.from_numpy(self.class_ok).to(self.device)

    def for_batch(self, epoch: int, step: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The augmentation of training step ``step`` (0-based, within ``epoch``)."""
        generator = batch_generator(self.device, self.seed, epoch, step, self.rank)

        def apply(x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            ok = self._class_ok[labels.to(self._class_ok.device)] if "mirror" in self.names else None
            return augment_batch(x, self.names, generator, ok, self.layout)

        return apply

    def describe(self) -> str:
        """One line for the training log: which augmentations are on (and how many classes are never mirrored)."""
        text = "augmentation: " + ", ".join(self.names)
        if "mirror" in self.names:
            text += (f" (mirror skipped for {int((~self.class_ok).sum())} of {len(self.class_ok)} classes whose "
                     "text says left or right)")
        return text


def batch_augmenter(session) -> BatchAugmenter | None:
    """The augmenter of a :class:`~pgfa.training.epochs.TrainingSession`, or None when ``config.augment`` is empty.

    None means the epoch loop skips augmentation entirely (no generator, no draw): the paper's training.
    """
    config = session.config
    if not config.augment:
        return None
    return BatchAugmenter(config.augment, session.inputs.skeletons.layout, session.inputs.texts, config.seed,
                          session.device, session.ctx.rank)
