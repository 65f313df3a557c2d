"""Training: ``train(config, out)`` sets up a run folder and runs the configured method.

The steps of :func:`train`: decide what to do with the folder (new, resume,
replace; :func:`check_run_folder`), load and split the data and embed the
class texts (:func:`pgfa.run.prepare_inputs`), write the run's files
(:func:`pgfa.run.write_run_files`), build the model, then hand a
:class:`~pgfa.training.epochs.TrainingSession` to the method chosen in
:data:`METHODS`: ``"pgfa"`` (end-to-end contrastive training, this module) or
``"two-stage"`` (the baseline, :mod:`pgfa.training.two_stage`). Both run the
same epoch loop (:func:`pgfa.training.epochs.run_epochs`). The run folder's
files are described in :mod:`pgfa.run`.

The PGFA method runs under ``torchrun`` too (one process per GPU, or several
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
``max_steps`` stops training after that many optimisation steps.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from pgfa.config import TrainConfig
from pgfa.data.skeletons import SkeletonSet
from pgfa.errors import PgfaError
from pgfa.io import ReplaceRefused, SetAside, check_replaceable, input_relation, recover_set_aside, remove_stale_tmp
from pgfa.run import BEST, CONFIG_FILE, LAST, STAGE1_LAST, build_run_model, is_run_entry, model_signature, \
    prepare_inputs, write_history, write_run_files
from pgfa.data.formats import read_rows
from pgfa.runtime import DeviceBatches, pick_device, tune_cpu_allocator
from pgfa.scoring import seen_validation
from pgfa.training import distributed as dist_utils
from pgfa.training.augment import batch_augmenter
from pgfa.training.batchnorm import recalibrate_if_asked
from pgfa.training.budget import budget_warning, resolve_steps
from pgfa.training.checkpoint import load_checkpoint, model_state, save_checkpoint
from pgfa.training.distributed import DistContext, all_gather_with_grad
from pgfa.training.epochs import TrainingSession, budget_spent, is_better, run_epochs, selection_of
from pgfa.training.loss import soft_target_contrastive_loss
from pgfa.training.two_stage import train_two_stage

__all__ = ["train", "METHODS", "RESUMABLE_CHANGES", "RunExistsError", "batch_loss", "check_run_folder"]

# Config fields that may change between a run and its resumption: they decide
# how long or where/how fast it trains, not what is trained.
RESUMABLE_CHANGES = ("epochs", "max_steps", "steps", "device", "amp", "compile", "data_on_device")


#: On a GPU the training loss is read back (progress bar, NaN check) every this many steps, not every step.
LOSS_READ_EVERY = 50


class RunExistsError(PgfaError, RuntimeError):
    """The output folder holds another run; nothing was changed."""


def input_paths(config: TrainConfig) -> list[str]:
    """The files and folders a run reads, which ``--force`` must never delete (``data`` may be ``features:DIR``)."""
    data = str(config.data).removeprefix("features:") if config.data else None
    return [p for p in (data, config.classes, config.text_features) if p]


def check_run_folder(out: Path, config: TrainConfig, force: bool) -> str:
    """Decide what to do with ``out``: ``"resume"``, ``"new"`` or ``"replace"``.

    Nothing is created or deleted here, so a run that fails while loading its
    inputs leaves the folder as it was. ``"replace"`` (``--force``) is only
    returned for a folder pgfa may delete: a run folder (``config.yaml`` and
    nothing but pgfa's files, :func:`pgfa.run.is_run_entry`) that neither is,
    contains nor lies inside an input; otherwise :class:`pgfa.io.ReplaceRefused`
    names the file that would have been lost.
    """
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise RunExistsError(f"{out} exists and is not a folder; choose another --out")
    if force and out.exists():  # refuse early, before any work, when --force may not delete it
        overlap = input_relation(out, input_paths(config))
        if overlap is not None:
            raise ReplaceRefused(f"{out}: --force would delete it, but it {overlap[0]} the input {overlap[1]}; "
                                 "give another --out")
    cfg_path = out / CONFIG_FILE
    if cfg_path.is_file():
        previous = TrainConfig.load(cfg_path)
        # More (or fewer) epochs, another device, AMP or compile continue the same run.
        same = {k: v for k, v in previous.to_dict().items() if k not in RESUMABLE_CHANGES} == \
               {k: v for k, v in config.to_dict().items() if k not in RESUMABLE_CHANGES}
        # stage1_last.pt: a two-stage run stopped in its classifier stage
        if same and ((out / LAST).is_file() or (out / STAGE1_LAST).is_file()):
            return "resume"
        if not force:
            raise RunExistsError(
                f"{out} already holds a run with a different configuration (or no checkpoint); "
                "choose another --out, or pass --force to delete it and start over"
            )
        check_replaceable(out, input_paths(config), is_run_entry, "pgfa run folder", CONFIG_FILE)
        return "replace"
    if out.exists() and any(out.iterdir()):
        if not force:
            raise RunExistsError(f"{out} exists and is not empty; choose another --out or pass --force")
        check_replaceable(out, input_paths(config), is_run_entry, "pgfa run folder", CONFIG_FILE)
        return "replace"
    return "new"


def has_checkpoint(out: Path) -> bool:
    """Whether a run folder got as far as a checkpoint it can resume from (or use)."""
    return any((out / name).is_file() for name in (LAST, STAGE1_LAST, BEST))


def tidy_run_folder(out: Path, log: Callable[[str], None]) -> None:
    """Clear what a killed earlier run left: its ``.tmp`` checkpoint writes, a folder ``--force`` set aside."""
    for line in recover_set_aside(out, has_checkpoint):
        log(line)
    if not (out / CONFIG_FILE).is_file():  # only a run folder's own leftovers are pgfa's to delete
        return
    for path in remove_stale_tmp(out):
        log(f"removed {path} (an unfinished write of a killed run)")


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


class PgfaTrainer:
    """PGFA's method for :func:`~pgfa.training.epochs.run_epochs`: the SPEC 6 contrastive loss, end to end."""

    label = "epoch"

    def __init__(self, session: TrainingSession):
        self.s = session
        config, device = session.config, session.device
        self.indices = session.inputs.split.train
        self.optimizer = torch.optim.SGD(session.module.parameters(), lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay)
        self.amp_dtype = _amp_dtype(config, device, session.log)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.start_epoch, self.best, self.history = 0, None, []
        self.model = session.module  # replaced by the compiled / DDP-wrapped module in :meth:`wrap`
        self.device = device  # where run_epochs sums the losses; on a GPU it reads them every N steps only
        self.read_loss_every = 1 if device.type == "cpu" else LOSS_READ_EVERY

    def resume(self) -> None:
        """Restore model, optimiser, scaler, selection, history and dropout stream from ``last.pt``."""
        s = self.s
        state = load_checkpoint(s.out / LAST, s.signature)
        s.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.start_epoch, self.best, self.history = state["epoch"] + 1, state.get("best"), state.get("history", [])
        if self.scaler.is_enabled() and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        _restore_rng(state, s.ctx, s.device, s.config.seed, self.start_epoch)
        s.log(f"resuming {s.out} after epoch {self.start_epoch}")

    def wrap(self) -> None:
        """``torch.compile`` and DistributedDataParallel, as the config and the launch ask."""
        s = self.s
        if s.config.compile and s.ctx.enabled:
            # Dynamo's DDP optimisation (one graph per gradient bucket, to overlap the
            # all-reduce with the backward) failed on ST-GCN with torch 2.13 ("'int' object
            # has no attribute 'meta'"); one graph, reduced after the backward, works.
            import torch._dynamo as dynamo

            dynamo.config.optimize_ddp = False
        model: torch.nn.Module = torch.compile(s.module) if s.config.compile else s.module
        if s.ctx.enabled:
            model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[s.device.index] if s.device.type == "cuda" else None)
        self.model = model
        self.text_all = torch.from_numpy(s.inputs.text_features).to(s.device)
        data = s.inputs.skeletons.data
        self.batches = DeviceBatches(data, s.inputs.skeletons.labels, np.unique(self.indices), s.device,
                                     s.config.data_on_device, read=lambda idx: read_rows(data, idx))

    def train_mode(self) -> None:
        self.model.train()

    def step(self, idx: np.ndarray, epoch: int, augment: Callable | None = None) -> torch.Tensor:
        """One SGD step on this process's part of the global batch ``idx`` (``augment``d); the global batch's loss."""
        s = self.s
        sizes = dist_utils.shard_sizes(len(idx), s.ctx.world_size)
        part = dist_utils.shard(idx, s.ctx.rank, s.ctx.world_size)
        x, y = self.batches.batch(part)
        if augment is not None:
            x = augment(x, y)
        with torch.autocast(s.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            features = self.model(x)
        loss = batch_loss(features, self.text_all[y], y, s.config.logit_scale, sizes)
        if self.read_loss_every == 1 and not torch.isfinite(loss):  # else run_epochs checks when it reads
            raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch + 1}; try a lower lr")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach()  # summed on the device by run_epochs (pgfa.runtime.LossTally), no wait here

    def end_epoch(self, epoch: int, record: dict) -> None:
        """Validate on seen classes, keep ``best.pt`` if better, write ``last.pt`` and the history (rank 0)."""
        s = self.s
        rng_ranks = dist_utils.all_gather_object(_rng_state(s.device))  # collective: every rank calls it
        if not s.ctx.is_main:
            return
        recalibrate_if_asked(s.module, s.config, s.inputs, s.device)  # saved with the checkpoints below
        record.update(seen_validation(s.module, s.inputs, s.device, s.config.logit_scale))
        self.history.append(record)
        improved = "val_top1" in record and is_better(record, self.best)
        if improved:
            self.best = selection_of(record)
            save_checkpoint(s.out / BEST, model_state(s.module.state_dict(), s.signature, epoch + 1, epoch + 1,
                                                      self.best))
        save_checkpoint(s.out / LAST, self._resume_state(epoch, rng_ranks))
        write_history(s.out, self.history)
        val = f" val_top1={record['val_top1']:.3f}" if "val_top1" in record else ""
        s.log(f"epoch {epoch + 1}/{s.config.epochs} loss={record['train_loss']:.4f}{val} "
              f"lr={record['lr']:.4g} ({record['seconds']:.1f}s){' *' if improved else ''}")

    def _resume_state(self, epoch: int, rng_ranks: list[dict]) -> dict:
        s = self.s
        state = {"model": s.module.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "signature": s.signature, "epoch": epoch, "best": self.best,
                 "history": self.history, "rng": rng_ranks[0]["cpu"], "epoch_done": epoch + 1}
        if s.device.type == "cuda":
            state["cuda_rng"] = rng_ranks[0]["cuda"]
        if s.ctx.enabled:
            state["rng_ranks"] = rng_ranks
        if self.scaler.is_enabled():
            state["scaler"] = self.scaler.state_dict()
        return state


