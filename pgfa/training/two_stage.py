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
   run). The epoch is chosen by seen-validation classification top-1.
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
like a PGFA run; the projection stage takes seconds and is simply redone.
``last.pt`` holds the last classifier epoch with a projection trained for all
its epochs on it (the "last epoch" figure of a report); ``best.pt`` the
selected one.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from pgfa.config import TrainConfig
from pgfa.io import write_text
from pgfa.training.checkpoint import load_checkpoint, save_checkpoint
from pgfa.training.loss import soft_target_contrastive_loss

PROJECTION_EPOCHS = 100
PROJECTION_LR = 1e-3
PROJECTION_BATCH = 128


def _batches(config: TrainConfig, indices: np.ndarray, epoch: int) -> list[np.ndarray]:
    """The batch order of a PGFA run (depends only on seed and epoch)."""
    gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
    order = indices[torch.randperm(len(indices), generator=gen).numpy()]
    batches = [np.sort(order[i : i + config.batch_size]) for i in range(0, len(order), config.batch_size)]
    if len(batches) > 1 and len(batches[-1]) < 2:  # BatchNorm needs two samples
        batches = batches[:-1]
    return batches


@torch.no_grad()
def _backbone_features(backbone: nn.Module, data: np.ndarray, indices: np.ndarray, device, batch_size: int = 256):
    backbone.eval()
    out = [backbone(torch.from_numpy(np.ascontiguousarray(data[indices[i : i + batch_size]])).to(device)).float()
           for i in range(0, len(indices), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, backbone.out_dim, device=device)


def train_classifier_stage(config, inputs, model, out: Path, device, log, progress: bool) -> tuple[dict, bool]:
    """Stage 1: cross-entropy over the seen classes.

    Returns the selected epoch's record and whether any epoch was trained now.
    """
    from pgfa.training.loop import is_better, learning_rate, recalibrate_if_asked, validation_scores

    split = inputs.split
    data, labels = inputs.skeletons.data, inputs.skeletons.labels
    position = np.full(len(inputs.texts), -1, dtype=np.int64)
    position[split.seen_classes] = np.arange(len(split.seen_classes))
    head = nn.Linear(model.backbone.out_dim, len(split.seen_classes)).to(device)
    params = list(model.backbone.parameters()) + list(head.parameters())
    optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    start, best, history = 0, None, []
    if (out / "stage1_last.pt").is_file():
        state = load_checkpoint(out / "stage1_last.pt")
        model.backbone.load_state_dict(state["model"])
        head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        start, best, history = state["epoch"] + 1, state["best"], state["history"]
        torch.set_rng_state(state["rng"])
        log(f"two-stage: resuming the classifier stage after epoch {start}")
    for epoch in range(start, config.epochs):
        lr = learning_rate(config, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.backbone.train()
        head.train()
        total, count, t0 = 0.0, 0, time.time()
        bar = tqdm(_batches(config, split.train, epoch), desc=f"classifier {epoch + 1}/{config.epochs}",
                   disable=not progress, leave=False)
        for idx in bar:
            x = torch.from_numpy(np.ascontiguousarray(data[idx])).to(device)
            y = torch.from_numpy(position[labels[idx]]).to(device)
            loss = F.cross_entropy(head(model.backbone(x)), y)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"classifier loss became {loss.item()} at epoch {epoch + 1}; try a lower lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            count += len(idx)
        record = {"stage": "classifier", "epoch": epoch + 1, "lr": lr, "train_loss": total / max(count, 1),
                  "seconds": round(time.time() - t0, 2)}
        recalibrate_if_asked(model.backbone, config, inputs, device)  # saved with the checkpoints below
        if len(split.val):
            with torch.no_grad():
                logits = head(_backbone_features(model.backbone, data, split.val, device))
                record.update(validation_scores(logits, torch.from_numpy(position[labels[split.val]]).to(device)))
        history.append(record)
        if is_better(record, best):
            best = {k: record[k] for k in ("epoch", "val_top1", "val_loss") if k in record}
            save_checkpoint(out / "stage1_best.pt", {"model": model.backbone.state_dict(), "signature": {},
                                                     "epoch": epoch + 1, "selection": best})
        save_checkpoint(out / "stage1_last.pt", {"model": model.backbone.state_dict(), "head": head.state_dict(),
                                                 "optimizer": optimizer.state_dict(), "signature": {},
                                                 "epoch": epoch, "best": best, "history": history,
                                                 "rng": torch.get_rng_state()})
        write_text(out / "history.jsonl", "".join(json.dumps(r) + "\n" for r in history))
        val = f" val_top1={record['val_top1']:.3f}" if "val_top1" in record else ""
        log(f"classifier epoch {epoch + 1}/{config.epochs} loss={record['train_loss']:.4f}{val} lr={lr:.4g}")
    return best, start < config.epochs


def train_projection_stage(config, inputs, model, device, log, keep: str = "best") -> tuple[dict, list[dict]]:
    """Stage 2: a linear map from frozen backbone features to the text space.

    ``keep="best"`` leaves the projection of the epoch chosen on seen validation
    in ``model``; ``keep="last"`` the last epoch's.
    """
    from pgfa.training.loop import is_better, validation_scores

    split = inputs.split
    data, labels = inputs.skeletons.data, inputs.skeletons.labels
    train_x = _backbone_features(model.backbone, data, split.train, device)
    train_y = torch.from_numpy(labels[split.train]).to(device)
    val_x = _backbone_features(model.backbone, data, split.val, device)
    text_all = torch.from_numpy(inputs.text_features).to(device)
    seen_text = F.normalize(text_all[torch.from_numpy(split.seen_classes).to(device)], dim=-1)
    position = {int(c): i for i, c in enumerate(split.seen_classes)}
    val_target = torch.tensor([position[int(y)] for y in labels[split.val]], device=device)

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
                logits = config.logit_scale * F.normalize(model.projection(val_x), dim=-1) @ seen_text.t()
                record.update(validation_scores(logits, val_target))
        history.append(record)
        if is_better(record, best):
            best = {k: record[k] for k in ("epoch", "val_top1", "val_loss") if k in record}
            best_state = {k: v.detach().clone() for k, v in model.projection.state_dict().items()}
    if keep == "best":
        model.projection.load_state_dict(best_state)
        val = f" (seen val top-1 {best['val_top1']:.3f})" if "val_top1" in best else ""
        log(f"projection: epoch {best['epoch']} of {PROJECTION_EPOCHS} chosen{val}")
    return best, history


def train_two_stage(config: TrainConfig, inputs, model: nn.Module, out: Path, signature: dict, device,
                    log: Callable[[str], None], progress: bool = True) -> Path:
    """Run both stages into ``out`` and write ``best.pt``/``last.pt`` as a PGFA run would.

    Called by :func:`pgfa.training.loop.train` when ``config.method == "two-stage"``,
    after the run folder, inputs and model are set up.
    """
    stage1, trained = train_classifier_stage(config, inputs, model, out, device, log, progress)
    if not trained and (out / "best.pt").is_file():
        log(f"{out}: all {config.epochs} epochs already trained")
        return out
    if "val_top1" not in stage1:
        log("two-stage: no seen-class validation data; the last epochs of both stages are used")
    # "last": the last classifier epoch with the projection's last epoch, for the report's last-epoch figure.
    model.backbone.load_state_dict(load_checkpoint(out / "stage1_last.pt")["model"])
    _, last_history = train_projection_stage(config, inputs, model, device, log, keep="last")
    stage1_history = load_checkpoint(out / "stage1_last.pt")["history"]
    save_checkpoint(out / "last.pt", {"model": model.state_dict(), "signature": signature, "epoch": config.epochs - 1,
                                      "selection": None, "history": stage1_history + last_history})
    # "best": the classifier epoch chosen on seen validation, then the projection epoch chosen likewise.
    model.backbone.load_state_dict(load_checkpoint(out / "stage1_best.pt")["model"])
    stage2, projection_history = train_projection_stage(config, inputs, model, device, log, keep="best")
    history = stage1_history + projection_history
    write_text(out / "history.jsonl", "".join(json.dumps(r) + "\n" for r in history))
    selection = None
    if "val_top1" in stage1 and "val_top1" in stage2:
        selection = {"epoch": stage1["epoch"], "val_top1": stage2["val_top1"], "val_loss": stage2["val_loss"],
                     "classifier_epoch": stage1["epoch"], "classifier_val_top1": stage1["val_top1"],
                     "projection_epoch": stage2["epoch"]}
    save_checkpoint(out / "best.pt", {"model": model.state_dict(), "signature": signature,
                                      "epoch": stage1["epoch"], "selection": selection})
    return out
