"""What a training checkpoint holds.

Reading and writing checkpoint files (atomic writes, ``weights_only`` reads,
the model-signature check) belongs to the run folder, :mod:`pgfa.run`; this
module builds the state a training method saves, so every method writes the
same keys:

* ``model``: the plain module's ``state_dict``;
* ``signature``: :func:`pgfa.run.model_signature` (``{}`` for the two-stage
  classifier stage, whose network is only a backbone);
* ``epoch``: as earlier pgfa wrote it (1-based in ``best.pt``, 0-based in
  resume points), kept so older code still reads new runs;
* ``epoch_done``: the 1-based epoch whose model this is, read by
  :func:`pgfa.run.checkpoint_epoch`;
* ``selection``: the selected epoch's validation record (``None``: not
  selected on validation); further keys per method (optimiser, history, RNG).
"""
from __future__ import annotations

from typing import Any

from pgfa.run import SIGNATURE_KEYS, CheckpointError, load_checkpoint, save_checkpoint

__all__ = ["SIGNATURE_KEYS", "CheckpointError", "load_checkpoint", "save_checkpoint", "model_state"]


def model_state(model: dict, signature: dict, epoch: int, epoch_done: int, selection: dict | None,
                **extra: Any) -> dict[str, Any]:
    """A checkpoint's state: the keys above, in file order, then ``extra``."""
    return {"model": model, "signature": signature, "epoch": epoch, "selection": selection, **extra,
            "epoch_done": epoch_done}
