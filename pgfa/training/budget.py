"""The step budget: how many optimisation steps a run takes, and a warning when that is too few.

Why steps and not epochs: what a model learns depends on how many times the
optimiser updates it. The paper's schedule (50 epochs, batch 128) was set for
NTU-60 setting A, about 37,000 seen-class training samples, so
37,000 / 128 x 50 ~ 14,000 steps. The same 50 epochs at batch 128 on a set of a
few hundred clips (the shared UTD-MHAD, NW-UCLA, MSR Action3D sets) are 100 to
300 steps, and a new user's set of 200 clips trains for 50 steps: both ended
at chance, silently.

:data:`MIN_STEPS` = 1000 is the floor below which pgfa warns. Why 1000: it
is the order of magnitude at which the warm-up (5 epochs) and one learning-rate
decay still leave several hundred steps at the full rate, and about 1/14 of
the paper's own budget, the least that a run can be called trained in the
paper's sense; it is fixed by reasoning, not chosen on any result
(docs/PRESET_RULE.md, written before any preset figure).

Steps per epoch follow :func:`pgfa.training.epochs.epoch_batches` exactly:
``ceil(n / batch_size)`` batches, minus a last batch too small for BatchNorm
(fewer than ``max(2, world_size)`` samples) when there is more than one.

Training length in steps (``steps`` in the config, ``pgfa train --steps N``):
the epoch count is derived from the data, ``epochs = ceil(N /
steps_per_epoch)``, and ``max_steps = N`` stops the last epoch where the
budget ends. ``warmup_epochs`` and ``lr_steps`` stay in epochs of that
derived count (an epoch is ``steps_per_epoch`` steps), so give them for the
derived epoch count (``--preset small`` does: its decay is at 80 % of the
derived epochs).
"""
from __future__ import annotations

import dataclasses
import math

from pgfa.config import TrainConfig

__all__ = ["MIN_STEPS", "steps_per_epoch", "total_steps", "epochs_for_steps", "resolve_steps", "budget_warning"]

MIN_STEPS = 1000


def steps_per_epoch(n: int, batch_size: int, world_size: int = 1) -> int:
    """Optimisation steps of one epoch over ``n`` training samples (the drop rule of ``epoch_batches``)."""
    if n <= 0:
        return 0
    count = math.ceil(n / batch_size)
    last = n - (count - 1) * batch_size
    if count > 1 and last < max(2, world_size):
        count -= 1
    return count


def total_steps(config: TrainConfig, n: int, world_size: int = 1) -> int:
    """Steps the run takes: ``epochs x steps_per_epoch``, cut at ``max_steps`` when set."""
    steps = config.epochs * steps_per_epoch(n, config.batch_size, world_size)
    return steps if config.max_steps is None else min(steps, config.max_steps)


def epochs_for_steps(steps: int, n: int, batch_size: int, world_size: int = 1) -> int:
    """Epochs needed for ``steps`` optimisation steps: ``ceil(steps / steps_per_epoch)``."""
    per_epoch = steps_per_epoch(n, batch_size, world_size)
    if per_epoch == 0:
        raise ValueError("no training samples: cannot derive epochs from steps")
    return math.ceil(steps / per_epoch)


def resolve_steps(config: TrainConfig, n: int, world_size: int = 1) -> TrainConfig:
    """``config`` with ``epochs`` and ``max_steps`` derived from ``config.steps`` (unchanged when it is None)."""
    if config.steps is None:
        return config
    epochs = epochs_for_steps(config.steps, n, config.batch_size, world_size)
    return dataclasses.replace(config, epochs=epochs, max_steps=config.steps)


def budget_warning(config: TrainConfig, n: int, world_size: int = 1) -> str | None:
    """The warning printed before training when the run has fewer than :data:`MIN_STEPS` steps, else None."""
    steps = total_steps(config, n, world_size)
    if steps >= MIN_STEPS:
        return None
    per_epoch = steps_per_epoch(n, config.batch_size, world_size)
    return (f"warning: this run takes only {steps} optimisation steps ({config.epochs} epochs x {per_epoch} "
            f"steps of batch {config.batch_size} over {n} training samples"
            f"{f', max_steps {config.max_steps}' if config.max_steps is not None else ''}); fewer than "
            f"{MIN_STEPS} usually leaves a small dataset's model near chance. Use --preset small (batch size "
            f"and length from the data's size), or a smaller --batch-size, more --epochs or --steps "
            f"{MIN_STEPS}")
