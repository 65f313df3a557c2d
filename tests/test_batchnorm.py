"""BatchNorm statistics re-estimated with dropout off (pgfa.training.batchnorm)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pgfa.cli.main import main
from pgfa.models.stgcn import STGCN
from pgfa.models.stgcn_reference import ReferenceSTGCN
from pgfa.training.batchnorm import recalibrate_batchnorm, recalibration_indices

CPU = torch.device("cpu")


def _data(n=12, seed=0, frames=16):
    return np.random.default_rng(seed).normal(size=(n, 3, frames, 25, 2)).astype(np.float32)


def _train_a_little(model, data, steps=3):
    """A few SGD steps in training mode, so running statistics come from dropout-thinned activations."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    for _ in range(steps):
        loss = model(torch.from_numpy(data)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("cls", [STGCN, ReferenceSTGCN])
def test_evaluation_mode_then_matches_dropout_free_batch_statistics(cls):
    torch.manual_seed(0)
    model = cls(dropout=0.5)
    # enough rows per BatchNorm channel that the unbiased-variance factor R/(R-1) of the
    # running variance is negligible (R >= 64*32 for the input BatchNorm)
    data = _data(32, frames=32)
    _train_a_little(model, data)
    x = torch.from_numpy(data)
    with torch.no_grad():
        model.eval()
        before = model(x)
        # what the network computes on this batch with batch statistics and no dropout
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        model.train()
        target = model(x)
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.5
    assert (before - target).abs().max() > 1e-2  # the stored statistics do not fit (dropout variance shift)
    params = {k: v.clone() for k, v in model.named_parameters()}
    model.eval()
    assert recalibrate_batchnorm(model, data, np.arange(len(data)), CPU, batch_size=len(data)) > 0
    with torch.no_grad():
        after = model(x)
    # one batch of all samples: running statistics = batch statistics (up to the unbiased-variance factor)
    assert torch.allclose(after, target, atol=2e-3, rtol=1e-3), (after - target).abs().max()
    # nothing else changed: weights, mode, momentum, dropout rate
    assert all(torch.equal(params[k], v) for k, v in model.named_parameters())
    assert not model.training
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert all(m.p == 0.5 for m in model.modules() if isinstance(m, torch.nn.Dropout))


def test_fast_and_reference_recalibrate_to_the_same_statistics():
    torch.manual_seed(1)
    fast = STGCN(dropout=0.5)
    ref = ReferenceSTGCN(dropout=0.5)
    ref.load_state_dict(fast.state_dict())
    data = _data(10, seed=1)
    for model in (fast, ref):
        recalibrate_batchnorm(model, data, np.array([3, 1, 4, 0, 9, 2, 6, 5, 8, 7]), CPU, batch_size=4)
    for (name, a), b in zip(fast.named_buffers(), ref.buffers()):
        assert torch.allclose(a.float(), b.float(), atol=1e-4, rtol=1e-4), name


def test_recalibration_indices_are_a_seeded_shuffled_subset():
    train = np.arange(100, 160)
    a = recalibration_indices(train, 20, seed=3)
    assert len(a) == 20 and len(set(a)) == 20 and set(a) <= set(train)
    assert np.array_equal(a, recalibration_indices(train, 20, seed=3))
    assert not np.array_equal(a, recalibration_indices(train, 20, seed=4))
    whole = recalibration_indices(train, 1000, seed=3)
    assert sorted(whole) == list(train) and not np.array_equal(whole, train)  # all of them, shuffled


def test_a_run_with_recalibration_trains_the_same_weights_and_saves_recalibrated_statistics(tmp_path):
    from pgfa.config import TrainConfig
    from pgfa.run import build_run_model, prepare_inputs

    common = ["--data", "synthetic:samples_per_class=6,seed=0", "--unseen", "4,11", "--epochs", "1",
              "--batch-size", "16", "--set", "warmup_epochs=1"]
    assert main(["train", *common, "--out", str(tmp_path / "plain")]) == 0
    assert main(["train", *common, "--set", "bn_recalibration=24", "--out", str(tmp_path / "recal")]) == 0
    plain = torch.load(tmp_path / "plain" / "last.pt", weights_only=True)["model"]
    recal = torch.load(tmp_path / "recal" / "last.pt", weights_only=True)["model"]
    config = TrainConfig.load(tmp_path / "recal" / "config.yaml")
    assert config.bn_recalibration == 24 and config.warmup_epochs == 1  # both --set flags kept
    for key in plain:
        if "running" in key or "num_batches" in key:
            continue
        assert torch.equal(plain[key], recal[key]), key  # training itself is unchanged
    assert any(not torch.equal(plain[k], recal[k]) for k in plain if k.endswith("running_var"))
    # the saved statistics are exactly a recalibration of the plain run's weights
    inputs = prepare_inputs(config)
    model = build_run_model(config, inputs)
    model.load_state_dict(plain)
    recalibrate_batchnorm(model, inputs.skeletons.data, recalibration_indices(inputs.split.train, 24, config.seed),
                          CPU, config.batch_size)
    for key, value in model.state_dict().items():
        assert torch.allclose(value.float(), recal[key].float(), atol=1e-6), key
