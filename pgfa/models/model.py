"""Skeleton encoder for zero-shot recognition: backbone + projection to text space.

Why a separate wrapper: the contrastive loss (SPEC section 6) compares
skeleton features with sentence embeddings, so the backbone output has to be
mapped to the text dimension; keeping that map out of the backbone lets any
backbone be plugged in through ``BACKBONES``: ``"stgcn"`` (setting A) and
``"shiftgcn"`` (setting B, which resamples time by 1.28 inside the backbone).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from pgfa.data.layouts import Layout
from pgfa.models.shiftgcn import ShiftGCN
from pgfa.models.stgcn import STGCN

# name -> backbone class; each takes (layout=..., dropout=...) and exposes
# ``out_dim``; its forward maps (N, C, T, V, M) to (N, out_dim).
# ShiftGCN ignores ``dropout`` (the published Shift-GCN has none).
BACKBONES: dict[str, type[nn.Module]] = {"stgcn": STGCN, "shiftgcn": ShiftGCN}


class ZeroShotModel(nn.Module):
    """Backbone followed by ``nn.Linear(backbone.out_dim, text_dim)``.

    The projection is left un-normalised: the loss and the evaluation
    normalise (cosine similarity), and keeping the raw output lets a caller
    inspect feature norms.
    """

    def __init__(self, backbone: nn.Module, text_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.projection = nn.Linear(backbone.out_dim, text_dim)
        self.text_dim = text_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone output only: ``(N, C, T, V, M) -> (N, backbone.out_dim)``."""
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Projected features: ``(N, C, T, V, M) -> (N, text_dim)``, not normalised."""
        return self.projection(self.backbone(x))


def build_model(
    backbone: str = "stgcn",
    layout: str | Layout = "ntu25",
    text_dim: int = 384,
    dropout: float = 0.5,
) -> ZeroShotModel:
    """Build a :class:`ZeroShotModel` from a registered backbone name."""
    try:
        backbone_class = BACKBONES[backbone]
    except KeyError:
        raise ValueError(
            f"unknown backbone {backbone!r}; known backbones: {', '.join(sorted(BACKBONES))}"
        ) from None
    return ZeroShotModel(backbone_class(layout=layout, dropout=dropout), text_dim)
