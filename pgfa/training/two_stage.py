"""Two-stage baseline: the paradigm PGFA is compared against (SMIE and its kind).

Why it is here: the paper's claim is that *end-to-end* contrastive training
beats learning the skeleton encoder first and the cross-modal map second. To
test that claim on the same data, splits, backbone and selection rules, the
baseline runs in the same harness and ends in the same run folder and
checkpoint format, so ``pgfa evaluate`` (with or without prototype alignment)
treats both alike.

The stages:

1. **Classifier**: backbone + linear head trained with cross-entropy over the
   seen classes (same optimiser, schedule, epochs and batch order as a PGFA
   run, and the same training-batch augmentation when ``augment`` asks). The
   epoch is chosen by seen-validation classification top-1.
2. **Projection**: the backbone of that epoch is frozen (evaluation mode, so
   no dropout and fixed BatchNorm statistics); its features of the seen
   training samples are computed once, and a linear projection to the text
   space is trained on them with the same soft-target contrastive loss PGFA
   uses (Adam, ``PROJECTION_EPOCHS`` epochs). The epoch is chosen by seen-
   validation top-1 against the seen-class texts, as in a PGFA run.
3. **Zero-shot**: the frozen backbone plus the projection is a
   :class:`~pgfa.models.model.ZeroShotModel`; unseen samples go to the nearest
   unseen text feature (``pgfa evaluate``).

Resuming: the classifier stage resumes epoch by epoch from ``stage1_last.pt``
like a PGFA run (the same epoch loop, :func:`pgfa.training.epochs.run_epochs`:
same batch order, schedule, step budget and selection rule); the projection
stage takes seconds and is simply redone.
``last.pt`` holds the last classifier epoch with a projection trained for all
its epochs on it (the "last epoch" figure of a report); ``best.pt`` the
selected one.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from pgfa.run import BEST, LAST, STAGE1_BEST, STAGE1_LAST, write_history
from pgfa.scoring import class_positions, cosine_scores, encode, validation_scores
from pgfa.training.augment import batch_augmenter
from pgfa.training.batchnorm import recalibrate_if_asked
from pgfa.training.checkpoint import load_checkpoint, model_state, save_checkpoint
from pgfa.training.epochs import TrainingSession, is_better, run_epochs, selection_of
from pgfa.training.loss import soft_target_contrastive_loss

__all__ = ["train_two_stage", "ClassifierTrainer", "train_projection_stage", "PROJECTION_EPOCHS"]

PROJECTION_EPOCHS = 100
PROJECTION_LR = 1e-3
PROJECTION_BATCH = 128


class ClassifierTrainer:
    """Stage 1 for :func:`~pgfa.training.epochs.run_epochs`: backbone + linear head, cross-entropy over seen classes."""

    label = "classifier"

    def __init__(self, session: TrainingSession):
        self.s = session
        config, model, split = session.config, session.module, session.inputs.split
        self.indices = split.train
        self.head = nn.Linear(model.backbone.out_dim, len(split.seen_classes)).to(session.device)
        params = list(model.backbone.parameters()) + list(self.head.parameters())
        self.optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay)
        self.start_epoch, self.best, self.history = 0, None, []

    def resume(self) -> None:
        """Continue from ``stage1_last.pt`` when it exists."""
        s = self.s
        if not (s.out / STAGE1_LAST).is_file():
            return
        state = load_checkpoint(s.out / STAGE1_LAST)
        s.module.backbone.load_state_dict(state["model"])
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.start_epoch, self.best, self.history = state["epoch"] + 1, state["best"], state["history"]
        torch.set_rng_state(state["rng"])
        s.log(f"two-stage: resuming the classifier stage after epoch {self.start_epoch}")

    def _targets(self, idx: np.ndarray) -> torch.Tensor:
        split = self.s.inputs.split
        return torch.from_numpy(class_positions(split.seen_classes, self.s.inputs.skeletons.labels[idx]))

    def train_mode(self) -> None:
        self.s.module.backbone.train()
        self.head.train()

    def step(self, idx: np.ndarray, epoch: int, augment: Callable | None = None) -> float:
        """One SGD step of cross-entropy on the batch ``idx`` (``augment``: its training augmentation, or None)."""
        s = self.s
        x = torch.from_numpy(np.ascontiguousarray(s.inputs.skeletons.data[idx])).to(s.device)
        y = self._targets(idx).to(s.device)
        if augment is not None:  # by dataset class (which classes may be mirrored), not by head position
            x = augment(x, torch.from_numpy(s.inputs.skeletons.labels[idx]).to(s.device))
        loss = F.cross_entropy(self.head(s.module.backbone(x)), y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"classifier loss became {loss.item()} at epoch {epoch + 1}; try a lower lr")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def end_epoch(self, epoch: int, record: dict) -> None:
        """Validate by classification top-1 on seen validation; write ``stage1_best/last.pt`` and the history."""
        s, backbone, val = self.s, self.s.module.backbone, self.s.inputs.split.val
        record = {"stage": "classifier", **record}
        recalibrate_if_asked(backbone, s.config, s.inputs, s.device)  # saved with the checkpoints below
        if len(val):
            with torch.no_grad():
                logits = self.head(encode(backbone, s.inputs.skeletons.data, val, s.device, on_device=True))
                record.update(validation_scores(logits, self._targets(val).to(s.device)))
        self.history.append(record)
        if is_better(record, self.best):
            self.best = selection_of(record)
            save_checkpoint(s.out / STAGE1_BEST, model_state(backbone.state_dict(), {}, epoch + 1, epoch + 1,
                                                             self.best))
        save_checkpoint(s.out / STAGE1_LAST, {"model": backbone.state_dict(), "head": self.head.state_dict(),
                                              "optimizer": self.optimizer.state_dict(), "signature": {},
                                              "epoch": epoch, "best": self.best, "history": self.history,
                                              "rng": torch.get_rng_state(), "epoch_done": epoch + 1})
        write_history(s.out, self.history)
        val_text = f" val_top1={record['val_top1']:.3f}" if "val_top1" in record else ""
        s.log(f"classifier epoch {epoch + 1}/{s.config.epochs} loss={record['train_loss']:.4f}{val_text} "
              f"lr={record['lr']:.4g}")


def train_classifier_stage(session: TrainingSession) -> tuple[dict, bool]:
    """Stage 1; returns the selected epoch's record and whether any epoch was trained now."""
    trainer = ClassifierTrainer(session)
    trainer.resume()
    augmenter = batch_augmenter(session)  # None without config.augment (the projection stage is never augmented)
    if augmenter is not None and trainer.start_epoch < session.config.epochs:
        session.log(f"two-stage classifier stage: {augmenter.describe()}")
    trained = run_epochs(trainer, session.config, trainer.start_epoch, progress=session.progress,
                         augmenter=augmenter)
    return trainer.best, trained > 0


