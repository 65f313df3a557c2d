"""Multi-process training helpers (``torchrun`` + DistributedDataParallel).

``torchrun --nproc-per-node N -m pgfa train ...`` starts N copies of the
training command with ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` set;
:func:`init_distributed` reads them and joins the process group (``nccl`` on
CUDA, one GPU per process; ``gloo`` on CPU). Without these variables (or with
``WORLD_SIZE=1``) nothing here does anything and training is the plain
single-process loop.

What is split and what is global
--------------------------------
Every process builds the *same* global batches as the single-process loop
(the order depends only on ``(seed, epoch)``) and takes its own contiguous
part of each (:func:`shard_sizes`). The contrastive loss of SPEC section 6
couples all samples of a batch, so it is not the mean of per-process losses:
each process gathers the skeleton features, text features and labels of the
whole batch (:func:`all_gather_with_grad`, rank order = the single-process
sample order) and computes the loss over the global batch. The gather keeps
the gradient of the local part; its backward sums the gradients of all
processes, and DDP's gradient *averaging* then yields exactly the gradient of
the global-batch loss.

BatchNorm: per-process statistics (no SyncBatchNorm)
----------------------------------------------------
Each process normalises with the statistics of its own ``B / N`` samples and
DDP broadcasts rank 0's running statistics at every forward. This is the one
difference from single-process training with the full batch (dropout aside:
each rank draws its own masks). Why not ``SyncBatchNorm``:

* ``torch.nn.SyncBatchNorm`` refuses CPU tensors (``ValueError: SyncBatchNorm
  expected input tensor to be on GPU ...``, checked with torch 2.13), so it
  cannot run under gloo on CPU;
* the fast ST-GCN (:mod:`pgfa.models.stgcn`) computes its block BatchNorms in
  a fused autograd Function that only reads the ``BatchNorm2d`` modules'
  parameters, so ``convert_sync_batchnorm`` would synchronise only the input
  ``data_bn`` even on GPU: half-synchronised, and different from CPU.

Synchronised statistics would need the fused BatchNorm to all-reduce its
per-channel sums; with the usual per-GPU batches (32 and more, i.e. tens of
thousands of rows per channel for the block BatchNorms) per-process
statistics are what most ST-GCN code bases train with.

torch.compile
-------------
The training loop compiles the model *inside* DDP (``DDP(torch.compile(m))``)
and turns dynamo's DDP optimisation off (``optimize_ddp = False``): splitting
the graph at gradient buckets failed on ST-GCN with torch 2.13. Checkpoints
are saved from the plain module (:func:`unwrap_model` finds it under both
wrappers), so their keys have no ``module.`` or ``_orig_mod.`` prefix.
"""
from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from pgfa.runtime import pick_device, set_threads

T = TypeVar("T")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank, the number of processes, its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False  # this module created the process group (and so destroys it)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world() -> tuple[int, int, int]:
    """``(world_size, rank, local_rank)`` from torchrun's environment, ``(1, 0, 0)`` without it."""
    return (int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0)),
            int(os.environ.get("LOCAL_RANK", 0)))


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """This process's rank: from the process group, else from ``RANK`` (0 when not launched by torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return env_world()[1]


def is_main() -> bool:
    """True on the process that writes files and prints (rank 0, or the only process)."""
    return get_rank() == 0


def init_distributed(device: str | torch.device, pick: Callable[[str], torch.device] | None = None) -> DistContext:
    """Join the process group when launched by ``torchrun``; return this process's context.

    ``device`` is the configured device (``auto``, ``cpu``, ``cuda``...). With
    several processes on CUDA each takes ``cuda:LOCAL_RANK`` (an explicit
    device index is overridden); on CPU the intra-op threads are divided
    among the processes of the node so that they do not oversubscribe it.
    Reuses a process group that the caller has already initialised (and then
    leaves it to the caller to destroy).
    """
    name = str(device)
    if pick is None:
        pick = pick_device
    world_size, rank, local_rank = env_world()
    already = dist.is_available() and dist.is_initialized()
    if already:
        world_size, rank = dist.get_world_size(), dist.get_rank()
    if world_size <= 1:
        return DistContext(device=pick(name))
    chosen = pick(name)
    if chosen.type == "cuda":
        chosen = torch.device("cuda", local_rank)
        torch.cuda.set_device(chosen)
    if not already:
        if not dist.is_available():
            raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
        backend = "nccl" if chosen.type == "cuda" else "gloo"
        kwargs = {"device_id": chosen} if chosen.type == "cuda" else {}
        dist.init_process_group(backend=backend, **kwargs)
    if chosen.type == "cpu":
        local = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
        set_threads(processes_per_node=local)
    return DistContext(rank, world_size, local_rank, chosen, owns_group=not already)


def cleanup(ctx: DistContext) -> None:
    """Destroy the process group if :func:`init_distributed` created it.

    Collects garbage first: DDP objects sit in reference cycles, and a DDP
    reducer that outlives its process group made about 1 in 12 gloo
    processes abort at exit ("terminate called without an active exception").
    """
    if ctx.owns_group and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


@contextmanager
def main_process_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. fills a cache), then the others.

    The barrier is also reached when rank 0's block raises, so the others
    never wait forever; they then run the block themselves (and typically
    fail the same way).
    """
    if is_distributed() and not is_main():
        dist.barrier()
    try:
        yield
    finally:
        if is_distributed() and is_main():
            dist.barrier()


