"""The part every skeleton backbone shares: input BatchNorm and pooling.

Why: ST-GCN (both implementations) and Shift-GCN used to repeat the same
steps around their blocks: fold the bodies into the batch, batch-normalise
every (joint, coordinate) pair per body over time ("data BN", SPEC section
5), hand the blocks a 4-D activation, then average the block output over
time and joints and the result over bodies. :class:`SkeletonBackbone` does
these steps once; a backbone only writes :meth:`SkeletonBackbone.trunk`
(its blocks) and, if it needs one, :meth:`SkeletonBackbone.resample` (a
transform of the input sequence before the data BN, e.g. Shift-GCN's
temporal resampling).

The arithmetic is exactly what each backbone did before (same permutes, same
BatchNorm module named ``data_bn``, same means), so ``state_dict`` keys and
outputs are unchanged.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from pgfa.data.layouts import Layout, get_layout

__all__ = ["SkeletonBackbone"]


class SkeletonBackbone(nn.Module):
    """Base class of backbones: ``(N, C, T, V, M) -> (N, out_dim)``.

    Subclasses call ``super().__init__(layout, in_channels)`` (which creates
    ``self.data_bn``, a ``BatchNorm1d(V·C)``), set ``self.out_dim`` and
    implement :meth:`trunk`. The class attribute ``channels_last`` says which
    activation layout :meth:`trunk` takes and returns: ``True`` for
    ``(B, T, V, C)``, ``False`` for ``(B, C, T, V)``, with ``B = N·M``
    body sequences. The trunk may change ``T`` (strides) and ``C`` but
    keeps the 4-D layout; the head averages over time and joints, then over
    bodies.
    """

    channels_last: bool = True
    out_dim: int

    def __init__(self, layout: str | Layout = "ntu25", in_channels: int = 3) -> None:
        super().__init__()
        layout = get_layout(layout)
        self.num_joints = layout.num_joints
        self.in_channels = in_channels
        self.data_bn = nn.BatchNorm1d(in_channels * layout.num_joints)

    # -- hooks for subclasses ------------------------------------------------

    def resample(self, x: torch.Tensor) -> torch.Tensor:
        """Transform the input sequences before the data BN: ``(B, V·C, T) -> (B, V·C, T')``.

        Identity here; Shift-GCN resamples time.
        """
        return x

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's blocks on normalised input (layout per ``channels_last``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement trunk()")

    # -- shared steps ----------------------------------------------------------

    def normalise_input(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, T, V, M)`` -> data-BN'd ``(N·M, T, V, C)`` or ``(N·M, C, T, V)``, contiguous."""
        if x.dim() != 5:
            raise ValueError(f"{type(self).__name__} expects (N, C, T, V, M) input, got shape {tuple(x.shape)}")
        N, C, T, V, M = x.shape
        if V != self.num_joints:
            raise ValueError(f"input has {V} joints, the backbone was built for {self.num_joints}")
        if C != self.in_channels:
            raise ValueError(f"input has {C} channels per joint, the backbone was built for {self.in_channels}")
        x = x.permute(0, 4, 3, 1, 2).reshape(N * M, V * C, T)
        x = self.data_bn(self.resample(x))
        T = x.shape[-1]
        x = x.view(N * M, V, C, T)
        if self.channels_last:
            return x.permute(0, 3, 1, 2).contiguous()  # (N·M, T, V, C)
        return x.permute(0, 2, 3, 1).contiguous()  # (N·M, C, T, V)

    def pool(self, x: torch.Tensor, num_bodies: int) -> torch.Tensor:
        """Trunk output -> ``(N, C_out)``: mean over time and joints, then over bodies."""
        x = x.mean(dim=(1, 2) if self.channels_last else (2, 3))  # (N·M, C_out)
        return x.view(-1, num_bodies, x.shape[-1]).mean(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(N, C, T, V, M)`` -> ``(N, out_dim)``."""
        return self.pool(self.trunk(self.normalise_input(x)), x.shape[-1])
