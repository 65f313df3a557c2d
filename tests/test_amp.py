"""Mixed precision: one training step under CPU bfloat16 autocast matches float32.

Why on the CPU: CPU autocast supports bfloat16 with the same casting rules as
CUDA for the ops that matter here (convolutions and matrix products in low
precision, everything else in its input dtype), so the custom autograd
Functions of the fast ST-GCN meet the same mixed-dtype inputs as on a GPU.
Before they cast explicitly, the fast ST-GCN failed under autocast
("expected dtype float for `end`" in the running-statistics update).

Tolerances, from measurements of these exact models (2 seeds each): loss
relative difference <= 6.4e-4 (bound 5e-3); relative L2 difference of the whole
gradient <= 0.12 (bound 0.25) and cosine similarity >= 0.993 (bound 0.97).
bfloat16 keeps 8 mantissa bits (relative rounding 2^-9 = 2e-3 per op) and the
backward through several BatchNorms amplifies it, so these are what bfloat16
gives, not slack for a bug: a wrong gradient (e.g. a missing term) has
relative error of order 1 and cosine far below 0.97. Shift-GCN's temporal
offsets are left out of the gradient comparison: their gradient is replaced
by ``0.01·sign`` (the published rule), and the sign of a near-zero component
flips with any rounding.
"""
from __future__ import annotations

import copy

import pytest
import torch

from pgfa.models.model import build_model
from pgfa.training.loss import soft_target_contrastive_loss

SMALL = dict(channels=(16, 16, 32, 32), strides=(1, 2, 1, 2))
CASES = [("stgcn", "fast"), ("stgcn", "plain"), ("shiftgcn", "auto")]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _training_step(model, x, text, labels, amp: bool):
    """Forward (autocast when ``amp``), float32 loss, backward, one SGD step; returns loss and gradients."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        features = model(x)
    if amp:
        assert features.dtype == torch.bfloat16  # autocast was really in effect
    loss = soft_target_contrastive_loss(features.float(), text[labels], labels, scale=10.0)
    optimizer.zero_grad()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    optimizer.step()
    return loss.item(), grads


@pytest.mark.parametrize("backbone,impl", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_bf16_autocast_step_matches_float32(backbone, impl, seed):
    torch.manual_seed(seed)
    model = build_model(backbone, "ntu25", text_dim=16, dropout=0.0, options=SMALL, impl=impl)
    twin = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 3, 20, 25, 2, generator=g)
    text = torch.randn(4, 16, generator=g)
    labels = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])

    loss32, grads32 = _training_step(model, x, text, labels, amp=False)
    loss16, grads16 = _training_step(twin, x, text, labels, amp=True)

    assert grads32.keys() == grads16.keys()
    assert abs(loss16 - loss32) <= 5e-3 * abs(loss32)
    names = [n for n in grads32 if not n.endswith(".offset")]
    a = torch.cat([grads32[n].flatten() for n in names])
    b = torch.cat([grads16[n].flatten() for n in names])
    assert torch.isfinite(b).all()
    assert ((a - b).norm() / a.norm()).item() <= 0.25
    assert torch.nn.functional.cosine_similarity(a, b, dim=0).item() >= 0.97
    # The step kept the parameters in float32 and finite.
    for p in twin.parameters():
        assert p.dtype == torch.float32 and torch.isfinite(p).all()


def test_fast_stgcn_eval_under_autocast_matches_float32():
    """Inference path (running statistics) under autocast, fast vs float32."""
    torch.manual_seed(3)
    model = build_model("stgcn", "ntu25", text_dim=16, options=SMALL, impl="fast").eval()
    x = torch.randn(4, 3, 20, 25, 2)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x).float()
    assert ((low - ref).norm() / ref.norm()).item() < 0.05


def test_custom_functions_run_float32_under_autocast():
    """Fused BatchNorm output is float32 and equals the float32 call whatever autocast says."""
    from pgfa.models.stgcn import batch_norm_act

    bn = torch.nn.BatchNorm2d(6)
    x = torch.randn(50, 6)
    plain = batch_norm_act(x, copy.deepcopy(bn), relu=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cast = batch_norm_act(x.bfloat16(), bn, relu=True)
    assert cast.dtype == torch.float32
    torch.testing.assert_close(cast, plain, rtol=2e-2, atol=2e-2)  # only the input was rounded to bfloat16
    assert bn.running_mean.dtype == torch.float32