def run_on_main(fn: Callable[[], T]) -> T:
    """Call ``fn`` on rank 0 only and hand its result (or its exception) to every process."""
    if not is_distributed():
        return fn()
    box: list[Any] = [None]
    if is_main():
        try:
            box[0] = ("ok", fn())
        except Exception as err:  # re-raised on every rank below
            box[0] = ("error", err)
    dist.broadcast_object_list(box, src=0)
    kind, value = box[0]
    if kind == "error":
        raise value
    return value


def all_gather_object(obj: Any) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]``; ``[obj]`` in a single process."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def shard_sizes(n: int, world_size: int) -> list[int]:
    """Sizes of the contiguous parts of an ``n``-sample batch, as ``np.array_split`` cuts it."""
    return [len(part) for part in np.array_split(np.arange(n), world_size)]


def shard(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """This rank's contiguous part of a global batch (the parts concatenated in rank order give it back)."""
    return np.array_split(indices, world_size)[rank]


class _AllGather(torch.autograd.Function):
    """Concatenate every rank's ``(n_r, ...)`` tensor along dim 0; sizes may differ.

    Backward: every rank may have used the whole gathered tensor, so the
    gradient of rank r's part is the *sum* over ranks of their gradients
    for it (all-reduce), of which rank r keeps its own slice.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        rank = dist.get_rank()
        if tensor.shape[0] != sizes[rank]:
            raise ValueError(f"rank {rank}: gathering {tensor.shape[0]} rows but sizes say {sizes[rank]}")
        longest = max(sizes)
        padded = tensor.new_zeros((longest, *tensor.shape[1:]))
        padded[: tensor.shape[0]] = tensor
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
        ctx.rank, ctx.sizes = rank, list(sizes)
        return torch.cat([p[:n] for p, n in zip(parts, sizes)])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]], None


def all_gather_with_grad(tensor: torch.Tensor, sizes: list[int] | None = None) -> torch.Tensor:
    """Every rank's ``tensor`` concatenated in rank order, differentiable for the local part.

    ``sizes`` (rows per rank) saves one collective when every rank already
    knows them; tensors without gradient (labels) are gathered the same way.
    Returns ``tensor`` itself in a single process.
    """
    if not is_distributed():
        return tensor
    if sizes is None:
        sizes = [int(s) for s in all_gather_object(int(tensor.shape[0]))]
    if tensor.requires_grad and torch.is_grad_enabled():
        return _AllGather.apply(tensor, sizes)
    with torch.no_grad():
        return _AllGather.forward(_NoCtx(), tensor, sizes)


class _NoCtx:
    """Stands in for autograd's ``ctx`` when gathering without gradient."""


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers.

    Its ``state_dict`` has the keys of the model as built (no ``module.`` or
    ``_orig_mod.`` prefixes), so checkpoints load in single-process code.
    """
    while True:
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, torch.nn.Module):
            model = model._orig_mod
        else:
            return model
