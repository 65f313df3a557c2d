import pytest
import torch

from pgfa.config import TrainConfig
from pgfa.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_config_round_trips_through_yaml(tmp_path):
    config = TrainConfig(data="x_data.npy", unseen=[1, 4], epochs=3).override(["lr=0.01", "lr_steps=[2, 3]"])
    config.save(tmp_path / "config.yaml")
    assert TrainConfig.load(tmp_path / "config.yaml") == config
    assert config.lr == 0.01 and config.lr_steps == [2, 3]


def test_unknown_config_key_is_refused():
    with pytest.raises(ValueError, match="unknown config key 'lrr'"):
        TrainConfig().override(["lrr=1"])


def test_checkpoint_from_another_config_names_the_difference(tmp_path):
    signature = {"backbone": "stgcn", "layout": "ntu25", "in_channels": 3, "text_dim": 384, "num_classes": 20}
    save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.zeros(2)}, "signature": signature, "epoch": 1})
    assert load_checkpoint(tmp_path / "c.pt", signature)["epoch"] == 1
    with pytest.raises(CheckpointError, match="text_dim: checkpoint 384, config 768"):
        load_checkpoint(tmp_path / "c.pt", {**signature, "text_dim": 768})


def test_garbage_checkpoint_is_reported(tmp_path):
    (tmp_path / "c.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="c.pt: not a readable pgfa checkpoint"):
        load_checkpoint(tmp_path / "c.pt")


def test_checkpoint_epoch_reads_new_and_old_checkpoints():
    """New checkpoints say which epoch they hold; older ones are read by their known conventions."""
    from pgfa.run import checkpoint_epoch

    assert checkpoint_epoch({"epoch": 4, "epoch_done": 5}) == 5
    assert checkpoint_epoch({"epoch": 5, "selection": None}) == 5  # old best.pt: 1-based
    assert checkpoint_epoch({"epoch": 4, "optimizer": {}}) == 5  # old PGFA last.pt: 0-based
    assert checkpoint_epoch({"epoch": 4, "selection": None, "history": []}) == 5  # old two-stage last.pt
