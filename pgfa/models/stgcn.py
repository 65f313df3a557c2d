"""Fast ST-GCN backbone: same math as :mod:`pgfa.models.stgcn_reference`.

Why a second implementation: on a small CPU the textbook ST-GCN spends most of
a training step moving memory (NCHW permutes, fresh 85 MB activations of the
last block, Dropout's ``bernoulli_``), not computing. This module keeps the
parameters, the arithmetic and the ``state_dict`` of the reference but
changes *how* it is evaluated:

* Activations live as ``(B, T, V, C)`` contiguous tensors (B = N·M bodies),
  i.e. channels-last. Every 1×1 convolution is then a product over rows
  ``(B·T·V, C)`` with no permute copies, and the 9×1 temporal convolution
  gets the NHWC view ``(B, C, T, V)`` that oneDNN/cuDNN run fastest. Channel
  mixing goes through ``conv2d`` (oneDNN) rather than ``F.linear`` because
  MKL's GEMM was ~1.5x slower on the AMD CPU this was tuned on.
* The graph convolution is linear, so the joint aggregation with the
  adjacency is done *before* the channel mixing when ``C_in <= C_out``
  (the intermediate then has ``K·C_in`` instead of ``K·C_out`` channels) and
  after it otherwise. The three subsets are one product with a stacked
  ``(K·V, V)`` matrix. Aggregation and mixing run chunk by chunk of rows in
  one autograd Function (:class:`_AggregateMix`), so the K-times-wider
  intermediate never leaves the cache and is recomputed, not stored, for
  the backward; its adjacency gradient uses the convolution backend's
  weight gradient instead of autograd's per-row outer products.
* BatchNorm (training mode) is one autograd Function together with what
  follows it (ReLU, or Dropout + residual add + ReLU), with a hand-written
  backward that reuses buffers. Statistics are computed from the centred
  input: PyTorch's channels-last CPU kernel showed a 10x larger error when
  the mean is large relative to the spread.
* Dropout masks come from 64-bit random words cut into bytes (8 masks per
  random number) instead of one ``bernoulli_`` draw per element.

Separately, :func:`pgfa.runtime.tune_cpu_allocator` removes the page-fault
cost of allocating large tensors with glibc (the biggest single cost measured
on a small VM); it is process-wide, so the training entry point calls it (on
CPU only).

The module is device-agnostic (no ``.cuda()``; CPU and CUDA take the same
code path).
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from pgfa.models.registry import register_backbone
from pgfa.models.stgcn_reference import ReferenceBlock, ReferenceSTGCN
# Re-exported for callers that still import it from here (moved to pgfa.runtime).
from pgfa.runtime import tune_cpu_allocator  # noqa: F401

__all__ = ["STGCN", "tune_cpu_allocator"]

# Rows of the graph convolution's K-times-wider intermediate processed at a
# time: small enough to stay in a 32 MB L3 cache with its neighbours
# (4 MB measured ~6 % faster per training step than materialising it whole,
# 1 MB and 16 MB were slower).
_CHUNK_BYTES = 4 << 20
_HALF = (torch.float16, torch.bfloat16)


# ----------------------------------------------------------------------------
# Mixed precision
#
# The custom Functions below are written for one dtype throughout (their
# ``out=`` buffers, ``addcmul`` with per-channel factors, the running-statistics
# ``lerp_``). Under autocast their inputs arrive in a mix of float32 (parameters,
# BatchNorm outputs) and bfloat16/float16 (convolution outputs), which either fails
# ("expected dtype float for `end`") or computes BatchNorm statistics in 8-bit
# mantissa. So they always run in float32 with autocast off: the inputs are cast
# up explicitly (what ``torch.amp.custom_fwd(cast_inputs=torch.float32)`` does,
# but for whichever device the tensors are on), and their backward passes run
# with autocast off as well. The convolutions *between* them (temporal 9x1,
# residual, channel mixing of shrinking blocks) stay under autocast and run in
# the low precision, which is where the arithmetic is.


def _autocast_active(x: torch.Tensor) -> bool:
    return torch.is_autocast_enabled(x.device.type)


def _fp32(t):
    """``t`` cast up to float32 when it is a half-precision tensor, else unchanged."""
    return t.float() if isinstance(t, torch.Tensor) and t.dtype in _HALF else t


def _apply_fp32(function, *args):
    """``function.apply(*args)`` in float32 with autocast off when autocast is on, else as is."""
    x = next(a for a in args if isinstance(a, torch.Tensor))
    if not _autocast_active(x):
        return function.apply(*args)
    with torch.autocast(x.device.type, enabled=False):
        return function.apply(*(_fp32(a) for a in args))


def _backward_without_autocast(backward):
    """Run a Function's backward with autocast off (it may be called inside an autocast region)."""

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        device_type = ctx.saved_tensors[0].device.type
        with torch.autocast(device_type, enabled=False):
            return backward(ctx, *(_fp32(g) for g in grads))

    return wrapper