def train_pgfa(session: TrainingSession) -> Path:
    """PGFA (SPEC 6): backbone and projection trained end to end with the contrastive loss."""
    s, config, split = session, session.config, session.inputs.split
    trainer = PgfaTrainer(session)
    if s.resuming:
        trainer.resume()
    elif s.ctx.rank > 0:  # the same init everywhere (DDP also broadcasts it), different dropout masks
        torch.manual_seed(_rank_seed(config.seed, s.ctx.rank, 0))
    if trainer.start_epoch >= config.epochs or budget_spent(config, split.train, trainer.start_epoch,
                                                            s.ctx.world_size):
        s.log(f"{s.out}: all {config.epochs} epochs already trained" if trainer.start_epoch >= config.epochs
              else f"{s.out}: the step budget (max_steps={config.max_steps}) is already used up")
        return s.out
    trainer.wrap()
    augmenter = batch_augmenter(s)  # None without config.augment; refuses an impossible mirror before training
    processes = f", {s.ctx.world_size} processes" if s.ctx.enabled else ""
    precision = f", autocast {str(trainer.amp_dtype).removeprefix('torch.')}" if trainer.amp_dtype else ""
    s.log(f"training {config.backbone} on {len(split.train)} seen-class samples "
          f"({len(split.seen_classes)} classes), validating on {len(split.val)}, "
          f"{len(split.unseen_classes)} unseen classes held out; device {s.device}{processes}{precision}"
          f"{', compiled' if config.compile else ''}"
          f"{'; ' + trainer.batches.describe() if trainer.batches.on_device else ''}"
          f"{'; ' + augmenter.describe() if augmenter else ''}")
    run_epochs(trainer, config, trainer.start_epoch, s.ctx.world_size, progress=s.progress and s.ctx.is_main,
               augmenter=augmenter)
    if s.ctx.is_main and trainer.best is None:  # no validation data: the last epoch is the selected one
        done = trainer.history[-1]["epoch"] if trainer.history else config.epochs
        save_checkpoint(s.out / BEST, model_state(s.module.state_dict(), s.signature, done, done, None))
    dist_utils.barrier()  # every process returns once the run folder is complete
    return s.out


