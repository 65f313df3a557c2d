"""Shift-GCN backbone of SPEC section 5 (setting B), in plain PyTorch.

Shift-GCN (Cheng et al., CVPR 2020) replaces the graph convolution and the
9x1 temporal convolution of ST-GCN by *shifts* followed by pointwise (1x1)
channel mixing:

* **spatial shift**: a fixed permutation that moves channel ``c`` of every
  joint to another joint, so that a pointwise linear layer afterwards mixes
  information from all joints at the cost of a 1x1 convolution;
* **temporal shift**: each channel is moved along time by a *learnable*,
  fractional offset (linear interpolation between the two nearest frames),
  so that the receptive field in time is learned instead of fixed at 9.

The published code needs a CUDA extension for the temporal shift. Here both
shifts are gathers on precomputed or per-call index tensors
(:func:`shift_joints`, :func:`shift_time`), so the module runs on any device
and autograd derives the backward pass.

Layout. Activations are kept channels-last, ``(B, T, V, C)`` with
``B = N·M`` body sequences: the spatial shift and its per-(joint, channel)
BatchNorm then work on the contiguous ``(B·T, V·C)`` view, every pointwise
layer is a plain ``F.linear`` over the last dimension, and no activation is
permuted between the spatial and the temporal part of a unit (the published
code permutes NCTV <-> NTVC twice per unit).

Kept from the published code (Shift-GCN's model and CUDA kernel, which
the PGFA code uses unchanged): the unit layout and initialisation, the
feature mask, the per-(joint, channel) BatchNorm of the spatial part, and
the update rule of the temporal offsets (their gradient is replaced by
``0.01·sign``, see :class:`_NormalisedOffsetGrad`; ``normalised_offset_grad=
False`` gives the true gradient instead). As in the PGFA code, the input is
first resampled along time by 1.28 (:func:`resample_time`); here that is
done inside the backbone, so the data pipeline is the same for every
backbone.

Deviations from the published code, and why:

* The input batch-norm runs over ``V·C`` per body (as the ST-GCN of this
  package does and SPEC section 5 asks), not over ``M·V·C`` as in the PGFA
  code: bodies share the normalisation, so the model does not depend on the
  order of the bodies.
* ``dropout`` is accepted for the common backbone interface and **ignored**:
  the published Shift-GCN has no dropout.
* After a strided temporal shift the sequence has ``ceil(T / stride)``
  frames (the published kernel gives ``floor``); the two agree for even
  ``T``, and ``ceil`` is what the strided 1x1 residual convolution gives, so
  the residual sum is defined for any ``T``.
* The published temporal shift also has an offset along the joint axis,
  initialised to ±1e-8 and frozen by its backward pass (its gradient is
  multiplied by 0); it is left out.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from pgfa.data.layouts import Layout
from pgfa.models.head import SkeletonBackbone
from pgfa.models.registry import register_backbone

__all__ = ["ShiftGCN", "joint_shift_index", "resample_time", "shift_joints", "shift_time"]

DEFAULT_CHANNELS = (64, 64, 64, 64, 128, 128, 128, 256, 256, 256)
DEFAULT_STRIDES = (1, 1, 1, 1, 2, 1, 1, 2, 1, 1)

# Published step rule for the temporal offsets (see _NormalisedOffsetGrad).
OFFSET_GRAD_STEP = 0.01
OFFSET_GRAD_IF_ZERO = 1e-4


# ------------------------------------------------------------ shift primitives


def joint_shift_index(num_joints: int, channels: int, direction: int) -> torch.Tensor:
    """Flat gather index of the spatial shift on a ``(V·C)`` feature row.

    Output joint ``v``, channel ``c`` reads input joint
    ``(v + direction·c) mod V``, channel ``c``: ``direction=+1`` is the
    published "shift-in", ``-1`` the "shift-out" (its inverse when the
    channel counts match). Channel ``c`` is moved by ``c`` joints, so after
    the shift every joint holds channels coming from ``min(C, V)`` different
    joints, and the following pointwise layer sees the whole skeleton.

    Why a permutation of joint *indices* and not of graph neighbours: that is
    the published (non-local) Shift-GCN; it needs no adjacency, which is why
    the backbone works for any layout with only ``V`` from it.

    Returns:
        ``(V·C,)`` int64, entry ``v·C + c`` = ``((v + direction·c) mod V)·C + c``.
    """
    v = torch.arange(num_joints).unsqueeze(1)
    c = torch.arange(channels).unsqueeze(0)
    source_joint = (v + direction * c) % num_joints
    return (source_joint * channels + c).reshape(-1)


def shift_joints(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Apply a spatial shift: ``(..., V, C) -> (..., V, C)``.

    ``index`` comes from :func:`joint_shift_index`. The joint and channel axes
    are flattened so that the whole shift is one ``index_select`` on a
    contiguous row (its autograd backward, ``index_add``, is the inverse
    permutation and needs nothing special).
    """
    shape = x.shape
    rows = x.reshape(-1, shape[-2] * shape[-1])
    return rows.index_select(1, index).view(shape)