# ----------------------------------------------------------------------------
# Dropout masks


def dropout_keep_mask(shape, p: float, device) -> tuple[torch.Tensor, float]:
    """Random keep mask for dropout, cheap to draw.

    Why: ``bernoulli_`` draws one random number per element (~250 ms for the
    21 M activations of the last block on 2 cores); one 64-bit random word
    gives 8 independent uniform bytes (or 4 uniform 16-bit numbers), ~7 ms.
    The drop probability is therefore rounded to a multiple of 1/256 when it
    is one exactly (0.5 is), else to a multiple of 1/65536; the returned
    scale ``1 / (1 - p_effective)`` keeps the output unbiased.

    Returns:
        ``keep``: uint8 tensor of ``shape`` with values 0 / 1;
        ``scale``: the factor to apply to kept values (0 if everything drops).
    """
    n = math.prod(shape)
    if float(p * 256).is_integer():
        words = torch.empty((n + 7) // 8, dtype=torch.int64, device=device).random_(-(2**63), None)
        draws = words.view(torch.uint8)[:n]
        threshold = int(p * 256)
        keep = draws >= threshold
        p_eff = threshold / 256
    else:
        words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None)
        draws = words.view(torch.int16)[:n]
        threshold = int(round(p * 65536))
        keep = draws >= threshold - 32768
        p_eff = threshold / 65536
    scale = 0.0 if p_eff >= 1 else 1.0 / (1.0 - p_eff)
    return keep.view(torch.uint8).view(shape), scale


# ----------------------------------------------------------------------------
# BatchNorm (+ dropout + residual + ReLU) in training mode


