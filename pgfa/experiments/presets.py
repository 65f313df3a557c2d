"""``--preset small``: batch size, length and options for a dataset of a few hundred clips.

Why: the paper's settings (batch 128, 50 epochs) were made for NTU's tens of
thousands of clips; on a few hundred they are a few dozen optimisation steps
and the model stays near chance (:mod:`pgfa.training.budget`). The preset
sizes the run by the data instead.

The rule (docs/PRESET_RULE.md, written before any preset figure):

* ``n`` = seen-class training samples after the validation hold-out (the
  run's ``split.train``);
* ``batch_size`` = the largest power of two <= ``n / 16``, clamped to
  [16, 128], so an epoch has about 16 steps or more;
* ``epochs`` = ``max(50, ceil(MIN_STEPS / steps_per_epoch))``, at most 200
  (``MIN_STEPS`` = 1000 optimiser steps);
* ``warmup_epochs`` 5, ``lr`` 0.05, one decay (x0.1) at 80 % of the epochs
  (``lr_steps = [floor(0.8 epochs)]``); every other field as the paper.

These are fixed by reasoning; no data chose them. The options below
(:data:`AUGMENT`, :data:`TEXT_MODE`, :data:`ALIGN_RULE`) are chosen by
``pgfa tune-preset`` on seen-class development splits of the shared sets'
training samples (:mod:`pgfa.experiments.preset_tuning`), never on unseen
classes; :data:`CHOSEN_ON` says which data chose them.

Whatever the user gives (a config file, a flag, ``--set``) wins over the
preset: only the fields the user did not give are resolved. The resolved
values are ordinary config fields, so they land in the run's ``config.yaml``.
"""
from __future__ import annotations

import math

from pgfa.config import TrainConfig
from pgfa.data.skeletons import SkeletonSet
from pgfa.data.splits import make_zero_shot_split
from pgfa.training.budget import MIN_STEPS, epochs_for_steps, steps_per_epoch

__all__ = ["PRESETS", "AUGMENT", "TEXT_MODE", "ALIGN_RULE", "CHOSEN_ON", "RULE", "small_batch_size",
           "small_length", "preset_options", "preset_values", "training_count", "apply_preset", "describe"]

PRESETS = ("small",)
MIN_BATCH, MAX_BATCH, MIN_EPOCHS, MAX_EPOCHS = 16, 128, 50, 200
DECAY_AT = 0.8  # one lr decay at 80 % of the epochs

# Options of --preset small: the winner of `pgfa tune-preset` over UTD-MHAD, NW-UCLA and MSR Action3D
# (docs/PRESET_RULE.md; figures in docs/results/tune_preset/results.md). It is the paper's options.
AUGMENT: list[str] = []
TEXT_MODE = "description"
ALIGN_RULE = "paper"
CHOSEN_ON = ("chosen by pgfa tune-preset on one seen-class development split of the official training samples "
             "of each of UTD-MHAD, NW-UCLA and MSR Action3D (mean held-out top-1 74.0 %; no test sample, no "
             "unseen class): no augmentation, description texts, the paper's alignment")

RULE = ("batch = largest power of two <= n/16 in [16, 128]; epochs = max(50, ceil(1000 / steps per epoch)) <= 200; "
        "warm-up 5 epochs, lr 0.05, one x0.1 decay at 80 % of the epochs (n: seen-class training samples after "
        "the validation hold-out); fixed before any figure")


def small_batch_size(n: int) -> int:
    """The largest power of two <= ``n / 16``, clamped to [16, 128]."""
    batch = MIN_BATCH
    while batch * 2 <= n / 16 and batch * 2 <= MAX_BATCH:
        batch *= 2
    return batch


def small_length(n: int, batch_size: int, world_size: int = 1) -> int:
    """Epochs of the preset: at least :data:`MIN_STEPS` steps, between 50 and 200 epochs."""
    per_epoch = max(1, steps_per_epoch(n, batch_size, world_size))
    return min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(MIN_STEPS / per_epoch)))


def preset_options(name: str) -> dict:
    """The options a preset fixes whatever the data (augmentation, class texts, alignment rule)."""
    _check(name)
    return {"augment": list(AUGMENT), "text_mode": TEXT_MODE, "align_rule": ALIGN_RULE}


def preset_values(name: str, n: int, user: dict | None = None, world_size: int = 1) -> dict:
    """Every field the preset sets for ``n`` training samples, except those in ``user`` (field -> value).

    ``user`` holds the values the user gave: they are not returned (they win),
    but the length is worked out with them (a user's batch size or ``steps``
    decides the epochs; a user's epoch count decides where the lr decays).
    """
    _check(name)
    user = dict(user or {})
    values = {"lr": 0.05, "warmup_epochs": 5, **preset_options(name)}
    batch = user.get("batch_size") or small_batch_size(n)
    values["batch_size"] = batch
    if user.get("steps") is not None:
        epochs = epochs_for_steps(user["steps"], n, batch, world_size)  # what training will derive
    else:
        epochs = user.get("epochs") or small_length(n, batch, world_size)
    values["epochs"] = epochs
    values["lr_steps"] = [math.floor(DECAY_AT * epochs)]
    return {k: v for k, v in values.items() if k not in user}


def training_count(config: TrainConfig, skeletons: SkeletonSet) -> int:
    """``n``: the seen-class training samples of ``config``'s split (after the validation hold-out)."""
    split = make_zero_shot_split(skeletons, config.unseen, config.val_fraction, config.seed)
    return int(len(split.train))


def apply_preset(name: str, config: TrainConfig, skeletons: SkeletonSet, user_fields=(),
                 world_size: int = 1) -> tuple[TrainConfig, dict]:
    """``config`` with the preset's values for its data; the fields in ``user_fields`` keep their values.

    Returns ``(config, resolved)`` where ``resolved`` holds ``n`` and every
    field the preset set (for the log line and the report).
    """
    n = training_count(config, skeletons)
    current = config.to_dict()
    user = {k: current[k] for k in user_fields if k in current}
    values = preset_values(name, n, user, world_size)
    resolved = {"preset": name, "n_train": n, **values}
    return TrainConfig.from_dict({**current, **values}, where=f"--preset {name}"), resolved


def describe(resolved: dict) -> str:
    """One line saying what a preset resolved to, e.g. for ``pgfa train``'s output and the report."""
    fields = ", ".join(f"{k}={v}" for k, v in resolved.items() if k not in ("preset", "n_train"))
    return f"--preset {resolved['preset']} (n={resolved['n_train']} seen-class training samples): {fields}"


def _check(name: str) -> None:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")