def shift_time(x: torch.Tensor, offset: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Shift every channel along time by its own fractional offset.

    Output frame ``t`` of channel ``c`` samples the input at time
    ``p = t·stride + offset[c]`` with linear interpolation between frames
    ``floor(p)`` and ``floor(p) + 1``; frames outside ``[0, T)`` are zeros
    (as in the published CUDA kernel). A stride samples every
    ``stride``-th position, i.e. it equals shifting with stride 1 and then
    keeping every ``stride``-th frame.

    How: the integer part of each offset gives, for every (output frame,
    channel), the two input frames to read; out-of-range frames point at one
    appended zero frame, so the offsets may drift arbitrarily far during
    training without any padding that depends on them. Both taps are read by
    one ``index_select`` on the flattened ``(T+1)·V·C`` row of each sequence
    (a gather whose index is the same for every sequence), then
    ``torch.lerp`` blends them with the fractional part. ``index_select`` on a
    contiguous row and its ``index_add`` backward made a CPU training step
    ~10 % faster than ``torch.gather`` along the strided time axis.

    The fractional part is a differentiable function of ``offset`` (``floor``
    has zero derivative), so autograd gives the offset gradient
    ``sum(grad · (x[floor(p)+1] - x[floor(p)]))``, as the published kernel
    does before its normalisation (:class:`_NormalisedOffsetGrad`).

    Args:
        x: ``(B, T, V, C)``.
        offset: ``(C,)`` float, in frames.
        stride: temporal stride.

    Returns:
        ``(B, ceil(T / stride), V, C)``.
    """
    B, T, V, C = x.shape
    t_out = (T - 1) // stride + 1
    floor = torch.floor(offset.detach())
    frac = (offset - floor).to(x.dtype)  # in [0, 1), carries the gradient
    start = torch.arange(t_out, device=x.device).unsqueeze(1) * stride + floor.long()  # (t_out, C)
    taps = torch.cat([start, start + 1])  # (2·t_out, C): lower taps, then upper taps
    taps = torch.where((taps >= 0) & (taps < T), taps, T)  # frame T = the zero frame
    # flat position of (frame taps[i, c], joint v, channel c) in a (T+1, V, C) row
    joint_channel = torch.arange(V * C, device=x.device).view(1, V, C)
    index = (taps.view(-1, 1, C) * (V * C) + joint_channel).view(-1)
    rows = torch.cat([x, x.new_zeros(B, 1, V, C)], dim=1).view(B, -1)
    sampled = rows.index_select(1, index).view(B, 2 * t_out, V, C)
    return torch.lerp(sampled[:, :t_out], sampled[:, t_out:], frac)


def resample_time(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Linear resampling along the last axis: ``(B, F, T) -> (B, F, floor(T·scale))``.

    ``align_corners=False`` with ``scale_factor`` (not ``size``) is what the
    PGFA reference does (``F.interpolate(data, scale_factor=(1.28, 1, 1),
    mode='trilinear', align_corners=False)`` on ``(N, C, T, V, M)``; the
    factors 1 make that trilinear map linear along T only): output frame
    ``t`` samples input time ``(t + 0.5) / scale - 0.5``, clamped to the first
    and last frame. So 50 frames give 64 and the result equals the
    reference's up to rounding.
    """
    if scale == 1:
        return x
    return F.interpolate(x, scale_factor=scale, mode="linear", align_corners=False)


class _NormalisedOffsetGrad(torch.autograd.Function):
    """Identity forward; backward replaces the offset gradient by the published step.

    The published backward (``applyShiftConstraint``) does not return the
    true gradient of the temporal offsets: it returns ``0.01·sign(g)``, and
    ``1e-4`` where ``g == 0``. With SGD this moves each offset by about
    ``lr·0.01`` frames per step (before momentum and weight decay) whatever
    the scale of the loss, which keeps the learned receptive field from
    jumping. Done here as an autograd
    Function (not a tensor hook) so that it survives ``copy.deepcopy`` and
    pickling of the module.
    """

    @staticmethod
    def forward(ctx, offset):
        return offset.view_as(offset)

    @staticmethod
    def backward(ctx, grad):
        return torch.where(
            grad != 0,
            OFFSET_GRAD_STEP * torch.sign(grad),
            torch.full_like(grad, OFFSET_GRAD_IF_ZERO),
        )


# ------------------------------------------------------------ layers


class ChannelBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the last (channel) axis of a channels-last tensor.

    Same statistics and parameters as ``BatchNorm2d`` on the NCTV tensor.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).view(x.shape)