class _TrainBatchNormAct(torch.autograd.Function):
    """``out = act(dropout(BN_batchstats(x)) + res)`` on rows ``x: (R, C)``.

    Why one Function: in autograd each of BN, Dropout, add and ReLU keeps its
    own full-size output and its backward allocates another; fused, the
    forward allocates two ``(R, C)`` buffers (centred input, output) and the
    backward three, and the mask is applied as a byte multiply.

    Inputs: ``x (R, C)``, ``weight (C,)``, ``bias (C,)`` (either may be None),
    ``res (R, C)`` or None, ``keep (R, C)`` uint8 0/1 or None, ``scale``
    (dropout scale, 1 without dropout), ``relu`` (bool), ``eps``.
    Outputs: ``out (R, C)``, and the batch ``mean (C,)`` and biased
    ``var (C,)`` (not differentiable, for the running statistics).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, res, keep, scale, relu, eps):
        R = x.shape[0]
        mean = x.sum(0).div_(R)
        xc = x - mean
        out = torch.mul(xc, xc)  # scratch for the variance, then the output
        var = out.sum(0).div_(R)
        invstd = (var + eps).rsqrt_()
        s = invstd * scale if weight is None else weight * invstd * scale
        t = torch.zeros_like(mean) if bias is None else bias * scale
        torch.addcmul(t, xc, s, out=out)
        if keep is not None and res is not None:
            torch.addcmul(res, out, keep, out=out)  # one pass instead of two
        elif keep is not None:
            out.mul_(keep)
        elif res is not None:
            out.add_(res)
        if relu:
            out.relu_()
        ctx.save_for_backward(xc, out if relu else None, keep, s, invstd)
        ctx.scale = scale
        ctx.relu = relu
        ctx.has_res = res is not None
        ctx.has_weight = weight is not None
        ctx.mark_non_differentiable(mean, var)
        return out, mean, var

    @staticmethod
    @_backward_without_autocast
    def backward(ctx, grad_out, _grad_mean, _grad_var):
        xc, out, keep, s, invstd = ctx.saved_tensors
        R = xc.shape[0]
        g = grad_out
        if ctx.relu:
            g = torch.ops.aten.threshold_backward(g, out, 0.0)
        grad_res = g if ctx.has_res else None
        gb = g * keep if keep is not None else g  # gradient w.r.t. the BN output
        sum_g = gb.sum(0)
        tmp = gb * xc
        sum_gxc = tmp.sum(0)
        grad_weight = sum_gxc * invstd * ctx.scale if ctx.has_weight else None
        grad_bias = sum_g * ctx.scale
        grad_x = None
        if ctx.needs_input_grad[0]:
            # d/dx of (x - mean) * invstd * s' with batch mean and variance:
            # s' * (gb - mean(gb) - xc * invstd^2 * mean(gb * xc))
            a = s * invstd * invstd * sum_gxc * (-1.0 / R)
            b = s * sum_g * (-1.0 / R)
            grad_x = torch.addcmul(b, xc, a, out=tmp)
            grad_x.addcmul_(gb, s)
        return grad_x, grad_weight, grad_bias, grad_res, None, None, None, None


def batch_norm_act(
    x: torch.Tensor,
    bn: nn.BatchNorm2d,
    res: torch.Tensor | None = None,
    dropout: float = 0.0,
    relu: bool = False,
    training: bool = True,
) -> torch.Tensor:
    """``act(dropout(bn(x)) + res)`` for channels-last rows ``x: (R, C)``.

    Follows ``nn.BatchNorm2d``'s rules (batch statistics in training or when
    no running statistics are tracked, running-statistics update with
    ``momentum`` or a cumulative average when it is None) and ``nn.Dropout``
    (active in training only). ``bn`` is only a parameter holder here.

    Returns:
        ``(R, C)`` tensor.
    """
    use_batch_stats = bn.training or bn.running_mean is None
    if use_batch_stats:
        keep, scale = None, 1.0
        if training and dropout > 0:
            keep, scale = dropout_keep_mask(x.shape, dropout, x.device)
        out, mean, var = _apply_fp32(
            _TrainBatchNormAct, x, bn.weight, bn.bias, res, keep, scale, relu, bn.eps
        )
        if bn.training and bn.track_running_stats and bn.running_mean is not None:
            with torch.no_grad():
                bn.num_batches_tracked.add_(1)
                if bn.momentum is None:
                    factor = 1.0 / float(bn.num_batches_tracked)
                else:
                    factor = bn.momentum
                R = x.shape[0]
                bn.running_mean.lerp_(mean, factor)
                bn.running_var.lerp_(var * (R / max(R - 1, 1)), factor)
        return out
    # Running statistics: an affine map, left to autograd (no batch coupling).
    s = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        s = s * bn.weight
    t = -bn.running_mean * s
    if bn.bias is not None:
        t = t + bn.bias
    out = torch.addcmul(t, x, s)
    if training and dropout > 0:
        out = F.dropout(out, dropout, training=True)
    if res is not None:
        out = out.add_(res)
    if relu:
        out = out.relu_()
    return out


# ----------------------------------------------------------------------------
# Network


class _JointAggregate(torch.autograd.Function):
    """``z[n] = P @ x[n]``: mix joints with one small matrix shared by all rows.

    Shapes: ``x (N, V, C)``, ``P (Q, V)`` -> ``z (N, Q, C)``, where ``N = B·T``
    and ``P`` stacks the (importance-weighted) adjacency of all subsets.

    Why a Function: autograd's gradient for the shared (expanded) ``P`` is a
    batched product that writes an ``(N, Q, V)`` tensor and sums it (~100 MB
    for the 16-channel blocks); oneDNN's 1x1-convolution weight gradient
    (joints as channels) reduces over the batch internally, 2x faster. For
    very few channels (the 3 input coordinates) the 1x1 convolution is also
    the faster forward; otherwise ``bmm`` is.
    """

    @staticmethod
    def forward(ctx, x, P):
        ctx.save_for_backward(x, P)
        return _aggregate(x, P)

    @staticmethod
    @_backward_without_autocast
    def backward(ctx, grad_z):
        x, P = ctx.saved_tensors
        grad_z = grad_z.contiguous()
        need_x, need_P = ctx.needs_input_grad
        small = x.shape[-1] <= 8
        grad_x = grad_P = None
        if need_P or (need_x and small):
            gx, gP, _ = torch.ops.aten.convolution_backward(
                grad_z.unsqueeze(-1), x.unsqueeze(-1), P[:, :, None, None], None,
                [1, 1], [0, 0], [1, 1], False, [0, 0], 1,
                [need_x and small, need_P, False],
            )
            grad_P = gP.view_as(P) if need_P else None
            grad_x = gx.squeeze(-1) if (need_x and small) else None
        if need_x and not small:
            grad_x = torch.bmm(P.t().expand(x.shape[0], -1, -1), grad_z)
        return grad_x, grad_P


class _AggregateMix(torch.autograd.Function):
    """Graph convolution, joints first: ``y = mix(P @ x) + b``, chunked over rows.

    Shapes: ``x (N, V, C_in)`` (N = B·T), ``P (Q, V)`` with ``Q = V·K`` rows
    ordered (w, k), ``W (C_out, K·C_in)`` with columns ordered (k, c),
    ``b (V, C_out)`` -> ``y (N·V, C_out)``.

    Why: the intermediate ``z = P @ x`` has K times the channels of ``x``
    (61 MB for the 16-channel blocks at batch 128, more than the L3 cache).
    Materialised, it is written and read twice per step and its gradient
    once more. Here it only ever exists for a chunk of rows that stays in
    cache, and the backward recomputes it (a cheap product) instead of
    keeping it.
    """

    @staticmethod
    def forward(ctx, x, P, W, b, chunk):
        N, V, Cin = x.shape
        Q = P.shape[0]
        Cout = W.shape[0]
        y = torch.empty(N * V, Cout, dtype=x.dtype, device=x.device)
        w4 = W[:, :, None, None]
        for i in range(0, N, chunk):
            xc = x[i : i + chunk]
            n = xc.shape[0]
            z = _aggregate(xc, P)  # (n, Q, Cin)
            yc = F.conv2d(z.view(n, V, 1, -1).permute(0, 3, 1, 2), w4)  # channels-last
            torch.add(
                yc.permute(0, 2, 3, 1).reshape(n, V, Cout), b,
                out=y[i * V : (i + n) * V].view(n, V, Cout),
            )
        ctx.save_for_backward(x, P, W)
        ctx.chunk = chunk
        return y

    @staticmethod
    @_backward_without_autocast
    def backward(ctx, gy):
        x, P, W = ctx.saved_tensors
        chunk = ctx.chunk
        N, V, Cin = x.shape
        Cout = W.shape[0]
        gy = gy.contiguous()
        gb = gy.view(N, V, Cout).sum(0)
        gx = torch.empty_like(x)
        gW = torch.zeros_like(W)
        gP = torch.zeros_like(P)
        w4 = W[:, :, None, None]
        small = Cin <= 8
        for i in range(0, N, chunk):
            xc = x[i : i + chunk]
            n = xc.shape[0]
            z = _aggregate(xc, P)
            z4 = z.view(n, V, 1, -1).permute(0, 3, 1, 2)
            g4 = gy[i * V : (i + n) * V].view(n, V, 1, Cout).permute(0, 3, 1, 2)
            gz4, gWc, _ = torch.ops.aten.convolution_backward(
                g4, z4, w4, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [True, True, False]
            )
            gW += gWc.view_as(W)
            gz = gz4.permute(0, 2, 3, 1).reshape(n, -1, Cin)  # (n, Q, Cin)
            gxc, gPc, _ = torch.ops.aten.convolution_backward(
                gz.unsqueeze(-1), xc.unsqueeze(-1), P[:, :, None, None], None,
                [1, 1], [0, 0], [1, 1], False, [0, 0], 1, [small, True, False],
            )
            gP += gPc.view_as(P)
            if small:
                gx[i : i + n] = gxc.squeeze(-1)
            else:
                torch.bmm(P.t().expand(n, -1, -1), gz, out=gx[i : i + n])
        return gx, gP, gW, gb, None


def _aggregate(x, P):
    """``(n, V, C) -> (n, Q, C)``: ``P @ x[i]`` for every row block."""
    if x.shape[-1] <= 8:
        return F.conv2d(x.unsqueeze(-1), P[:, :, None, None]).squeeze(-1)
    return torch.bmm(P.expand(x.shape[0], -1, -1), x)


def _conv1x1_rows(rows: torch.Tensor, weight: torch.Tensor, bias=None) -> torch.Tensor:
    """``rows (R, C_in) @ weight.T (C_in, C_out) + bias`` through the convolution backend.

    Why not ``F.linear``: on the AMD CPU this was written for, MKL's GEMM
    reached ~130 GFLOP/s on these shapes and oneDNN's channels-last 1x1
    convolution ~200 GFLOP/s (forward and backward); the data is the same
    memory either way (rows = pixels, columns = channels).

    Returns ``(R, C_out)``.
    """
    R, C = rows.shape
    x4 = rows.view(1, R, 1, C).permute(0, 3, 1, 2)  # (1, C_in, R, 1), channels-last
    y = F.conv2d(x4, weight.reshape(weight.shape[0], C, 1, 1), bias)
    return y.permute(0, 2, 3, 1).reshape(R, weight.shape[0])


class STGCNBlock(ReferenceBlock):
    """Fast block; parameters identical to :class:`ReferenceBlock`.

    ``forward`` takes and returns channels-last activations ``(B, T, V, C)``.
    """

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, T, V, C_in)`` contiguous; ``A``: ``(K, V, V)`` source-by-target."""
        B, T, V, Cin = x.shape
        K = self.num_subsets
        conv = self.gcn.conv
        Cout = conv.out_channels // K
        bn1, _, tconv, bn2, drop = self.tcn
        Ae = A * self.edge_importance  # (K, V_src, V_tgt)
        rows = x.reshape(B * T * V, Cin)

        # Residual branch, as rows (R', C_out) matching the block output.
        if self.residual is None:
            res = None
        elif isinstance(self.residual, nn.Identity):
            res = rows
        else:
            rconv, rbn = self.residual
            r = F.conv2d(x.permute(0, 3, 1, 2), rconv.weight, rconv.bias, rconv.stride)
            res = batch_norm_act(r.permute(0, 2, 3, 1).reshape(-1, Cout), rbn, training=self.training)

        # Graph convolution: out[w] = sum_k sum_v A[k, v, w] (W_k x[v] + b_k).
        if Cin <= Cout:
            # Aggregate joints first (K*C_in channels), then mix channels.
            # z[bt, (w, k), c] = sum_v A[k, v, w] x[bt, v, c]
            A_agg = Ae.permute(2, 0, 1).reshape(V * K, V)
            # weight (K*C_out, C_in) -> (C_out, K*C_in), columns ordered (k, c) like z.
            w = conv.weight.view(K, Cout, Cin).permute(1, 0, 2).reshape(Cout, K * Cin)
            # Bias of subset k reaches target w with weight sum_v A[k, v, w].
            b_eff = Ae.sum(1).t() @ conv.bias.view(K, Cout)  # (V, C_out)
            if x.device.type == "cpu":
                chunk = max(1, _CHUNK_BYTES // (V * K * Cin * x.element_size()))
            else:  # GPU: no cache to fit, and one launch beats many small ones
                chunk = B * T
            y = _apply_fp32(_AggregateMix, x.reshape(B * T, V, Cin), A_agg, w, b_eff, chunk)
        else:
            # Mix channels first (rows (bt, v), columns (k, c)), then aggregate
            # over (v, k) jointly: y[bt, w, c] = sum_{v,k} A[k, v, w] y_k[bt, v, c].
            y = _conv1x1_rows(rows, conv.weight, conv.bias)
            A_agg = Ae.permute(2, 1, 0).reshape(V, V * K)  # [w, (v, k)]
            y = _apply_fp32(_JointAggregate, y.view(B * T, V * K, Cout), A_agg)
            y = y.view(B * T * V, Cout)

        # Temporal unit: BN -> ReLU -> 9x1 conv -> BN -> Dropout, + residual, ReLU.
        h = batch_norm_act(y, bn1, relu=True, training=self.training)
        h = h.view(B, T, V, Cout).permute(0, 3, 1, 2)  # NCHW view, channels-last memory
        u = F.conv2d(h, tconv.weight, tconv.bias, tconv.stride, tconv.padding)
        T2 = u.shape[2]
        u = u.permute(0, 2, 3, 1).reshape(B * T2 * V, Cout)
        out = batch_norm_act(u, bn2, res=res, dropout=drop.p, relu=True, training=self.training)
        return out.view(B, T2, V, Cout)


@register_backbone("stgcn", impl="fast")
class STGCN(ReferenceSTGCN):
    """ST-GCN backbone (SPEC section 5), fast on CPU: ``(N, C, T, V, M) -> (N, out_dim)``.

    Same parameters, ``state_dict`` keys and results as
    :class:`pgfa.models.stgcn_reference.ReferenceSTGCN` (load either's
    weights into the other directly); only the evaluation order and memory
    layout differ (see the module docstring). ``out_dim`` is the last
    block's channel count (256 by default). The input BatchNorm and pooling
    are the shared head's; :meth:`trunk` takes channels-last activations.
    """

    block_class = STGCNBlock  # the constructor is the reference's; only the blocks differ
    channels_last = True  # trunk() takes (B, T, V, C)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """``(N·M, T, V, C)`` contiguous -> ``(N·M, T', V, C_out)``."""
        for block in self.blocks:
            x = block(x, self.A)
        return x