class TrainingMethod(NamedTuple):
    """An entry of :data:`METHODS`: how to train, and whether it may run in several processes."""

    train: Callable[[TrainingSession], Path]
    multi_process: bool


#: ``config.method`` -> its training (see :class:`~pgfa.training.epochs.TrainingSession`).
METHODS: dict[str, TrainingMethod] = {
    "pgfa": TrainingMethod(train_pgfa, multi_process=True),
    "two-stage": TrainingMethod(train_two_stage, multi_process=False),
}


def train(
    config: TrainConfig,
    out: str | Path,
    skeletons: SkeletonSet | None = None,
    force: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Train a model as SPEC section 6 (or the configured method); returns the run folder.

    Re-running the same command on the same folder resumes from ``last.pt``.
    Launched by ``torchrun`` (``WORLD_SIZE`` > 1), it trains with
    DistributedDataParallel; see :mod:`pgfa.training.distributed`.
    ``skeletons`` stands in for ``config.data`` (data already in memory).
    """
    ctx = dist_utils.init_distributed(config.device, pick=pick_device)
    replaced: list[SetAside] = []  # the old run folder under --force, until the new one is worth keeping
    try:
        session = _start_session(config, Path(out), skeletons, force, progress, log, ctx, replaced)
        result = METHODS[config.method].train(session)
    except BaseException:
        for aside in replaced:  # a failed start gives the old run back; a resumable new one is kept
            aside.discard() if has_checkpoint(Path(out)) else aside.restore()
        raise
    else:
        for aside in replaced:
            aside.discard()
        return result
    finally:
        dist_utils.cleanup(ctx)


def _start_session(config: TrainConfig, out: Path, skeletons: SkeletonSet | None, force: bool, progress: bool,
                   log: Callable[[str], None] | None, ctx: DistContext, replaced: list) -> TrainingSession:
    """Check the folder, seed, load the inputs, write the run's files and build the model.

    A folder replaced under ``--force`` is appended to ``replaced`` (a
    :class:`pgfa.io.SetAside`) for :func:`train` to delete or restore.
    """
    if not ctx.is_main:
        log = lambda message: None  # noqa: E731 - rank 0 speaks for all
    log = log or tqdm.write  # prints above a live progress bar instead of through it
    if ctx.enabled and not METHODS[config.method].multi_process:
        raise ValueError(f"the {config.method} method trains in one process; run it without torchrun")
    if ctx.is_main:
        tidy_run_folder(out, log)
    action = dist_utils.run_on_main(lambda: check_run_folder(out, config, force))
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    if ctx.device.type == "cpu":
        tune_cpu_allocator()  # roughly doubles CPU training speed; see its docstring
    with dist_utils.main_process_first():  # rank 0 fills the embedding cache first
        inputs = prepare_inputs(config, skeletons)
    split = inputs.split
    if len(split.train) < 2:
        raise ValueError("fewer than two seen-class training samples")
    config = resolve_steps(config, len(split.train), ctx.world_size)  # --steps N: epochs from the data
    warning = budget_warning(config, len(split.train), ctx.world_size)
    if warning:
        log(warning)
    if ctx.world_size > min(config.batch_size, len(split.train)):
        raise ValueError(f"{ctx.world_size} processes need a batch size and a training set of at least "
                         f"{ctx.world_size} samples (batch size {config.batch_size}, {len(split.train)} samples)")
    if ctx.is_main:
        replaced.extend(_write_folder(out, config, inputs, action))
    module = build_run_model(config, inputs, ctx.device).to(ctx.device)
    return TrainingSession(config, out, inputs, module, model_signature(config, inputs), ctx.device, log, progress,
                           ctx, resuming=action == "resume")


def _write_folder(out: Path, config: TrainConfig, inputs, action: str) -> list[SetAside]:
    """Replace (``--force``), update the config of (resume) or create the run folder.

    Returns the old folder set aside by a replacement (empty list otherwise).
    """
    replaced = []
    if action == "replace":  # asked for with --force, and only once the inputs are known to be good
        check_replaceable(out, input_paths(config), is_run_entry, "pgfa run folder", CONFIG_FILE)  # again
        replaced.append(SetAside(out))  # moved beside out; deleted once the new run has a checkpoint
    if action == "resume":
        if TrainConfig.load(out / CONFIG_FILE) != config:
            config.save(out / CONFIG_FILE)  # records the new epoch count or device
    else:
        write_run_files(out, config, inputs)
    return replaced
