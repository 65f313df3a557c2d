"""Plain, textbook ST-GCN of SPEC section 5: the numerical oracle.

This module exists so that the fast backbone in :mod:`pgfa.models.stgcn` can
be checked against something obviously right, and so that its speed can be
compared with the straightforward formulation. Keep it readable rather than
fast: every step is the one of the ST-GCN paper, in NCHW layout
``(N·M, C, T, V)``.

Its ``state_dict`` has the same keys and shapes as :class:`pgfa.models.stgcn.STGCN`,
so weights load from one into the other unchanged.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from pgfa.data.layouts import Layout, get_layout
from pgfa.models.graph import spatial_adjacency
from pgfa.models.head import SkeletonBackbone
from pgfa.models.registry import register_backbone

DEFAULT_CHANNELS = (16, 16, 16, 16, 32, 32, 32, 64, 64, 256)
DEFAULT_STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)


class ReferenceBlock(nn.Module):
    """One spatial-temporal block: graph conv, temporal unit, residual.

    Input / output: ``(B, C, T, V)`` with ``B = N·M`` body sequences.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_joints: int,
        num_subsets: int = 3,
        stride: int = 1,
        temporal_kernel: int = 9,
        dropout: float = 0.5,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.num_subsets = num_subsets
        self.gcn = nn.Module()
        # One 1x1 conv producing all subsets' channels at once, as in ST-GCN.
        self.gcn.conv = nn.Conv2d(in_channels, num_subsets * out_channels, kernel_size=1)
        self.edge_importance = nn.Parameter(torch.ones(num_subsets, num_joints, num_joints))
        pad = (temporal_kernel - 1) // 2
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), (stride, 1), (pad, 0)),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout),
        )
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=(stride, 1)),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, C_in, T, V)``; ``A``: ``(K, V, V)`` source-by-target."""
        res = 0 if self.residual is None else self.residual(x)
        y = self.gcn.conv(x)
        b, kc, t, v = y.shape
        y = y.view(b, self.num_subsets, kc // self.num_subsets, t, v)
        y = torch.einsum("nkctv,kvw->nctw", y, A * self.edge_importance)
        y = self.tcn(y)
        return torch.relu(y + res)


@register_backbone("stgcn", impl="plain")
class ReferenceSTGCN(SkeletonBackbone):
    """Straightforward ST-GCN backbone: ``(N, C, T, V, M) -> (N, 256)``.

    ``block_class`` is a class attribute so that the fast backbone can reuse
    this constructor (and hence the exact parameter names) with its own block.
    The input BatchNorm and the pooling are the shared
    :class:`~pgfa.models.head.SkeletonBackbone` head; :meth:`trunk` runs the
    blocks on ``(N·M, C, T, V)``.

    ``memory_format``: ``"auto"`` (default) runs the blocks on channels-last
    (NHWC) memory on CUDA, where cuDNN's convolutions are fastest on it (and
    tensor cores need it in bfloat16), and on contiguous NCHW memory
    elsewhere; ``"channels_last"`` / ``"contiguous"`` force one. Only the
    memory layout differs, never the values (and not the ``state_dict``).
    Whether channels-last is faster on a GPU has not been measured yet.
    """

    block_class = ReferenceBlock
    channels_last = False  # trunk() takes (B, C, T, V)

    def __init__(
        self,
        layout: str | Layout = "ntu25",
        in_channels: int = 3,
        dropout: float = 0.5,
        channels=DEFAULT_CHANNELS,
        strides=DEFAULT_STRIDES,
        temporal_kernel: int = 9,
        memory_format: str = "auto",
    ) -> None:
        super().__init__(layout, in_channels)
        if len(channels) != len(strides):
            raise ValueError("channels and strides must have the same length")
        if memory_format not in ("auto", "contiguous", "channels_last"):
            raise ValueError(f"memory_format must be auto, contiguous or channels_last, got {memory_format!r}")
        self.memory_format = memory_format
        A = torch.from_numpy(spatial_adjacency(get_layout(layout)))
        self.register_buffer("A", A)
        V = self.num_joints
        blocks = []
        c_in = in_channels
        for i, (c_out, s) in enumerate(zip(channels, strides)):
            blocks.append(
                self.block_class(
                    c_in, c_out, V, A.shape[0], s, temporal_kernel, dropout, residual=i > 0
                )
            )
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.out_dim = c_in

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """``(N·M, C, T, V)`` -> ``(N·M, C_out, T', V)``."""
        if self.memory_format == "channels_last" or (self.memory_format == "auto" and x.is_cuda):
            x = x.contiguous(memory_format=torch.channels_last)
        for block in self.blocks:
            x = block(x, self.A)
        return x
