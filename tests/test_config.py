"""TrainConfig as the single source: sections, config files, validation, old config.yaml files."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import yaml

from pgfa.config import (ADDED_FIELDS, SECTIONS, TrainConfig, check_value, parse_assignments, read_config_file)
from pgfa.errors import ConfigError, PgfaError

# A config.yaml as pgfa wrote it before the fields of ADDED_FIELDS existed (flat, every other field).
OLD_CONFIG_YAML = """\
data: /data/ntu60
unseen: [4, 11]
classes: ntu60
text_encoder: minilm
text_mode: description
layout: null
method: pgfa
backbone: stgcn
dropout: 0.5
frames: 50
epochs: 3
batch_size: 16
lr: 0.05
momentum: 0.9
weight_decay: 0.0005
warmup_epochs: 1
lr_steps: [50, 80]
lr_decay: 0.1
logit_scale: 14.285714285714285
val_fraction: 0.1
bn_recalibration: 0
seed: 0
alpha: 0.9
align_temperature: null
device: auto
amp: false
compile: false
"""


def test_every_field_lives_in_exactly_one_section():
    placed = [name for names in SECTIONS.values() for name in names]
    assert sorted(placed) == sorted(f.name for f in dataclasses.fields(TrainConfig))
    assert len(placed) == len(set(placed))


def test_every_field_has_help_text():
    assert all(f.metadata["help"] for f in dataclasses.fields(TrainConfig))


def test_an_old_config_yaml_loads_with_defaults_for_new_fields(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(OLD_CONFIG_YAML)
    config = TrainConfig.load(path)
    assert config.epochs == 3 and config.unseen == [4, 11]
    assert config.max_steps is None and config.backbone_options == {} and config.backbone_impl == "auto"
    assert config.data_on_device == "auto" and config.text_features is None
    # The resume check compares to_dict(): the same run given today equals the old file.
    today = TrainConfig(data="/data/ntu60", unseen=[4, 11], classes="ntu60", epochs=3, batch_size=16, warmup_epochs=1)
    assert config.to_dict() == today.to_dict()


def test_saved_config_is_flat_and_leaves_out_new_fields_at_their_default(tmp_path):
    path = tmp_path / "config.yaml"
    TrainConfig(data="d.npy", unseen=[1]).save(path)
    saved = yaml.safe_load(path.read_text())
    assert not set(saved) & set(ADDED_FIELDS)
    assert set(saved) == set(yaml.safe_load(OLD_CONFIG_YAML))  # what older pgfa versions read
    config = TrainConfig(data="d.npy", unseen=[1], max_steps=7, backbone_options={"channels": [8]})
    config.save(path)
    saved = yaml.safe_load(path.read_text())
    assert saved["max_steps"] == 7 and saved["backbone_options"] == {"channels": [8]}
    assert "backbone_impl" not in saved
    assert TrainConfig.load(path) == config


def test_sectioned_flat_and_mixed_files_read_the_same(tmp_path):
    flat = tmp_path / "flat.yaml"
    flat.write_text("data: synthetic\nunseen: [1, 2]\nlr: 0.01\nalpha: 0.5\ndevice: cpu\n")
    sectioned = tmp_path / "sectioned.yaml"
    sectioned.write_text("data:\n  data: synthetic\n  unseen: [1, 2]\noptimisation:\n  lr: 0.01\n"
                         "alignment:\n  alpha: 0.5\nruntime:\n  device: cpu\n")
    mixed = tmp_path / "mixed.yaml"
    mixed.write_text("data: synthetic\nunseen: [1, 2]\noptimisation: {lr: 0.01}\nalpha: 0.5\nruntime: {device: cpu}\n")
    expected = {"data": "synthetic", "unseen": [1, 2], "lr": 0.01, "alpha": 0.5, "device": "cpu"}
    assert read_config_file(flat) == read_config_file(sectioned) == read_config_file(mixed) == expected
    assert TrainConfig.load(sectioned) == TrainConfig(**expected)


@pytest.mark.parametrize("text, message", [
    ("model:\n  lr: 0.1\n", "lr belongs in section optimisation, not model"),
    ("optimisation:\n  lrr: 0.1\n", "unknown key 'lrr' in section optimisation"),
    ("lrr: 0.1\n", "unknown config key 'lrr'"),
    ("lr: 0.1\noptimisation: {lr: 0.2}\n", "lr is given twice"),
    ("runtime: cpu\n", "section runtime must be a mapping"),
    ("- 1\n- 2\n", "must be a mapping of keys to values, not list"),
    ("epochs: 1\nlr: [0.1\n", "not valid YAML at line 3"),
    ("optimisation:\n  epochs: abc\n", "optimisation.epochs: epochs must be an integer, got 'abc'"),
])
def test_bad_config_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_config_file(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: no such config file"):
        read_config_file(tmp_path / "nope.yaml")


@pytest.mark.parametrize("key, value, message", [
    ("epochs", 0, "epochs must be >= 1, got 0"),
    ("epochs", 2.5, "epochs must be an integer, got 2.5"),
    ("epochs", "abc", "epochs must be an integer, got 'abc'"),
    ("epochs", True, "epochs must be an integer, got True"),
    ("batch_size", 0, "batch_size must be >= 1"),
    ("alpha", -0.5, r"alpha must be in \[0, 1\], got -0.5"),
    ("alpha", 1.5, r"alpha must be in \[0, 1\]"),
    ("lr", 0, "lr must be > 0"),
    ("lr", float("inf"), "lr must be a finite number"),
    ("lr", float("nan"), "lr must be a finite number"),
    ("lr", "fast", "lr must be a finite number, got 'fast'"),
    ("lr_steps", [30, 40.5], r"lr_steps\[1\] must be an integer, got 40.5"),
    ("lr_steps", 30, "lr_steps must be a list"),
    ("frames", 0, "frames must be >= 1"),
    ("dropout", 1.0, r"dropout must be in \[0, 1\)"),
    ("val_fraction", 1.0, r"val_fraction must be in \[0, 1\)"),
    ("unseen", [3, -1], "unseen must be a list of class indices >= 0"),
    ("seed", -1, "seed must be in"),
    ("amp", "yes", "amp must be true or false, got 'yes'"),
    ("method", "three-stage", "unknown method 'three-stage'; known: pgfa, two-stage"),
    ("text_mode", "title", "unknown text_mode 'title'; known: name, description, both"),
    ("layout", "kinect_v2", "unknown layout 'kinect_v2'; known: kinect_v1_20, ntu25"),
    ("backbone_impl", "turbo", "unknown backbone_impl 'turbo'; known: auto, fast, plain"),
    ("data_on_device", "sometimes", "unknown data_on_device 'sometimes'; known: auto, always, never"),
    ("backbone_options", [1], "backbone_options must be a mapping"),
    ("max_steps", 0, "max_steps must be >= 1"),
])
def test_bad_values_are_refused_when_the_config_is_built(key, value, message):
    with pytest.raises(ConfigError, match=message) as info:
        TrainConfig(**{key: value})
    assert info.value.key.split("[")[0] == key
    assert isinstance(info.value, ValueError) and isinstance(info.value, PgfaError)  # old handlers still catch it


def test_environment_is_checked_for_a_new_config(tmp_path):
    with pytest.raises(ConfigError, match="unknown backbone 'resnet'; known backbones: .*stgcn"):
        TrainConfig(backbone="resnet")
    with pytest.raises(ConfigError, match="text_encoder .bert. is neither a registered encoder"):
        TrainConfig(text_encoder="bert")
    with pytest.raises(ConfigError, match="device 'gpu0' is not a device name"):
        TrainConfig(device="gpu0")
    with pytest.raises(ConfigError, match="text_features: .*missing.npy: no such file"):
        TrainConfig(text_features=str(tmp_path / "missing.npy"))
    assert TrainConfig(text_encoder=str(tmp_path)).text_encoder == str(tmp_path)  # a local folder is accepted


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_refused_but_a_run_trained_on_cuda_still_loads(tmp_path):
    with pytest.raises(ConfigError, match="CUDA is not available"):
        TrainConfig(device="cuda")
    path = tmp_path / "config.yaml"
    path.write_text(OLD_CONFIG_YAML.replace("device: auto", "device: cuda").replace("stgcn", "someone-elses"))
    config = TrainConfig.load(path)  # describes a past run: its machine's checks do not apply here
    assert config.device == "cuda" and config.backbone == "someone-elses"


def test_numbers_are_typed():
    config = TrainConfig(lr=1, alpha=1)
    assert isinstance(config.lr, float) and config.lr == 1.0 and isinstance(config.alpha, float)
    assert check_value("lr_steps", (3, 4)) == [3, 4]


def test_assignments_name_the_assignment():
    assert parse_assignments(["lr=0.01", "lr_steps=[30,40]", "align_temperature=null"]) == \
        {"lr": 0.01, "lr_steps": [30, 40], "align_temperature": None}
    with pytest.raises(ConfigError, match=r"^--set epochs=abc: epochs must be an integer, got 'abc'$"):
        parse_assignments(["epochs=abc"])
    with pytest.raises(ConfigError, match="override 'epochs' must look like key=value"):
        parse_assignments(["epochs"])
    with pytest.raises(ConfigError, match="--set lr_steps=\\[1,: the value is not valid YAML"):
        parse_assignments(["lr_steps=[1,"])


def test_from_dict_names_where_the_values_came_from():
    with pytest.raises(ConfigError, match="^plan: epochs must be >= 1, got 0$"):
        TrainConfig.from_dict({"epochs": 0}, where="plan")


def test_a_run_folder_from_before_the_new_fields_resumes(tmp_path):
    """The training loop's resume check: new fields at their default equal an old file that lacks them."""
    from pgfa.training.loop import check_run_folder

    (tmp_path / "config.yaml").write_text(OLD_CONFIG_YAML.replace("/data/ntu60", str(tmp_path)))
    (tmp_path / "last.pt").write_bytes(b"")
    same = TrainConfig(data=str(tmp_path), unseen=[4, 11], classes="ntu60", epochs=5, batch_size=16, warmup_epochs=1)
    assert check_run_folder(tmp_path, same, force=False) == "resume"
    with pytest.raises(Exception, match="different configuration"):
        check_run_folder(tmp_path, dataclasses.replace(same, backbone_impl="plain"), force=False)
