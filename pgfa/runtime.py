"""Runtime concerns: which device, how many CPU threads, the CPU allocator tweak.

Why a module of its own: these are process-wide settings that the training
loop, evaluation, the API and the benchmarks all need, and none of them is
part of a model. Keeping them here lets :mod:`pgfa.models` stay pure network
code and lets evaluation pick a device without importing the training loop.

It also holds the two pieces of the training step that decide where data
lives and when the host waits for the device: :class:`DeviceBatches` (the
training array copied to the GPU once, batches gathered there by index) and
:class:`LossTally` (losses summed on the device, read back every N steps).

A foundation module: imports torch, numpy and :mod:`pgfa.errors` only.
"""
from __future__ import annotations

import ctypes
import os
import sys
from typing import Callable

import numpy as np
import torch

from pgfa.errors import PgfaError

__all__ = ["DeviceBatches", "DeviceError", "LossTally", "cpu_allocator_tuned", "pick_device", "set_threads",
           "tune_cpu_allocator"]


class DeviceError(PgfaError, RuntimeError):
    """The asked-for device does not exist on this machine."""

_ALLOCATOR_TUNED = False


def pick_device(name: str | torch.device) -> torch.device:
    """The ``torch.device`` for a configured device name.

    ``"auto"`` is CUDA when this torch build sees a GPU, else the CPU; any
    other name (``"cpu"``, ``"cuda"``, ``"cuda:1"``...) is taken as given.
    Asking for CUDA where there is none fails here, with the reason, rather
    than at the first tensor copy deep inside training.

    Raises:
        DeviceError (a RuntimeError): CUDA was asked for and is not available, or the index
            names a GPU that does not exist.
    """
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = "built without CUDA" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, no GPU visible"
            raise DeviceError(
                f"device {name!r} was asked for but CUDA is not available (this torch {torch.__version__} is "
                f"{built}); use --device cpu or --device auto"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {name!r} was asked for but only {torch.cuda.device_count()} GPU(s) are visible"
            )
    return device


def set_threads(count: int | None = None, processes_per_node: int = 1) -> int:
    """Set torch's intra-op CPU threads; returns the number set.

    ``count`` None means ``OMP_NUM_THREADS`` when the user set it (so jobs
    sharing a machine can be told to take one core each), else all cores
    divided among ``processes_per_node`` processes (so several torchrun
    workers on one CPU do not oversubscribe it). At least one thread.
    """
    if count is None and os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
        count = int(os.environ["OMP_NUM_THREADS"])
    if count is None:
        count = (os.cpu_count() or 1) // max(1, processes_per_node)
    count = max(1, int(count))
    torch.set_num_threads(count)
    return count


def cpu_allocator_tuned() -> bool:
    """Whether :func:`tune_cpu_allocator` has taken effect in this process."""
    return _ALLOCATOR_TUNED


