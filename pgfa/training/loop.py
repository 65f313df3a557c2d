"""The training loop: one loop for every backbone and dataset.

A run folder holds everything needed to evaluate, resume or audit a run:

=====================  =====================================================
``config.yaml``        the :class:`~pgfa.config.TrainConfig`
``classes.tsv``        the class texts that were embedded (name, description)
``text_features.npy``  ``(K, D)`` their embeddings, all classes
``split.json``         seen/unseen classes and every sample index used
``history.jsonl``      one line per epoch: loss, lr, seen-validation metrics
``last.pt``            model + optimiser + epoch (resume point)
``best.pt``            model at the epoch chosen on seen-class validation
=====================  =====================================================
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from pgfa.config import TrainConfig
from pgfa.data.formats import load_skeletons
from pgfa.data.skeletons import SkeletonSet
from pgfa.data.splits import ZeroShotSplit, make_zero_shot_split
from pgfa.io import write_json, write_npy, write_text
from pgfa.models.model import build_model
from pgfa.models.stgcn import tune_cpu_allocator
from pgfa.text.cache import embed_texts
from pgfa.text.classes import ClassText, resolve_class_texts
from pgfa.training.checkpoint import load_checkpoint, save_checkpoint
from pgfa.training.loss import soft_target_contrastive_loss


RESUMABLE_CHANGES = ("epochs", "device")


class RunExistsError(RuntimeError):
    """The output folder holds another run; nothing was changed."""


@dataclass
class RunInputs:
    """Data, texts and split of a run, rebuilt identically for training and evaluation."""

    skeletons: SkeletonSet
    texts: list[ClassText]
    text_features: np.ndarray  # (K, D)
    split: ZeroShotSplit


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def prepare_inputs(config: TrainConfig, skeletons: SkeletonSet | None = None) -> RunInputs:
    """Load the data, resolve and embed the class texts, and split the samples."""
    if skeletons is None:
        skeletons = load_skeletons(config.data, frames=config.frames)
    skeletons = skeletons.with_layout(config.layout)
    num_classes = skeletons.num_classes
    texts = resolve_class_texts(
        config.classes, skeletons.class_names, skeletons.class_descriptions, num_classes, source=skeletons.source or config.data
    )
    if int(skeletons.labels.max()) >= len(texts):
        raise ValueError(f"{skeletons.source}: label {int(skeletons.labels.max())} but only {len(texts)} class texts")
    features = embed_texts([t.text(config.text_mode) for t in texts], encoder=config.text_encoder)
    split = make_zero_shot_split(skeletons, config.unseen, config.val_fraction, config.seed)
    return RunInputs(skeletons, texts, features, split)


def model_signature(config: TrainConfig, inputs: RunInputs) -> dict:
    return {
        "backbone": config.backbone,
        "layout": inputs.skeletons.layout,
        "in_channels": int(inputs.skeletons.data.shape[1]),
        "text_dim": int(inputs.text_features.shape[1]),
        "num_classes": len(inputs.texts),
    }


def build_run_model(config: TrainConfig, inputs: RunInputs) -> torch.nn.Module:
    return build_model(
        backbone=config.backbone,
        layout=inputs.skeletons.layout,
        text_dim=int(inputs.text_features.shape[1]),
        dropout=config.dropout,
    )


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """Linear warm-up over ``warmup_epochs``, then step decay at ``lr_steps`` (SPEC 6)."""
    if epoch < config.warmup_epochs:
        return config.lr * (epoch + 1) / config.warmup_epochs
    return config.lr * config.lr_decay ** sum(epoch >= s for s in config.lr_steps)


@torch.no_grad()
def encode(model: torch.nn.Module, data: np.ndarray, indices: np.ndarray, device: torch.device,
           batch_size: int = 256) -> torch.Tensor:
    """Projected features ``(len(indices), D)`` of the given samples, eval mode, on CPU."""
    model.eval()
    out = []
    for start in range(0, len(indices), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(data[indices[start : start + batch_size]])).to(device)
        out.append(model(batch).float().cpu())
    return torch.cat(out) if out else torch.zeros(0)


def seen_validation(model, inputs: RunInputs, device, scale: float) -> dict:
    """Top-1 and cross-entropy of seen-validation samples against the seen-class texts only."""
    split = inputs.split
    if len(split.val) == 0:
        return {}
    feats = F.normalize(encode(model, inputs.skeletons.data, split.val, device), dim=-1)
    text = F.normalize(torch.from_numpy(inputs.text_features[split.seen_classes]), dim=-1)
    logits = scale * feats @ text.t()
    position = {int(c): i for i, c in enumerate(split.seen_classes)}
    target = torch.tensor([position[int(y)] for y in inputs.skeletons.labels[split.val]])
    return {
        "val_top1": float((logits.argmax(1) == target).float().mean()),
        "val_loss": float(F.cross_entropy(logits, target)),
    }


def _better(candidate: dict, best: dict | None) -> bool:
    """Higher seen-validation top-1 wins; ties go to the lower validation cross-entropy."""
    if best is None:
        return True
    return (candidate["val_top1"], -candidate["val_loss"]) > (best["val_top1"], -best["val_loss"])


def _check_run_folder(out: Path, config: TrainConfig, force: bool) -> str:
    """Decide what to do with ``out``: ``"resume"``, ``"new"`` or ``"replace"``.

    Nothing is created or deleted here, so a run that fails while loading its
    inputs leaves the folder as it was.
    """
    cfg_path = out / "config.yaml"
    if cfg_path.is_file():
        previous = TrainConfig.load(cfg_path)
        # More (or fewer) epochs or another device continue the same run.
        same = {k: v for k, v in previous.to_dict().items() if k not in RESUMABLE_CHANGES} == \
               {k: v for k, v in config.to_dict().items() if k not in RESUMABLE_CHANGES}
        if same and (out / "last.pt").is_file():
            return "resume"
        if not force:
            raise RunExistsError(
                f"{out} already holds a run with a different configuration (or no checkpoint); "
                "choose another --out, or pass --force to delete it and start over"
            )
        return "replace"
    if out.exists() and any(out.iterdir()):
        if not force:
            raise RunExistsError(f"{out} exists and is not empty; choose another --out or pass --force")
        return "replace"
    return "new"


def train(
    config: TrainConfig,
    out: str | Path,
    skeletons: SkeletonSet | None = None,
    force: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Train a model as SPEC section 6; returns the run folder.

    Re-running the same command on the same folder resumes from ``last.pt``.
    """
    log = log or tqdm.write  # prints above a live progress bar instead of through it
    out = Path(out)
    action = _check_run_folder(out, config, force)
    resuming = action == "resume"
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    device = pick_device(config.device)
    if device.type == "cpu":
        tune_cpu_allocator()  # roughly doubles CPU training speed; see its docstring
    inputs = prepare_inputs(config, skeletons)
    split = inputs.split
    if len(split.train) < 2:
        raise ValueError("fewer than two seen-class training samples")
    if action == "replace":  # asked for with --force, and only once the inputs are known to be good
        shutil.rmtree(out)
    if resuming:
        if (TrainConfig.load(out / "config.yaml")) != config:
            config.save(out / "config.yaml")  # records the new epoch count or device
    else:
        out.mkdir(parents=True, exist_ok=True)
        config.save(out / "config.yaml")
        write_text(out / "classes.tsv", "".join(f"{t.name}\t{t.description}\n" for t in inputs.texts))
        write_npy(out / "text_features.npy", inputs.text_features)
        write_json(out / "split.json", split.to_json())

    model = build_run_model(config, inputs).to(device)
    signature = model_signature(config, inputs)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    start_epoch, best, history = 0, None, []
    if resuming:
        state = load_checkpoint(out / "last.pt", signature)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, best, history = state["epoch"] + 1, state.get("best"), state.get("history", [])
        if "rng" in state:  # dropout continues the same random stream as an uninterrupted run
            torch.set_rng_state(state["rng"])
        log(f"resuming {out} after epoch {start_epoch}")
    if start_epoch >= config.epochs:
        log(f"{out}: all {config.epochs} epochs already trained")
        return out

    data = inputs.skeletons.data
    labels = inputs.skeletons.labels
    text_all = torch.from_numpy(inputs.text_features).to(device)
    label_t = torch.from_numpy(labels)
    log(f"training {config.backbone} on {len(split.train)} seen-class samples "
        f"({len(split.seen_classes)} classes), validating on {len(split.val)}, "
        f"{len(split.unseen_classes)} unseen classes held out; device {device}")
    for epoch in range(start_epoch, config.epochs):
        lr = learning_rate(config, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        # Batch order depends only on (seed, epoch): a resumed run sees the same batches.
        gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        order = split.train[torch.randperm(len(split.train), generator=gen).numpy()]
        batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        if len(batches) > 1 and len(batches[-1]) < 2:  # BatchNorm needs two samples
            batches = batches[:-1]
        total, seen, t0 = 0.0, 0, time.time()
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress, leave=False)
        for idx in bar:
            x = torch.from_numpy(np.ascontiguousarray(data[np.sort(idx)])).to(device, non_blocking=True)
            y = label_t[np.sort(idx)].to(device)
            loss = soft_target_contrastive_loss(model(x), text_all[y], y, scale=config.logit_scale)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch + 1}; try a lower lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.3f}")
        record = {"epoch": epoch + 1, "lr": lr, "train_loss": total / max(seen, 1),
                  "seconds": round(time.time() - t0, 2)}
        record.update(seen_validation(model, inputs, device, config.logit_scale))
        history.append(record)
        improved = "val_top1" in record and _better(record, best)
        if improved:
            best = {k: record[k] for k in ("epoch", "val_top1", "val_loss")}
            save_checkpoint(out / "best.pt", {"model": model.state_dict(), "signature": signature,
                                              "epoch": epoch + 1, "selection": best})
        save_checkpoint(out / "last.pt", {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                          "signature": signature, "epoch": epoch, "best": best,
                                          "history": history, "rng": torch.get_rng_state()})
        write_text(out / "history.jsonl", "".join(json.dumps(r) + "\n" for r in history))
        val = f" val_top1={record['val_top1']:.3f}" if "val_top1" in record else ""
        log(f"epoch {epoch + 1}/{config.epochs} loss={record['train_loss']:.4f}{val} "
            f"lr={lr:.4g} ({record['seconds']:.1f}s){' *' if improved else ''}")
    if best is None:  # no validation data: the last epoch is the selected one
        save_checkpoint(out / "best.pt", {"model": model.state_dict(), "signature": signature,
                                          "epoch": config.epochs, "selection": None})
    return out
