"""Skeleton encoder for zero-shot recognition: backbone + projection to text space.

Why a separate wrapper: the contrastive loss (SPEC section 6) compares
skeleton features with sentence embeddings, so the backbone output has to be
mapped to the text dimension; keeping that map out of the backbone lets any
registered backbone be plugged in (:mod:`pgfa.models.registry`):
``"stgcn"`` (setting A; implementations ``fast`` and ``plain``) and
``"shiftgcn"`` (setting B, which resamples time by 1.28 inside the backbone),
and ``"identity"`` (precomputed features, see :mod:`pgfa.models.identity`).
Importing this module (or :mod:`pgfa.models`) registers them.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from pgfa.data.layouts import Layout
from pgfa.models import identity as _identity  # noqa: F401  (registers "identity")
from pgfa.models import shiftgcn as _shiftgcn  # noqa: F401  (registers "shiftgcn")
from pgfa.models import stgcn as _stgcn  # noqa: F401  (registers "stgcn": fast and plain)
from pgfa.models.registry import BACKBONES, create_backbone

__all__ = ["BACKBONES", "ZeroShotModel", "build_model", "model_from_config"]


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
    options: dict | None = None,
    impl: str = "auto",
    device: str | torch.device | None = None,
) -> ZeroShotModel:
    """Build a :class:`ZeroShotModel` from a registered backbone name.

    Args:
        backbone: registered name (see :func:`pgfa.models.registry.backbone_names`).
        layout: joint layout the backbone is built for.
        text_dim: dimension ``D`` of the class-text embeddings.
        dropout: passed to the backbone when its constructor takes it.
        options: further backbone keyword options (the config's
            ``backbone_options``), e.g. ``{"channels": [...], "strides": [...]}``.
        impl: ``auto`` / ``fast`` / ``plain`` (the config's ``backbone_impl``);
            see :func:`pgfa.models.registry.resolve_impl`.
        device: where the model will run; only used by ``impl="auto"``. The
            model is returned on the CPU; move it with ``.to(device)``.
    """
    options = dict(options or {})
    if "dropout" in options:
        raise ValueError("backbone_options must not set 'dropout'; it is its own config field")
    module = create_backbone(backbone, layout, impl=impl, device=device, dropout=dropout, **options)
    return ZeroShotModel(module, text_dim)


def model_from_config(config, layout: str | Layout, text_dim: int,
                      device: str | torch.device | None = None) -> ZeroShotModel:
    """:func:`build_model` with the backbone fields of a :class:`~pgfa.config.TrainConfig`.

    Reads ``backbone``, ``dropout``, ``backbone_options`` and
    ``backbone_impl`` (the last two default to ``{}`` / ``auto`` for configs
    written before they existed), so every place that rebuilds a run's model
    builds the same one.
    """
    return build_model(
        backbone=config.backbone,
        layout=layout,
        text_dim=text_dim,
        dropout=config.dropout,
        options=getattr(config, "backbone_options", None) or {},
        impl=getattr(config, "backbone_impl", "auto") or "auto",
        device=device,
    )
