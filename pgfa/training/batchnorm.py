"""Re-estimate BatchNorm statistics with dropout off ("precise BN").

Why: ST-GCN applies dropout (p = 0.5) after each block's last BatchNorm, so
the next block's BatchNorm layers collect their running mean and variance
from activations that dropout has thinned and rescaled. At test time dropout
is off, the activations have another variance, and the stored statistics no
longer fit them (the "variance shift" of Li et al., CVPR 2019). On small or
briefly trained models this is large: a 12-epoch demo model scored 27 % on
its own training samples in evaluation mode and 64 % with the same weights
once the statistics were re-estimated without dropout (``docs/RESULTS.md``).

The fix changes no weight and no training step: before each validation the
running statistics are recomputed from a fixed subset of the *seen-class
training* samples, in training-mode BatchNorm with dropout disabled, as a
plain average over batches. Validation, the saved checkpoints and every later
evaluation then use statistics that match the evaluation-mode network.
It is a pgfa option (``bn_recalibration`` in the config, 0 = off, the
paper's behaviour), recorded with every run.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
import torch.nn as nn

_BatchNorm = nn.modules.batchnorm._BatchNorm


def recalibration_indices(train: np.ndarray, count: int, seed: int) -> np.ndarray:
    """A seeded draw of ``count`` seen-training sample indices (all of them if fewer), in random order.

    The order matters: the statistics are averaged over consecutive batches of
    this list, and a batch of one or two classes (samples are usually stored
    by class) would miss the variance between classes.
    """
    rng = np.random.default_rng(seed + 7_777)
    return rng.permutation(np.asarray(train))[:count]


@contextmanager
def _dropout_off(model: nn.Module):
    """Set every ``nn.Dropout``'s probability to 0 (the fast ST-GCN reads ``p`` directly)."""
    saved = [(m, m.p) for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
    try:
        for m, _ in saved:
            m.p = 0.0
        yield
    finally:
        for m, p in saved:
            m.p = p


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, data: np.ndarray, indices: np.ndarray, device: torch.device,
                          batch_size: int = 32) -> int:
    """Replace every BatchNorm's running statistics by their average over ``indices``.

    ``data``: ``(N, C, T, V, M)`` array (memory-mapped is fine); batches of
    ``batch_size`` consecutive entries of ``indices`` go through the model in
    training mode with dropout off; each BatchNorm's running mean and
    variance become the mean of the batch statistics (``momentum=None``).
    Modes, momenta and dropout rates are restored afterwards. Returns the
    number of BatchNorm layers updated (0: nothing to do).
    """
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    if not layers or len(indices) < 2:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    batches = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    if len(batches) > 1 and len(batches[-1]) < 2:  # BatchNorm needs two samples
        batches[-2] = np.concatenate([batches[-2], batches[-1]])
        batches = batches[:-1]
    try:
        model.train()
        with _dropout_off(model):
            for batch in batches:
                model(torch.from_numpy(np.ascontiguousarray(data[np.sort(batch)])).to(device))
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        model.train(was_training)
    return len(layers)


def recalibrate_if_asked(model: nn.Module, config, inputs, device: torch.device) -> None:
    """Re-estimate ``model``'s BatchNorm statistics on seen-training samples when ``config.bn_recalibration`` asks.

    ``config`` is the run's :class:`~pgfa.config.TrainConfig`, ``inputs`` its
    :class:`~pgfa.run.RunInputs`; the samples are
    :func:`recalibration_indices` of ``inputs.split.train``.
    """
    if config.bn_recalibration > 0:
        indices = recalibration_indices(inputs.split.train, config.bn_recalibration, config.seed)
        recalibrate_batchnorm(model, inputs.skeletons.data, indices, device, config.batch_size)
