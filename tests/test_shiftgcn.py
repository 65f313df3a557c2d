"""Shift-GCN backbone: shapes, gradients, and the two shifts against naive loops.

The vectorised shifts are index arithmetic that is easy to get subtly wrong
(an off-by-one at a border, a sign of the offset, the stride), so each is
compared with a literal Python-loop transcription of its definition on a
tiny input. Everything here is small enough to run in a few seconds.
"""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from pgfa.data.layouts import get_layout
from pgfa.models.model import ZeroShotModel, build_model
from pgfa.models.registry import BACKBONES, create_backbone
from pgfa.models.shiftgcn import (
    OFFSET_GRAD_STEP,
    ShiftGCN,
    joint_shift_index,
    resample_time,
    shift_joints,
    shift_time,
)

LAYOUTS = ["ntu25", "kinect_v1_20"]
TINY = dict(channels=(8, 8, 16, 16), strides=(1, 2, 1, 2))


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Run this file's tiny models on one intra-op thread.

    Why: the inputs are far too small to gain from parallelism, and on a
    shared 2-core machine each OpenMP region then waits for a descheduled
    worker thread: a batch-2 forward pass took 0.03 s alone and 1-2 s under
    load with 2 threads, 0.03 s with 1.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ---------------------------------------------------------------- naive oracles


def naive_shift_joints(x, direction):
    """out[n, t, v, c] = x[n, t, (v + direction·c) mod V, c], element by element."""
    N, T, V, C = x.shape
    out = torch.empty_like(x)
    for n in range(N):
        for t in range(T):
            for v in range(V):
                for c in range(C):
                    out[n, t, v, c] = x[n, t, (v + direction * c) % V, c]
    return out


def naive_shift_time(x, offset, stride):
    """out[n, t, v, c] = linear interpolation of x[n, :, v, c] at t·stride + offset[c], zero outside."""
    N, T, V, C = x.shape
    t_out = math.ceil(T / stride)
    rows = []
    for n in range(N):
        for t in range(t_out):
            for v in range(V):
                for c in range(C):
                    p = t * stride + offset[c]
                    lo = math.floor(p.item())
                    w = p - lo  # keeps the autograd link to offset
                    a = x[n, lo, v, c] if 0 <= lo < T else x.new_zeros(())
                    b = x[n, lo + 1, v, c] if 0 <= lo + 1 < T else x.new_zeros(())
                    rows.append((1 - w) * a + w * b)
    return torch.stack(rows).view(N, t_out, V, C)


# Non-integer, negative, exactly integer, and border-crossing offsets (T = 7):
# -2.3 and 6.4 push most taps outside [0, T); -7.0 and 9.5 push all of them out.
OFFSETS = [-2.3, -0.5, 0.0, 0.75, 6.4, 1.0, -1.0, -7.0, 9.5, 0.999]


# ---------------------------------------------------------------- shifts


@pytest.mark.parametrize("direction", [+1, -1])
def test_joint_shift_equals_naive_loop(direction):
    torch.manual_seed(0)
    N, C, T, V = 2, 5, 7, 4
    x = torch.randn(N, T, V, C, dtype=torch.float64)
    index = joint_shift_index(V, C, direction)
    # A permutation of the (joint, channel) positions, channel preserved.
    assert sorted(index.tolist()) == list(range(V * C))
    assert torch.equal(index % C, torch.arange(V * C) % C)
    assert torch.equal(shift_joints(x, index), naive_shift_joints(x, direction))


def test_joint_shift_matches_published_formula_and_inverts():
    V, C = 25, 64
    i = torch.arange(V).unsqueeze(1)
    j = torch.arange(C).unsqueeze(0)
    published_in = ((i * C + j + j * C) % (C * V)).reshape(-1)
    published_out = ((i * C + j - j * C) % (C * V)).reshape(-1)
    assert torch.equal(joint_shift_index(V, C, +1), published_in)
    assert torch.equal(joint_shift_index(V, C, -1), published_out)
    x = torch.randn(3, V, C)
    back = shift_joints(shift_joints(x, joint_shift_index(V, C, +1)), joint_shift_index(V, C, -1))
    assert torch.equal(back, x)


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_time_shift_equals_naive_loop(stride):
    torch.manual_seed(1)
    N, C, T, V = 2, len(OFFSETS), 7, 4
    x = torch.randn(N, T, V, C, dtype=torch.float64, requires_grad=True)
    offset = torch.tensor(OFFSETS, dtype=torch.float64, requires_grad=True)

    fast = shift_time(x, offset, stride)
    slow = naive_shift_time(x, offset, stride)
    assert fast.shape == (N, math.ceil(T / stride), V, C)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-6)

    # Gradients w.r.t. the input and the offsets agree as well.
    g = torch.randn_like(fast)
    gx_fast, go_fast = torch.autograd.grad(fast, (x, offset), g)
    gx_slow, go_slow = torch.autograd.grad(slow, (x, offset), g)
    torch.testing.assert_close(gx_fast, gx_slow, rtol=0, atol=1e-6)
    torch.testing.assert_close(go_fast, go_slow, rtol=0, atol=1e-6)


def test_time_shift_integer_offsets_are_plain_shifts():
    x = torch.arange(1.0, 6.0).view(1, 5, 1, 1).repeat(1, 1, 1, 3)  # frames 1..5
    offset = torch.tensor([1.0, -2.0, 0.0])
    out = shift_time(x, offset, 1)[0, :, 0]
    assert out[:, 0].tolist() == [2, 3, 4, 5, 0]
    assert out[:, 1].tolist() == [0, 0, 1, 2, 3]
    assert out[:, 2].tolist() == [1, 2, 3, 4, 5]