def train_projection_stage(session: TrainingSession, keep: str = "best") -> tuple[dict, list[dict]]:
    """Stage 2: a linear map from frozen backbone features to the text space.

    ``keep="best"`` leaves the projection of the epoch chosen on seen validation
    in ``session.module``; ``keep="last"`` the last epoch's.
    """
    config, model, device, inputs = session.config, session.module, session.device, session.inputs
    split, labels = inputs.split, inputs.skeletons.labels
    train_x = encode(model.backbone, inputs.skeletons.data, split.train, device, on_device=True)
    train_y = torch.from_numpy(labels[split.train]).to(device)
    val_x = encode(model.backbone, inputs.skeletons.data, split.val, device, on_device=True)
    text_all = torch.from_numpy(inputs.text_features).to(device)
    seen_text = text_all[torch.from_numpy(split.seen_classes).to(device)]
    val_target = torch.from_numpy(class_positions(split.seen_classes, labels[split.val])).to(device)

    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    model.projection.reset_parameters()
    optimizer = torch.optim.Adam(model.projection.parameters(), lr=PROJECTION_LR)
    best, best_state, history = None, None, []
    for epoch in range(PROJECTION_EPOCHS):
        order = torch.randperm(len(train_x), generator=gen).to(device)
        for start in range(0, len(order), PROJECTION_BATCH):
            idx = order[start : start + PROJECTION_BATCH]
            if len(idx) < 2:
                continue
            loss = soft_target_contrastive_loss(model.projection(train_x[idx]), text_all[train_y[idx]], train_y[idx],
                                                scale=config.logit_scale)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        record = {"stage": "projection", "epoch": epoch + 1, "train_loss": loss.item()}
        if len(val_x):
            with torch.no_grad():
                logits = cosine_scores(model.projection(val_x), seen_text, config.logit_scale)
                record.update(validation_scores(logits, val_target))
        history.append(record)
        if is_better(record, best):
            best = selection_of(record)
            best_state = {k: v.detach().clone() for k, v in model.projection.state_dict().items()}
    if keep == "best":
        model.projection.load_state_dict(best_state)
        val = f" (seen val top-1 {best['val_top1']:.3f})" if "val_top1" in best else ""
        session.log(f"projection: epoch {best['epoch']} of {PROJECTION_EPOCHS} chosen{val}")
    return best, history


def train_two_stage(session: TrainingSession) -> Path:
    """Run both stages into the run folder and write ``best.pt``/``last.pt`` as a PGFA run would.

    The ``"two-stage"`` entry of :data:`pgfa.training.loop.METHODS`.
    """
    s, model = session, session.module
    stage1, trained = train_classifier_stage(session)
    if not trained and (s.out / BEST).is_file():
        s.log(f"{s.out}: all {s.config.epochs} epochs already trained")
        return s.out
    if "val_top1" not in stage1:
        s.log("two-stage: no seen-class validation data; the last epochs of both stages are used")
    # "last": the last classifier epoch with the projection's last epoch, for the report's last-epoch figure.
    last = load_checkpoint(s.out / STAGE1_LAST)
    model.backbone.load_state_dict(last["model"])
    _, last_history = train_projection_stage(session, keep="last")
    save_checkpoint(s.out / LAST, model_state(model.state_dict(), s.signature, last["epoch"], last["epoch"] + 1,
                                              None, history=last["history"] + last_history))
    # "best": the classifier epoch chosen on seen validation, then the projection epoch chosen likewise.
    model.backbone.load_state_dict(load_checkpoint(s.out / STAGE1_BEST)["model"])
    stage2, projection_history = train_projection_stage(session, keep="best")
    write_history(s.out, last["history"] + projection_history)
    selection = None
    if "val_top1" in stage1 and "val_top1" in stage2:
        selection = {"epoch": stage1["epoch"], "val_top1": stage2["val_top1"], "val_loss": stage2["val_loss"],
                     "classifier_epoch": stage1["epoch"], "classifier_val_top1": stage1["val_top1"],
                     "projection_epoch": stage2["epoch"]}
    save_checkpoint(s.out / BEST, model_state(model.state_dict(), s.signature, stage1["epoch"], stage1["epoch"],
                                              selection))
    return s.out
