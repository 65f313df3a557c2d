"""The ``identity`` backbone: precomputed features in, the same features out.

Why: ``--data features:DIR`` (:mod:`pgfa.data.features`) gives ``(N, D)``
feature vectors made by some other encoder (pgfa's own export, or any
method's). With this backbone the one training loop trains only the
projection ``Linear(D, text_dim)`` on them, and ``pgfa evaluate`` scores and
aligns them exactly as it does a skeleton model's output; nothing in the
loop needs to know. ``D`` comes from the data's layout name ``features:<D>``,
which the run's checkpoint signature records like any layout.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from pgfa.models.registry import register_backbone


@register_backbone("identity")
class IdentityBackbone(nn.Module):
    """``(N, D) -> (N, D)``; no parameters. ``layout`` must be ``features:<D>``."""

    def __init__(self, layout: str = "features:256") -> None:
        super().__init__()
        head, _, dim = str(layout).partition(":")
        if head != "features" or not dim.isdigit() or int(dim) < 1:
            raise ValueError(f"the identity backbone takes precomputed features (--data features:DIR, layout "
                             f"features:<D>); got layout {layout!r}. Skeleton data needs a skeleton backbone "
                             f"such as stgcn")
        self.out_dim = int(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.out_dim:
            raise ValueError(f"identity backbone built for (N, {self.out_dim}) features, got {tuple(x.shape)}")
        return x.float()
