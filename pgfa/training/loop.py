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

The same function runs under ``torchrun`` (one process per GPU, or several
CPU processes with gloo): each process trains on its part of every global
batch and the loss is computed over the gathered global batch; only rank 0
writes files. See :mod:`pgfa.training.distributed` for what is gathered and
how BatchNorm differs from a single process.

Speed options (execution settings, so changing them still resumes a run):
``amp`` autocasts the model on CUDA (bfloat16 where supported, else float16
with a gradient scaler) and is ignored with a message on CPU, where the fused
ST-GCN kernels are float32 and bfloat16 autocast was not found to help; the
loss is always computed in float32. ``compile`` wraps the model in
``torch.compile``. Checkpoints always hold the plain module's ``state_dict``.
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
from pgfa.training import distributed as dist_utils
from pgfa.training.batchnorm import recalibrate_batchnorm, recalibration_indices
from pgfa.training.checkpoint import load_checkpoint, save_checkpoint
from pgfa.training.distributed import DistContext, all_gather_with_grad
from pgfa.training.loss import soft_target_contrastive_loss


# Config fields that may change between a run and its resumption: they decide
# how long or where/how fast it trains, not what is trained.
RESUMABLE_CHANGES = ("epochs", "device", "amp", "compile")


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


def recalibrate_if_asked(model: torch.nn.Module, config: TrainConfig, inputs: RunInputs, device) -> None:
    """Re-estimate BatchNorm statistics on seen-training samples when ``config.bn_recalibration`` asks."""
    if config.bn_recalibration > 0:
        indices = recalibration_indices(inputs.split.train, config.bn_recalibration, config.seed)
        recalibrate_batchnorm(model, inputs.skeletons.data, indices, device, config.batch_size)


def seen_validation(model, inputs: RunInputs, device, scale: float, indices: np.ndarray | None = None) -> dict:
    """Top-1 and cross-entropy of seen-class samples against the seen-class texts only.

    ``indices`` default to the seen-validation samples (what selection uses);
    diagnostics may pass other seen-class samples, e.g. the training ones.
    """
    split = inputs.split
    indices = split.val if indices is None else indices
    if len(indices) == 0:
        return {}
    feats = F.normalize(encode(model, inputs.skeletons.data, indices, device), dim=-1)
    text = F.normalize(torch.from_numpy(inputs.text_features[split.seen_classes]), dim=-1)
    logits = scale * feats @ text.t()
    position = {int(c): i for i, c in enumerate(split.seen_classes)}
    target = torch.tensor([position[int(y)] for y in inputs.skeletons.labels[indices]])
    return validation_scores(logits, target)


def validation_scores(logits: torch.Tensor, target: torch.Tensor) -> dict:
    """The two figures every model selection in pgfa compares (see :func:`is_better`)."""
    return {"val_top1": float((logits.argmax(1) == target).float().mean()),
            "val_loss": float(F.cross_entropy(logits, target))}


def is_better(candidate: dict, best: dict | None) -> bool:
    """Higher seen-validation top-1 wins; ties go to the lower validation cross-entropy.

    A record without validation figures (no validation data) always wins, so
    the last epoch is kept.
    """
    if best is None or "val_top1" not in candidate:
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
        # More (or fewer) epochs, another device, AMP or compile continue the same run.
        same = {k: v for k, v in previous.to_dict().items() if k not in RESUMABLE_CHANGES} == \
               {k: v for k, v in config.to_dict().items() if k not in RESUMABLE_CHANGES}
        # stage1_last.pt: a two-stage run stopped in its classifier stage
        if same and ((out / "last.pt").is_file() or (out / "stage1_last.pt").is_file()):
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


def batch_loss(skeleton: torch.Tensor, text: torch.Tensor, labels: torch.Tensor, scale: float,
               sizes: list[int] | None = None) -> torch.Tensor:
    """SPEC 6 loss of a batch, in float32; over the global batch when it is split across processes.

    ``skeleton``/``text``/``labels`` are this process's part; ``sizes`` gives
    every process's part size (rank order). In a single process this is
    exactly :func:`soft_target_contrastive_loss`.
    """
    skeleton, text = skeleton.float(), text.float()
    if dist_utils.is_distributed():
        skeleton = all_gather_with_grad(skeleton, sizes)
        text = all_gather_with_grad(text, sizes)
        labels = all_gather_with_grad(labels, sizes)
    with torch.autocast(skeleton.device.type, enabled=False):
        return soft_target_contrastive_loss(skeleton, text, labels, scale=scale)