def test_resample_time_matches_pgfa_trilinear():
    """50 -> 64 frames, equal to PGFA's interpolation of the whole (N, C, T, V, M) tensor."""
    torch.manual_seed(2)
    x = torch.randn(2, 3, 50, 4, 2)
    reference = F.interpolate(x, scale_factor=(1.28, 1, 1), mode="trilinear", align_corners=False)
    ours = resample_time(x.permute(0, 4, 3, 1, 2).reshape(4, 12, 50), 1.28)
    ours = ours.view(2, 2, 4, 3, 64).permute(0, 3, 4, 2, 1)
    assert reference.shape == ours.shape == (2, 3, 64, 4, 2)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)
    y = x[0]
    assert resample_time(y, 1.0) is y


# ---------------------------------------------------------------- backbone


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("frames", [50, 13])
def test_output_shape(name, frames):
    torch.manual_seed(0)
    V = get_layout(name).num_joints
    model = ShiftGCN(name)
    assert model.out_dim == 256
    x = torch.randn(2, 3, frames, V, 2)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 256)
    assert torch.isfinite(out).all()


def test_default_architecture():
    model = ShiftGCN("ntu25")
    channels = [u.gcn.weight.shape[0] for u in model.units]
    strides = [u.stride for u in model.units]
    assert channels == [64, 64, 64, 64, 128, 128, 128, 256, 256, 256]
    assert strides == [1, 1, 1, 1, 2, 1, 1, 2, 1, 1]
    assert not model.units[0].has_residual
    assert all(u.has_residual for u in model.units[1:])
    assert model.data_bn.num_features == 3 * 25
    offsets = torch.cat([p for n, p in model.named_parameters() if n.endswith("offset")])
    assert offsets.numel() > 0 and offsets.abs().max() < 1
    # Index buffers are rebuilt from the layout, not stored.
    assert not any(k.endswith(("gcn.shift_in", "gcn.shift_out")) for k in model.state_dict())
    assert any(k.endswith("gcn.shift_in") for k, _ in model.named_buffers())


def test_rejects_wrong_joint_count():
    with pytest.raises(ValueError, match="joints"):
        ShiftGCN("kinect_v1_20", **TINY)(torch.randn(1, 3, 8, 25, 1))


def test_mean_over_bodies_and_body_order():
    """Per-body data BN makes the output independent of the order of the bodies."""
    torch.manual_seed(3)
    model = ShiftGCN("kinect_v1_20", **TINY).eval()
    x = torch.randn(2, 3, 9, 20, 2)
    with torch.no_grad():
        a = model(x)
        b = model(x.flip(-1))
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", LAYOUTS)
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(4)
    V = get_layout(name).num_joints
    model = ShiftGCN(name, normalised_offset_grad=False).train()
    x = torch.randn(2, 3, 10, V, 2)
    model(x).pow(2).sum().backward()
    for n, p in model.named_parameters():
        assert p.grad is not None, n
        assert torch.isfinite(p.grad).all(), n
    # Learned shifts and masks really receive a signal (true gradient mode).
    for n, p in model.named_parameters():
        if n.endswith(("offset", "feature_mask")) or n.endswith("weight"):
            assert p.grad.abs().sum() > 0, n


def test_published_offset_gradient_is_normalised():
    torch.manual_seed(5)
    exact = ShiftGCN("kinect_v1_20", normalised_offset_grad=False, **TINY).train()
    published = copy.deepcopy(exact)
    for unit in published.units:
        unit.tcn.shift_in.normalised_grad = unit.tcn.shift_out.normalised_grad = True
    x = torch.randn(2, 3, 10, 20, 1)
    exact(x).pow(2).sum().backward()
    published(x).pow(2).sum().backward()
    for (n, p), q in zip(exact.named_parameters(), published.parameters()):
        if n.endswith("offset"):
            expected = torch.where(p.grad != 0, OFFSET_GRAD_STEP * torch.sign(p.grad), 1e-4)
            torch.testing.assert_close(q.grad, expected, rtol=0, atol=0)
        else:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-6)


def test_build_model_and_registry():
    assert BACKBONES["shiftgcn"] is ShiftGCN
    model = build_model(backbone="shiftgcn", layout="kinect_v1_20", text_dim=12, dropout=0.5)
    assert isinstance(model, ZeroShotModel) and isinstance(model.backbone, ShiftGCN)
    assert model.backbone.out_dim == 256
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 8, 20, 2)).shape == (2, 12)
    with pytest.raises(ValueError, match="unknown backbone"):
        build_model(backbone="no-such-backbone")


def test_options_from_the_registry():
    small = create_backbone("shiftgcn", "ntu25", **TINY, time_scale=1.0)
    assert small.out_dim == 16 and small.time_scale == 1.0 and len(small.units) == 4
    with pytest.raises(ValueError, match="has no option 'time_scal'"):
        create_backbone("shiftgcn", "ntu25", time_scal=2.0)


def test_state_dict_round_trip():
    torch.manual_seed(6)
    a = ShiftGCN("kinect_v1_20", **TINY).eval()
    b = ShiftGCN("kinect_v1_20", **TINY).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 3, 8, 20, 2)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
