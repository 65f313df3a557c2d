"""Graph, backbones and the zero-shot wrapper.

The fast ST-GCN is only trustworthy because it is compared here, on small
inputs, with the textbook reference it must equal.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pgfa.data.layouts import get_layout
from pgfa.models.graph import spatial_adjacency
from pgfa.models.model import BACKBONES, ZeroShotModel, build_model
from pgfa.models.stgcn import (
    STGCN,
    _AggregateMix,
    _JointAggregate,
    _TrainBatchNormAct,
    dropout_keep_mask,
)
from pgfa.models.stgcn_reference import ReferenceSTGCN

LAYOUTS = ["ntu25", "kinect_v1_20"]


def _assert_grads_close(ref, fast):
    """Parameter gradients of the two models agree.

    Why a tolerance relative to each gradient's scale and not 1e-6: both
    models compute in float32 with different summation orders, so an
    activation within ~1e-6 of zero can land on different sides of a ReLU,
    which moves a few gradient entries by a relative ~1e-3. Exact agreement
    is checked in float64 by :func:`test_fast_equals_reference_float64`.
    """
    for (n, p), q in zip(ref.named_parameters(), fast.parameters()):
        scale = p.grad.abs().max().item()
        assert (q.grad - p.grad).abs().max().item() <= 1e-2 * scale + 1e-5, n


def _perturbed_pair(layout="ntu25", dropout=0.0, seed=0):
    """Reference and fast models with the same, non-default weights."""
    torch.manual_seed(seed)
    ref = ReferenceSTGCN(layout, dropout=dropout)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for name, b in ref.named_buffers():
            if name.endswith("running_var"):
                b.uniform_(0.5, 2.0)
            elif name.endswith("running_mean"):
                b.normal_(0, 0.1)
    fast = STGCN(layout, dropout=dropout)
    fast.load_state_dict(ref.state_dict())
    return ref, fast


# ---------------------------------------------------------------- graph


@pytest.mark.parametrize("name", LAYOUTS)
def test_adjacency_shape_and_normalisation(name):
    layout = get_layout(name)
    A = spatial_adjacency(layout)
    V = layout.num_joints
    assert A.shape == (3, V, V) and A.dtype == np.float32
    assert (A >= 0).all()
    # Every target joint averages its neighbourhood: column sums over subsets are 1.
    np.testing.assert_allclose(A.sum(axis=(0, 1)), np.ones(V), atol=1e-6)
    # Subsets do not overlap.
    assert ((A > 0).sum(axis=0) <= 1).all()
    # Root subset is the self loop only (the skeleton is a tree).
    assert np.array_equal(A[0] > 0, np.eye(V, dtype=bool))
    # A bone appears as centripetal one way and centrifugal the other way.
    assert np.array_equal(A[1] > 0, (A[2] > 0).T)
    # The neighbour edges are exactly the bones, each once as centripetal.
    edges = {frozenset((int(i), int(j))) for i, j in zip(*np.nonzero(A[1]))}
    assert edges == {frozenset(bone) for bone in layout.bones}
    assert len(edges) == len(layout.bones) == int((A[1] > 0).sum())
    # The centre has no neighbour nearer the centre than itself.
    assert not A[1][:, layout.center].any()


def test_adjacency_values_ntu25():
    A = spatial_adjacency("ntu25")
    # spine_shoulder (20): itself + 1, 2, 4, 8 -> degree 5, all farther (centrifugal).
    assert A[0, 20, 20] == pytest.approx(1 / 5)
    for src in (1, 2, 4, 8):
        assert A[2, src, 20] == pytest.approx(1 / 5)
    # head (3): itself + neck (2), the neck is nearer the centre.
    assert A[1, 2, 3] == pytest.approx(1 / 2)


# ---------------------------------------------------------------- backbone


@pytest.mark.parametrize("name", LAYOUTS)
@pytest.mark.parametrize("bodies", [1, 2])
def test_stgcn_output_shape(name, bodies):
    V = get_layout(name).num_joints
    model = STGCN(name)
    assert model.out_dim == 256
    x = torch.randn(2, 3, 16, V, bodies)
    assert model(x).shape == (2, 256)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, 256)


def test_gradient_reaches_every_parameter():
    model = STGCN("ntu25", dropout=0.5)
    model(torch.randn(2, 3, 16, 25, 2)).square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        # A bias right before a training-mode BatchNorm has zero gradient by design.
        if not (name.endswith("tcn.2.bias") or name.endswith("residual.0.bias")):
            assert p.grad.abs().sum() > 0, name
    assert model.blocks[0].edge_importance.grad.abs().sum() > 0
    assert model.data_bn.weight.grad.abs().sum() > 0


def test_state_dicts_are_interchangeable():
    assert STGCN().state_dict().keys() == ReferenceSTGCN().state_dict().keys()
    for (k, a), b in zip(STGCN().state_dict().items(), ReferenceSTGCN().state_dict().values()):
        assert a.shape == b.shape, k


@pytest.mark.parametrize("name", LAYOUTS)
def test_fast_equals_reference_eval(name):
    ref, fast = _perturbed_pair(name, dropout=0.5)
    ref.eval(), fast.eval()
    x = torch.randn(2, 3, 16, get_layout(name).num_joints, 2)
    a, b = ref(x), fast(x)
    assert (a - b).abs().max().item() < 1e-4
    w = torch.randn_like(a)
    (a * w).sum().backward()
    (b * w).sum().backward()
    _assert_grads_close(ref, fast)


@pytest.mark.parametrize("name", LAYOUTS)
def test_fast_equals_reference_train_without_dropout(name):
    ref, fast = _perturbed_pair(name, dropout=0.0)
    x = torch.randn(2, 3, 16, get_layout(name).num_joints, 2)
    a, b = ref(x), fast(x)
    assert (a - b).abs().max().item() < 1e-4
    w = torch.randn_like(a)
    (a * w).sum().backward()
    (b * w).sum().backward()
    _assert_grads_close(ref, fast)
    # Running statistics move the same way.
    for (n, r), f in zip(ref.named_buffers(), fast.buffers()):
        torch.testing.assert_close(f, r, rtol=1e-4, atol=1e-5, msg=n)


def test_fast_equals_reference_when_channels_shrink():
    """The mix-channels-first branch (C_in > C_out) is exercised too."""
    kw = dict(dropout=0.0, channels=(32, 16, 16), strides=(1, 2, 1))
    torch.manual_seed(1)
    ref, fast = ReferenceSTGCN(**kw), STGCN(**kw)
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(2, 3, 15, 25, 2)  # odd T with a stride-2 block
    a, b = ref(x), fast(x)
    assert (a - b).abs().max().item() < 1e-4
    a.sum().backward()
    b.sum().backward()
    _assert_grads_close(ref, fast)


@pytest.mark.parametrize("train", [True, False])
def test_fast_equals_reference_float64(train):
    """Same math: in float64 outputs and gradients agree to rounding."""
    ref, fast = _perturbed_pair("ntu25", dropout=0.0)
    ref.double().train(train)
    fast.double().train(train)
    x = torch.randn(2, 3, 16, 25, 2, dtype=torch.double)
    a, b = ref(x), fast(x)
    assert (a - b).abs().max().item() < 1e-10
    w = torch.randn_like(a)
    (a * w).sum().backward()
    (b * w).sum().backward()
    for (n, p), q in zip(ref.named_parameters(), fast.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-8, atol=1e-10, msg=n)


def test_dropout_is_active_in_training_only():
    torch.manual_seed(0)
    model = STGCN(dropout=0.5)
    x = torch.randn(2, 3, 16, 25, 2)
    model.train()
    assert not torch.equal(model(x), model(x))  # different masks
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_dropout_keep_mask_rate():
    keep, scale = dropout_keep_mask((1000, 100), 0.5, "cpu")
    assert keep.dtype == torch.uint8 and set(keep.unique().tolist()) <= {0, 1}
    assert scale == 2.0
    assert abs(keep.float().mean().item() - 0.5) < 0.01
    keep, scale = dropout_keep_mask((1000, 100), 0.3, "cpu")
    assert abs(keep.float().mean().item() - 0.7) < 0.01
    assert scale == pytest.approx(1 / 0.7, rel=1e-4)


def test_custom_functions_gradcheck():
    torch.manual_seed(0)
    x = torch.randn(12, 4, dtype=torch.double, requires_grad=True)
    w = torch.rand(4, dtype=torch.double, requires_grad=True) + 0.5
    b = torch.randn(4, dtype=torch.double, requires_grad=True)
    res = torch.randn(12, 4, dtype=torch.double, requires_grad=True)
    keep = (torch.rand(12, 4) > 0.3).to(torch.uint8)

    def bn(x, w, b, res):
        return _TrainBatchNormAct.apply(x, w, b, res, keep, 1.5, True, 1e-5)[0]

    assert torch.autograd.gradcheck(bn, (x, w, b, res))
    for channels in (3, 16):  # the 1x1-conv path and the bmm path
        xa = torch.randn(5, 6, channels, dtype=torch.double, requires_grad=True)
        P = torch.randn(9, 6, dtype=torch.double, requires_grad=True)
        assert torch.autograd.gradcheck(_JointAggregate.apply, (xa, P))
        W = torch.randn(7, 3 * channels, dtype=torch.double, requires_grad=True)
        b = torch.randn(3, 7, dtype=torch.double, requires_grad=True)
        P3 = torch.randn(9, 3, dtype=torch.double, requires_grad=True)  # V=3, K=3
        x3 = torch.randn(5, 3, channels, dtype=torch.double, requires_grad=True)
        # chunk=2 < N=5: several chunks, the last one partial
        assert torch.autograd.gradcheck(
            lambda x, P, W, b: _AggregateMix.apply(x, P, W, b, 2), (x3, P3, W, b)
        )


# ---------------------------------------------------------------- wrapper


def test_zero_shot_model_shapes():
    model = build_model("stgcn", layout="ntu25", text_dim=384)
    assert isinstance(model, ZeroShotModel)
    x = torch.randn(2, 3, 16, 25, 2)
    assert model(x).shape == (2, 384)
    assert model.features(x).shape == (2, 256)
    small = build_model(layout="kinect_v1_20", text_dim=768, dropout=0.0)
    assert small(torch.randn(2, 3, 16, 20, 1)).shape == (2, 768)


def test_unknown_backbone():
    assert "stgcn" in BACKBONES
    with pytest.raises(ValueError, match="known backbones: .*stgcn"):
        build_model("resnet")
