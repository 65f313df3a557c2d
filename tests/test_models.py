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
from pgfa.models.model import ZeroShotModel, build_model, model_from_config
from pgfa.models.registry import BACKBONES, backbone_class, create_backbone, register_backbone, resolve_impl
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


# ---------------------------------------------------------------- registry and implementations


def test_impl_choice_by_device():
    assert resolve_impl("auto", "cpu") == "fast"
    assert resolve_impl("auto", torch.device("cuda", 0)) == "plain"  # unmeasured choice, see its docstring
    assert resolve_impl("plain", "cpu") == "plain" and resolve_impl("fast", "cuda") == "fast"
    with pytest.raises(ValueError, match="backbone_impl must be one of"):
        resolve_impl("turbo", "cpu")
    assert backbone_class("stgcn", "auto", "cpu") is STGCN
    assert backbone_class("stgcn", "auto", "cuda") is ReferenceSTGCN
    assert backbone_class("stgcn", "plain") is ReferenceSTGCN
    assert BACKBONES["stgcn"] is STGCN  # the default class is the CPU one
    # A backbone with one implementation serves every choice.
    from pgfa.models.shiftgcn import ShiftGCN

    assert backbone_class("shiftgcn", "plain", "cuda") is ShiftGCN


def test_one_checkpoint_loads_into_either_impl():
    """Same state_dict for fast and plain: weights of one give the other the same outputs."""
    torch.manual_seed(0)
    fast = build_model("stgcn", "ntu25", text_dim=8, options={"channels": (16, 32), "strides": (1, 2)}, impl="fast")
    plain = build_model("stgcn", "ntu25", text_dim=8, options={"channels": (16, 32), "strides": (1, 2)}, impl="plain")
    assert isinstance(fast.backbone, STGCN) and type(plain.backbone) is ReferenceSTGCN
    assert list(fast.state_dict()) == list(plain.state_dict())
    plain.load_state_dict(fast.state_dict())
    fast.eval(), plain.eval()
    x = torch.randn(2, 3, 12, 25, 2)
    with torch.no_grad():
        assert (fast(x) - plain(x)).abs().max().item() < 1e-4


def test_plain_channels_last_memory_changes_no_value():
    torch.manual_seed(0)
    kw = dict(dropout=0.0, channels=(16, 32), strides=(1, 2))
    a = ReferenceSTGCN(**kw, memory_format="contiguous").eval()
    b = ReferenceSTGCN(**kw, memory_format="channels_last").eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 3, 12, 25, 2)
    with torch.no_grad():
        torch.testing.assert_close(b(x), a(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="memory_format"):
        ReferenceSTGCN(memory_format="nhwc")


def test_backbone_options_reach_the_constructor():
    model = build_model("stgcn", "ntu25", text_dim=8, options={"channels": [8, 24], "strides": [1, 2]})
    assert model.backbone.out_dim == 24 and len(model.backbone.blocks) == 2
    with pytest.raises(ValueError, match=r"backbone 'stgcn' .* has no option 'widht'; its options are: .*channels"):
        build_model("stgcn", options={"widht": 3})
    with pytest.raises(ValueError, match="dropout"):
        build_model("stgcn", options={"dropout": 0.1})


def test_model_from_config_uses_the_config_fields():
    from types import SimpleNamespace

    config = SimpleNamespace(backbone="stgcn", dropout=0.0, backbone_options={"channels": [8], "strides": [1]},
                             backbone_impl="plain")
    model = model_from_config(config, "kinect_v1_20", text_dim=5)
    assert type(model.backbone) is ReferenceSTGCN and model.backbone.out_dim == 8
    assert model.backbone.blocks[0].tcn[4].p == 0.0
    old = SimpleNamespace(backbone="shiftgcn", dropout=0.5)  # a config written before the two fields existed
    assert model_from_config(old, "ntu25", text_dim=5).backbone.out_dim == 256


def test_register_twice_needs_replace():
    class A(torch.nn.Module):
        pass

    register_backbone("test-dup", replace=True)(A)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_backbone("test-dup")(type("B", (torch.nn.Module,), {}))
        register_backbone("test-dup")(A)  # the same class again (a re-import) is fine
        with pytest.raises(ValueError, match="impl must be one of"):
            register_backbone("test-dup", impl="auto")
    finally:
        BACKBONES.pop("test-dup", None)


def test_shared_head_checks_the_input():
    model = STGCN("kinect_v1_20")
    with pytest.raises(ValueError, match="input has 25 joints, the backbone was built for 20"):
        model(torch.randn(1, 3, 8, 25, 1))
    with pytest.raises(ValueError, match=r"expects \(N, C, T, V, M\)"):
        model(torch.randn(1, 3, 8, 20))
    assert create_backbone("stgcn", "kinect_v1_20", dropout=0.0).num_joints == 20


# ---------------------------------------------------------------- a user's own backbone


from pgfa.models import SkeletonBackbone  # noqa: E402  (as a user's file would import it)


@register_backbone("tiny-user-test", replace=True)
class TinyUserBackbone(SkeletonBackbone):
    """A backbone defined outside pgfa: per-frame linear map, pooled by the shared head."""

    def __init__(self, layout="ntu25", in_channels=3, dropout=0.0, width=12):
        super().__init__(layout, in_channels)
        self.out_dim = width
        self.linear = torch.nn.Linear(in_channels, width)
        self.drop = torch.nn.Dropout(dropout)

    def trunk(self, x):  # (N·M, T, V, C) -> (N·M, T, V, width)
        return torch.relu(self.drop(self.linear(x)))


def test_user_backbone_trains_one_step_through_build_model():
    from pgfa.training.loss import soft_target_contrastive_loss

    torch.manual_seed(0)
    model = build_model("tiny-user-test", "kinect_v1_20", text_dim=6, dropout=0.1, options={"width": 10})
    assert isinstance(model.backbone, TinyUserBackbone) and model.backbone.out_dim == 10
    assert model.backbone.drop.p == 0.1
    assert "backbone.data_bn.weight" in model.state_dict()  # the shared head's input BatchNorm
    x = torch.randn(6, 3, 8, 20, 2)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    text = torch.randn(3, 6)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    loss = soft_target_contrastive_loss(model(x), text[labels], labels, scale=10.0)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    for n in ("backbone.linear.weight", "backbone.data_bn.weight", "projection.weight"):
        assert not torch.equal(before[n], dict(model.named_parameters())[n]), n
    # The head pooled over time, joints and bodies: the output does not depend on the body order.
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x.flip(-1)))
