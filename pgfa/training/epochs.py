"""The epoch loop that every training method runs, and what it is made of.

A method (PGFA's end-to-end contrastive training, the two-stage baseline's
classifier stage) is a *trainer*: an object with

* ``label``: what the progress bar and messages call an epoch (``"epoch"``);
* ``indices``: the training sample indices (``split.train``);
* ``optimizer``: its learning rate is set each epoch from :func:`learning_rate`;
* ``train_mode()``: put the networks in training mode;
* ``step(idx, epoch) -> float | Tensor``: one optimisation step on the global
  batch ``idx`` (sorted dataset indices), returning the batch's mean loss (a
  0-d tensor may stay on the device: it is summed there by a
  :class:`pgfa.runtime.LossTally` and read only every
  ``trainer.read_loss_every`` steps, default 1, so a GPU step never waits for
  the host; a non-finite mean stops training when read); with
  augmentation on it also gets ``augment=``, a ``(x, labels) -> x`` to apply
  to its input batch (:mod:`pgfa.training.augment`);
* ``end_epoch(epoch, record)``: validate, select, write checkpoints and the
  history (``record`` holds ``epoch`` (1-based), ``lr``, ``train_loss``,
  ``seconds``).

:func:`run_epochs` drives it, so batch order, schedule, step budget and the
epoch record are the same for every method. Selection (:func:`is_better`)
and the record kept of the selected epoch (:func:`selection_of`) are shared
too.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from pgfa.config import TrainConfig
from pgfa.run import RunInputs
from pgfa.runtime import LossTally
from pgfa.training.distributed import DistContext

__all__ = ["TrainingSession", "learning_rate", "epoch_batches", "steps_before", "is_better", "selection_of", "run_epochs"]


@dataclass
class TrainingSession:
    """What every method's training starts from, once the run folder and inputs are set up.

    ``module`` is the freshly built :class:`~pgfa.models.model.ZeroShotModel`
    on ``device``; ``signature`` its :func:`pgfa.run.model_signature`;
    ``resuming`` says whether ``out`` holds this run's earlier epochs.
    """

    config: TrainConfig
    out: Path
    inputs: RunInputs
    module: torch.nn.Module
    signature: dict
    device: torch.device
    log: Callable[[str], None]
    progress: bool
    ctx: DistContext
    resuming: bool


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """Linear warm-up over ``warmup_epochs``, then step decay at ``lr_steps`` (SPEC 6); ``epoch`` 0-based."""
    if epoch < config.warmup_epochs:
        return config.lr * (epoch + 1) / config.warmup_epochs
    return config.lr * config.lr_decay ** sum(epoch >= s for s in config.lr_steps)


def epoch_batches(config: TrainConfig, indices: np.ndarray, epoch: int, world_size: int = 1) -> list[np.ndarray]:
    """The global batches of one epoch: sorted arrays of dataset indices.

    The order depends only on ``(seed, epoch)``: a resumed run sees the same
    batches, and every process builds the same global batches, then takes its
    part of each (:func:`pgfa.training.distributed.shard`). A last batch too
    small for BatchNorm (two samples; one per process) is dropped.
    """
    gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    order = indices[torch.randperm(len(indices), generator=gen).numpy()]
    batches = [np.sort(order[i : i + config.batch_size]) for i in range(0, len(order), config.batch_size)]
    if len(batches) > 1 and len(batches[-1]) < max(2, world_size):
        batches = batches[:-1]
    return batches


def steps_before(config: TrainConfig, indices: np.ndarray, epoch: int, world_size: int = 1) -> int:
    """Optimisation steps of epochs ``0 .. epoch-1`` (an epoch cut short by ``max_steps`` counts whole)."""
    return sum(len(epoch_batches(config, indices, e, world_size)) for e in range(epoch))


def budget_spent(config: TrainConfig, indices: np.ndarray, epoch: int, world_size: int = 1) -> bool:
    """Whether ``config.max_steps`` (None: no budget) is used up before ``epoch``."""
    return config.max_steps is not None and steps_before(config, indices, epoch, world_size) >= config.max_steps


def is_better(candidate: dict, best: dict | None) -> bool:
    """Higher seen-validation top-1 wins; ties go to the lower validation cross-entropy.

    A record without validation figures (no validation data) always wins, so
    the last epoch is kept.
    """
    if best is None or "val_top1" not in candidate:
        return True
    return (candidate["val_top1"], -candidate["val_loss"]) > (best["val_top1"], -best["val_loss"])


def selection_of(record: dict) -> dict:
    """What is kept of the selected epoch's record (``epoch`` and its validation figures)."""
    return {k: record[k] for k in ("epoch", "val_top1", "val_loss") if k in record}


def _finite(mean: float, label: str, epoch: int) -> float:
    """``mean`` (a training loss read back from the device), or FloatingPointError when it is NaN/inf."""
    if not math.isfinite(mean):
        raise FloatingPointError(f"{label} loss became {mean} at epoch {epoch + 1}; try a lower lr")
    return mean


def run_epochs(trainer, config: TrainConfig, start_epoch: int, world_size: int = 1, progress: bool = True,
               augmenter=None) -> int:
    """Train ``trainer`` from ``start_epoch`` (0-based) to ``config.epochs`` or the step budget.

    Returns the number of epochs trained now. With ``config.max_steps`` the
    epoch in which the budget runs out stops after its last allowed step and
    still ends normally (validation, checkpoints), and no later epoch starts.
    ``augmenter`` (a :class:`pgfa.training.augment.BatchAugmenter`, None: no
    augmentation, nothing drawn) gives each training step its augmentation,
    passed as ``trainer.step(idx, epoch, augment=...)``; only training steps get one.
    """
    steps = steps_before(config, trainer.indices, start_epoch, world_size) if config.max_steps is not None else 0
    trained = 0
    for epoch in range(start_epoch, config.epochs):
        if config.max_steps is not None and steps >= config.max_steps:
            break
        lr = learning_rate(config, epoch)
        for group in trainer.optimizer.param_groups:
            group["lr"] = lr
        trainer.train_mode()
        tally, t0 = LossTally(getattr(trainer, "device", "cpu"), getattr(trainer, "read_loss_every", 1)), time.time()
        bar = tqdm(epoch_batches(config, trainer.indices, epoch, world_size),
                   desc=f"{trainer.label} {epoch + 1}/{config.epochs}", disable=not progress, leave=False)
        for batch, idx in enumerate(bar):
            extra = {} if augmenter is None else {"augment": augmenter.for_batch(epoch, batch)}
            mean = tally.add(trainer.step(idx, epoch, **extra), len(idx))  # read every N steps, not each
            steps += 1
            if mean is not None:
                bar.set_postfix(loss=f"{_finite(mean, trainer.label, epoch):.3f}")
            if config.max_steps is not None and steps >= config.max_steps:
                break
        record = {"epoch": epoch + 1, "lr": lr, "train_loss": _finite(tally.mean(), trainer.label, epoch),
                  "seconds": round(time.time() - t0, 2)}
        trainer.end_epoch(epoch, record)
        trained += 1
    return trained