def _amp_dtype(config: TrainConfig, device: torch.device, log: Callable[[str], None]) -> torch.dtype | None:
    if not config.amp:
        return None
    if device.type != "cuda":
        log(f"amp: mixed precision is only used on CUDA; training on {device} in float32")
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _rank_seed(seed: int, rank: int, epoch: int) -> int:
    """Dropout seed of ranks > 0 (rank 0 continues the single-process stream)."""
    return (seed * 1_000_003 + rank * 7_919 + epoch) % (2**63)


def _rng_state(device: torch.device) -> dict:
    """This process's dropout random state (CPU generator, and the GPU's on CUDA)."""
    return {"cpu": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


def _restore_rng(state: dict, ctx: DistContext, device: torch.device, seed: int, start_epoch: int) -> None:
    """Dropout continues the random stream of an uninterrupted run.

    Exactly so in a single process and when resumed with as many processes as
    were saved; otherwise rank 0 takes the saved stream and other ranks a
    fresh seed.
    """
    ranks = state.get("rng_ranks")
    if ranks is not None and len(ranks) == ctx.world_size:
        mine = ranks[ctx.rank]
    elif ctx.rank == 0:
        mine = {"cpu": state.get("rng"), "cuda": state.get("cuda_rng")}
    else:
        torch.manual_seed(_rank_seed(seed, ctx.rank, start_epoch))
        return
    if mine.get("cpu") is not None:
        torch.set_rng_state(mine["cpu"])
    if device.type == "cuda" and mine.get("cuda") is not None:
        torch.cuda.set_rng_state(mine["cuda"], device)


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
    Launched by ``torchrun`` (``WORLD_SIZE`` > 1), it trains with
    DistributedDataParallel; see :mod:`pgfa.training.distributed`.
    """
    ctx = dist_utils.init_distributed(config.device, pick=pick_device)
    try:
        return _train(config, Path(out), skeletons, force, progress, log, ctx)
    finally:
        dist_utils.cleanup(ctx)


def _train(config: TrainConfig, out: Path, skeletons: SkeletonSet | None, force: bool, progress: bool,
           log: Callable[[str], None] | None, ctx: DistContext) -> Path:
    main = ctx.is_main
    if not main:
        log = lambda message: None  # noqa: E731 - rank 0 speaks for all
    log = log or tqdm.write  # prints above a live progress bar instead of through it
    if ctx.enabled and config.method == "two-stage":
        raise ValueError("the two-stage baseline trains in one process; run it without torchrun")
    action = dist_utils.run_on_main(lambda: _check_run_folder(out, config, force))
    resuming = action == "resume"
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    device = ctx.device
    if device.type == "cpu":
        tune_cpu_allocator()  # roughly doubles CPU training speed; see its docstring
    with dist_utils.main_process_first():  # rank 0 fills the embedding cache first
        inputs = prepare_inputs(config, skeletons)
    split = inputs.split
    if len(split.train) < 2:
        raise ValueError("fewer than two seen-class training samples")
    if ctx.world_size > min(config.batch_size, len(split.train)):
        raise ValueError(f"{ctx.world_size} processes need a batch size and a training set of at least "
                         f"{ctx.world_size} samples (batch size {config.batch_size}, {len(split.train)} samples)")
    if main:
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

    module = build_run_model(config, inputs).to(device)
    signature = model_signature(config, inputs)
    if config.method == "two-stage":  # the SMIE-style baseline: its own stages, same run folder
        from pgfa.training.two_stage import train_two_stage

        return train_two_stage(config, inputs, module, out, signature, device, log, progress)
    optimizer = torch.optim.SGD(module.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    amp_dtype = _amp_dtype(config, device, log)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    start_epoch, best, history = 0, None, []
    if resuming:
        state = load_checkpoint(out / "last.pt", signature)
        module.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, best, history = state["epoch"] + 1, state.get("best"), state.get("history", [])
        if scaler.is_enabled() and "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        _restore_rng(state, ctx, device, config.seed, start_epoch)
        log(f"resuming {out} after epoch {start_epoch}")
    elif ctx.rank > 0:  # the same init everywhere (DDP also broadcasts it), different dropout masks
        torch.manual_seed(_rank_seed(config.seed, ctx.rank, 0))
    if start_epoch >= config.epochs:
        log(f"{out}: all {config.epochs} epochs already trained")
        return out

    if config.compile and ctx.enabled:
        # Dynamo's DDP optimisation (one graph per gradient bucket, to overlap the
        # all-reduce with the backward) failed on ST-GCN with torch 2.13 ("'int' object
        # has no attribute 'meta'"); one graph, reduced after the backward, works.
        import torch._dynamo as dynamo

        dynamo.config.optimize_ddp = False
    model: torch.nn.Module = torch.compile(module) if config.compile else module
    if ctx.enabled:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    data = inputs.skeletons.data
    labels = inputs.skeletons.labels
    text_all = torch.from_numpy(inputs.text_features).to(device)
    label_t = torch.from_numpy(labels)
    processes = f", {ctx.world_size} processes" if ctx.enabled else ""
    precision = f", autocast {str(amp_dtype).removeprefix('torch.')}" if amp_dtype else ""
    log(f"training {config.backbone} on {len(split.train)} seen-class samples "
        f"({len(split.seen_classes)} classes), validating on {len(split.val)}, "
        f"{len(split.unseen_classes)} unseen classes held out; device {device}{processes}{precision}"
        f"{', compiled' if config.compile else ''}")
    for epoch in range(start_epoch, config.epochs):
        lr = learning_rate(config, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        # Batch order depends only on (seed, epoch): a resumed run sees the same batches,
        # and every process builds the same global batches, then takes its part of each.
        gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        order = split.train[torch.randperm(len(split.train), generator=gen).numpy()]
        batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        # BatchNorm needs two samples; with several processes each needs one.
        if len(batches) > 1 and len(batches[-1]) < max(2, ctx.world_size):
            batches = batches[:-1]
        total, seen, t0 = 0.0, 0, time.time()
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not (progress and main), leave=False)
        for batch in bar:
            idx = np.sort(batch)
            sizes = dist_utils.shard_sizes(len(idx), ctx.world_size)
            part = dist_utils.shard(idx, ctx.rank, ctx.world_size)
            x = torch.from_numpy(np.ascontiguousarray(data[part])).to(device, non_blocking=True)
            y = label_t[part].to(device)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                features = model(x)
            loss = batch_loss(features, text_all[y], y, config.logit_scale, sizes)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch + 1}; try a lower lr")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += loss.item() * len(idx)  # the global batch's loss, the same on every process
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.3f}")
        record = {"epoch": epoch + 1, "lr": lr, "train_loss": total / max(seen, 1),
                  "seconds": round(time.time() - t0, 2)}
        rng_ranks = dist_utils.all_gather_object(_rng_state(device))  # collective: every rank calls it
        if main:
            recalibrate_if_asked(module, config, inputs, device)  # saved with the checkpoints below
            record.update(seen_validation(module, inputs, device, config.logit_scale))
            history.append(record)
            improved = "val_top1" in record and is_better(record, best)
            if improved:
                best = {k: record[k] for k in ("epoch", "val_top1", "val_loss")}
                save_checkpoint(out / "best.pt", {"model": module.state_dict(), "signature": signature,
                                                  "epoch": epoch + 1, "selection": best})
            state = {"model": module.state_dict(), "optimizer": optimizer.state_dict(),
                     "signature": signature, "epoch": epoch, "best": best,
                     "history": history, "rng": rng_ranks[0]["cpu"]}
            if device.type == "cuda":
                state["cuda_rng"] = rng_ranks[0]["cuda"]
            if ctx.enabled:
                state["rng_ranks"] = rng_ranks
            if scaler.is_enabled():
                state["scaler"] = scaler.state_dict()
            save_checkpoint(out / "last.pt", state)
            write_text(out / "history.jsonl", "".join(json.dumps(r) + "\n" for r in history))
            val = f" val_top1={record['val_top1']:.3f}" if "val_top1" in record else ""
            log(f"epoch {epoch + 1}/{config.epochs} loss={record['train_loss']:.4f}{val} "
                f"lr={lr:.4g} ({record['seconds']:.1f}s){' *' if improved else ''}")
    if main and best is None:  # no validation data: the last epoch is the selected one
        save_checkpoint(out / "best.pt", {"model": module.state_dict(), "signature": signature,
                                          "epoch": config.epochs, "selection": None})
    dist_utils.barrier()  # every process returns once the run folder is complete
    return out