def _pointwise(in_channels: int, out_channels: int) -> nn.Linear:
    """A 1x1 convolution as ``nn.Linear``, He-initialised as published (fan_out, zero bias)."""
    layer = nn.Linear(in_channels, out_channels)
    nn.init.kaiming_normal_(layer.weight, mode="fan_out")
    nn.init.zeros_(layer.bias)
    return layer


class TemporalShift(nn.Module):
    """A learnable per-channel shift along time (the published ``Shift`` module).

    Offsets start uniform in (-1, 1) frames, so each channel initially looks
    at most one frame back or ahead; stacking units widens that.
    """

    def __init__(self, channels: int, stride: int = 1, normalised_grad: bool = True) -> None:
        super().__init__()
        self.stride = stride
        self.normalised_grad = normalised_grad
        self.offset = nn.Parameter(torch.empty(channels).uniform_(-1.0, 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, V, C) -> (B, ceil(T / stride), V, C)``."""
        offset = _NormalisedOffsetGrad.apply(self.offset) if self.normalised_grad else self.offset
        return shift_time(x, offset, self.stride)

    def extra_repr(self) -> str:
        return f"channels={self.offset.numel()}, stride={self.stride}, normalised_grad={self.normalised_grad}"


class ShiftGraphConv(nn.Module):
    """Spatial part of a unit: shift-in, masked pointwise linear, shift-out, BN, residual.

    Shift-in spreads channels over joints; the learnable feature mask
    (``tanh(mask) + 1``, so it starts at 1 and stays in (0, 2)) weights every
    (joint, channel) after the shift, which is how Shift-GCN lets a joint
    choose which of the shifted-in features matter; the linear layer mixes
    channels; shift-out moves the result back. The BatchNorm is per (joint,
    channel) pair, as published.
    """

    def __init__(self, in_channels: int, out_channels: int, num_joints: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels))
        nn.init.normal_(self.weight, 0.0, math.sqrt(1.0 / out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.feature_mask = nn.Parameter(torch.zeros(num_joints, in_channels))
        self.bn = nn.BatchNorm1d(num_joints * out_channels)
        if in_channels == out_channels:
            self.down = None
        else:
            self.down = nn.Sequential(_pointwise(in_channels, out_channels), ChannelBatchNorm(out_channels))
        # Index tensors are not learned and are rebuilt from (V, C): keep them
        # out of the state dict, but let .to(device) move them.
        self.register_buffer("shift_in", joint_shift_index(num_joints, in_channels, +1), persistent=False)
        self.register_buffer("shift_out", joint_shift_index(num_joints, out_channels, -1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, V, C_in) -> (B, T, V, C_out)``."""
        B, T, V, _ = x.shape
        y = shift_joints(x, self.shift_in) * (torch.tanh(self.feature_mask) + 1)
        y = F.linear(y, self.weight, self.bias)
        y = shift_joints(y, self.shift_out)
        y = self.bn(y.view(B * T, -1)).view(B, T, V, -1)
        res = x if self.down is None else self.down(x)
        return torch.relu(y + res)


class ShiftTemporalConv(nn.Module):
    """Temporal part of a unit: BN, shift, pointwise conv, ReLU, strided shift, BN.

    Two shifts around one pointwise layer, as published: the first chooses,
    per input channel, which moment to read; the second, per output channel,
    where to write, so a unit sees up to about four frames without a 9x1
    kernel. The stride is applied by the second shift (sampling every
    ``stride``-th shifted position), not by a strided convolution.
    """

    def __init__(self, channels: int, stride: int = 1, normalised_offset_grad: bool = True) -> None:
        super().__init__()
        self.bn_in = ChannelBatchNorm(channels)
        self.shift_in = TemporalShift(channels, 1, normalised_offset_grad)
        self.linear = nn.Linear(channels, channels)
        # Published: He init of the weight only; the bias keeps PyTorch's default.
        nn.init.kaiming_normal_(self.linear.weight, mode="fan_out")
        self.shift_out = TemporalShift(channels, stride, normalised_offset_grad)
        self.bn_out = ChannelBatchNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, V, C) -> (B, ceil(T / stride), V, C)``."""
        y = self.shift_in(self.bn_in(x))
        y = torch.relu(self.linear(y))
        return self.bn_out(self.shift_out(y))


class ShiftUnit(nn.Module):
    """One Shift-GCN unit: spatial shift-GCN, temporal shift-conv, unit residual.

    The unit residual is absent on the first unit, the identity when shape is
    kept, else a strided 1x1 convolution + BN (published ``tcn`` with kernel 1).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_joints: int,
        stride: int = 1,
        residual: bool = True,
        normalised_offset_grad: bool = True,
    ) -> None:
        super().__init__()
        self.gcn = ShiftGraphConv(in_channels, out_channels, num_joints)
        self.tcn = ShiftTemporalConv(out_channels, stride, normalised_offset_grad)
        self.stride = stride
        self.has_residual = residual
        if residual and (in_channels != out_channels or stride != 1):
            self.residual = nn.Sequential(
                _pointwise(in_channels, out_channels), ChannelBatchNorm(out_channels)
            )
        else:
            self.residual = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, V, C_in) -> (B, ceil(T / stride), V, C_out)``."""
        y = self.tcn(self.gcn(x))
        if not self.has_residual:
            return torch.relu(y)
        if self.residual is None:
            return torch.relu(y + x)
        return torch.relu(y + self.residual(x[:, :: self.stride]))


@register_backbone("shiftgcn")
class ShiftGCN(SkeletonBackbone):
    """Shift-GCN backbone: ``(N, C, T, V, M) -> (N, out_dim)``, ``out_dim = 256`` by default.

    Steps: resample time by ``time_scale`` (linear, see :func:`resample_time`),
    batch-norm every (joint, coordinate) pair per body, ten
    :class:`ShiftUnit` s, average over time and joints, mean over bodies.
    The resampling is this backbone's :meth:`resample` hook of the shared
    :class:`~pgfa.models.head.SkeletonBackbone` head, which does the input
    BatchNorm and the pooling.

    Args:
        layout: joint layout; only its number of joints is used (the shifts
            need no graph).
        in_channels: coordinates per joint.
        dropout: ignored (the published Shift-GCN has none); accepted so that
            every backbone has the same constructor.
        channels, strides: per-unit output channels and temporal strides.
        time_scale: factor of the temporal resampling of the input, 1.28 as in
            PGFA (50 -> 64 frames). Done inside the backbone so that the data
            pipeline is the same for every backbone; 1 disables it.
        normalised_offset_grad: use the published update rule for the temporal
            offsets (gradient replaced by ``0.01·sign``, see
            :class:`_NormalisedOffsetGrad`); ``False`` gives the true gradient.
    """

    def __init__(
        self,
        layout: str | Layout = "ntu25",
        in_channels: int = 3,
        dropout: float = 0.0,
        channels=DEFAULT_CHANNELS,
        strides=DEFAULT_STRIDES,
        time_scale: float = 1.28,
        normalised_offset_grad: bool = True,
    ) -> None:
        if len(channels) != len(strides):
            raise ValueError("channels and strides must have the same length")
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale}")
        super().__init__(layout, in_channels)
        V = self.num_joints
        self.time_scale = float(time_scale)
        units = []
        c_in = in_channels
        for i, (c_out, s) in enumerate(zip(channels, strides)):
            units.append(
                ShiftUnit(c_in, c_out, V, s, residual=i > 0, normalised_offset_grad=normalised_offset_grad)
            )
            c_in = c_out
        self.units = nn.ModuleList(units)
        self.out_dim = c_in

    def resample(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, V·C, T) -> (B, V·C, floor(T·time_scale))``, before the data BN."""
        return resample_time(x, self.time_scale)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """``(N·M, T, V, C)`` channels-last -> ``(N·M, T', V, C_out)``."""
        for unit in self.units:
            x = unit(x)
        return x