def tune_cpu_allocator(cache_bytes: int = 2**31 - 1) -> bool:
    """Keep freed large blocks in glibc's heap instead of returning them to the OS.

    Why: by default glibc serves every allocation above 32 MB with a fresh
    ``mmap`` and unmaps it on free, so each large activation of every training
    step is page-faulted and zeroed by the kernel again. On a 2-core VM this
    made an out-of-place elementwise op on an 85 MB tensor ~6x slower than
    the same op into existing memory (22 ms vs 3.5 ms). Raising the mmap and
    trim thresholds lets the heap keep and reuse that memory. The cost is a
    resident set that does not shrink after the peak.

    Only for CPU training and CPU evaluation (which encodes every test clip
    in batches of 256): on CUDA the activations live in the GPU's caching
    allocator and this would only keep host memory resident for nothing.
    Process-wide and irreversible; call it once at the start of training.
    Does nothing (returns False) outside Linux/glibc.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    ok = mallopt(M_MMAP_THRESHOLD, cache_bytes) == 1
    ok = (mallopt(M_TRIM_THRESHOLD, cache_bytes) == 1) and ok
    ok = (mallopt(M_TOP_PAD, 64 << 20) == 1) and ok
    _ALLOCATOR_TUNED = ok
    return ok


# ----------------------------------------------------------------------------- data on the device

DATA_ON_DEVICE = ("auto", "always", "never")
# "auto" copies the training array to a GPU only when it takes at most this share of the free memory,
# leaving the rest for activations (batch-128 ST-GCN training needs a few GB).
_AUTO_SHARE = 0.5


class DeviceBatches:
    """Training batches ``(x, y)`` gathered by dataset index, from the host or from a copy on the device.

    Why: on a GPU a host-side gather plus a host-to-device copy of every batch
    (128 x 30 KB, with a synchronising pageable copy) costs more than the
    step's arithmetic at the target rates. With ``on_device`` the rows of
    ``indices`` (the seen-class training samples) are copied to the device
    once, chunk by chunk (so a memory-mapped array is never materialised on
    the host), and every batch is one ``index_select`` there; the only
    per-step transfer is the batch's few hundred int64 positions.

    ``mode`` is the config's ``data_on_device``: ``auto`` = on the device when
    it is CUDA and the copy takes at most half of the free GPU memory;
    ``always`` = on the device (on the CPU: a copy in RAM instead of reading
    the memory map); ``never`` = the host path, exactly the former one
    (``torch.from_numpy(data[idx]).to(device)``).

    ``read(idx) -> (len(idx), C, T, V, M)`` reads rows of ``data`` for both
    paths (default ``np.ascontiguousarray(data[idx])``); training passes
    :func:`pgfa.data.formats.read_rows`, which reads a memory map with
    positional reads so its pages do not pile up in the process's memory
    (this module may not import :mod:`pgfa.data`, hence the parameter).

    Shapes: ``data`` ``(N, C, T, V, M)`` float32 (may be a memory map),
    ``labels`` ``(N,)`` int, ``indices`` sorted distinct ``(n,)`` dataset
    indices; :meth:`batch` takes sorted dataset indices ``(B,)`` that are all
    in ``indices`` and returns ``x (B, C, T, V, M)`` and ``y (B,)`` on the device.
    """

    def __init__(self, data: np.ndarray, labels: np.ndarray, indices: np.ndarray, device: torch.device,
                 mode: str = "auto", chunk: int = 4096,
                 read: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        if mode not in DATA_ON_DEVICE:
            raise ValueError(f"data_on_device must be one of {', '.join(DATA_ON_DEVICE)}, got {mode!r}")
        self.device = torch.device(device)
        self.data, self.labels = data, np.asarray(labels)
        self.read = read or (lambda idx: np.ascontiguousarray(data[idx]))
        self.indices = np.asarray(indices, dtype=np.int64)
        if len(self.indices) > 1 and not (np.diff(self.indices) > 0).all():
            raise ValueError("DeviceBatches: indices must be sorted and distinct")
        row_bytes = int(np.prod(data.shape[1:])) * 4
        self.nbytes = row_bytes * len(self.indices)
        self.on_device = self._decide(mode)
        if self.on_device:
            self.x = torch.empty((len(self.indices), *data.shape[1:]), dtype=torch.float32, device=self.device)
            for start in range(0, len(self.indices), chunk):
                rows = np.asarray(self.read(self.indices[start : start + chunk]), dtype=np.float32)
                self.x[start : start + len(rows)].copy_(torch.from_numpy(rows))
            self.y = torch.from_numpy(self.labels[self.indices].astype(np.int64)).to(self.device)
        self._labels_t = torch.from_numpy(self.labels.astype(np.int64))

    def _decide(self, mode: str) -> bool:
        if mode == "never":
            return False
        if mode == "always":
            return True
        if self.device.type != "cuda":
            return False  # the host path reads the memory map directly; a RAM copy would only cost memory
        free, _ = torch.cuda.mem_get_info(self.device)
        return self.nbytes <= _AUTO_SHARE * free

    def describe(self) -> str:
        where = f"on {self.device} ({self.nbytes / 1e9:.2f} GB copied once)" if self.on_device else "read per batch"
        return f"training data {where}"

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of the dataset indices ``idx`` (sorted), on the device."""
        if not self.on_device:
            x = torch.from_numpy(self.read(idx)).to(self.device, non_blocking=True)
            return x, self._labels_t[idx].to(self.device)
        rows = np.searchsorted(self.indices, idx)
        if len(idx) and (rows.max() >= len(self.indices) or (self.indices[rows] != idx).any()):
            raise IndexError("DeviceBatches: a batch index is not among the training indices")
        pos = torch.from_numpy(rows).to(self.device, non_blocking=True)
        return self.x.index_select(0, pos), self.y.index_select(0, pos)


class LossTally:
    """Sum of ``loss x batch size`` kept on the device; the host reads it only every ``every`` steps.

    Why: ``loss.item()`` after every step makes the host wait for the device,
    so the next step's kernels are never queued while this one runs. Here a
    step adds to a device scalar (no wait) and :meth:`add` returns the mean
    loss so far only when a read is due (every ``every`` steps, for logging
    and the non-finite check), else None; :meth:`mean` reads at the end of the
    epoch. On the CPU there is nothing to overlap and the arithmetic is the
    same (float64 sum of float32 losses, the former ``total += loss.item() * n``
    up to summation order).
    """

    def __init__(self, device: torch.device, every: int = 50) -> None:
        self.every = max(1, int(every))
        self.total = torch.zeros((), dtype=torch.float64, device=device)
        self.count = 0
        self.steps = 0

    def add(self, loss: torch.Tensor | float, n: int) -> float | None:
        """Add a batch's mean ``loss`` (0-d tensor on this device, or a float) over ``n`` samples."""
        value = loss.detach().double() if isinstance(loss, torch.Tensor) else torch.tensor(float(loss),
                                                                                           dtype=torch.float64)
        self.total += value * n
        self.count += n
        self.steps += 1
        return self.mean() if self.steps % self.every == 0 else None

    def mean(self) -> float:
        """Mean loss per sample so far (reads the device: one synchronisation)."""
        return float(self.total.item()) / max(self.count, 1)
