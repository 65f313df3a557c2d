"""Checkpoints: written atomically, read with ``weights_only=True``.

A checkpoint carries the *model signature* (the config fields that decide the
network's shape); loading it under another signature fails with a message
that names the differing fields instead of a wall of state-dict key errors.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pgfa.io import atomic_write

SIGNATURE_KEYS = ("backbone", "layout", "in_channels", "text_dim", "num_classes")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used here; the message says why."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda p: torch.save(state, p))


def load_checkpoint(path: str | Path, signature: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load a checkpoint; if ``signature`` is given, it must match the stored one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path}: not a readable pgfa checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(state, dict) or "model" not in state or "signature" not in state:
        raise CheckpointError(f"{path}: not a pgfa checkpoint (no model/signature entries)")
    if signature is not None:
        stored = state["signature"]
        diff = [f"{k}: checkpoint {stored.get(k)!r}, config {signature.get(k)!r}"
                for k in SIGNATURE_KEYS if stored.get(k) != signature.get(k)]
        if diff:
            raise CheckpointError(f"{path}: checkpoint is from another configuration ({'; '.join(diff)})")
    return state
