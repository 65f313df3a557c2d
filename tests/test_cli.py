"""The command line: --config and precedence, flags derived from the config, the error policy."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import yaml

from pgfa.cli import commands, main as cli_main
from pgfa.cli.main import build_parser, main
from pgfa.cli.train import build_config, flag_fields
from pgfa.config import TrainConfig, field_help, value_choices

DATA = "synthetic:samples_per_class=6,seed=0"


def _train_args(*argv: str):
    return build_parser().parse_args(["train", "--out", "unused", *argv])


# ---------------------------------------------------------------- flags from the config


def test_every_single_valued_field_has_a_flag_with_its_help_and_choices():
    parser = build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    actions = {a.dest: a for a in train._actions}
    named = {name for name, _, _ in flag_fields()}
    scalar = {f.name for f in dataclasses.fields(TrainConfig)} - {"unseen", "lr_steps", "backbone_options", "augment"}
    assert named == scalar
    for name in named:
        assert actions[name].help.startswith(field_help(name)), name
        if value_choices(name):
            assert tuple(actions[name].choices) == value_choices(name), name
    assert actions["text_mode"].option_strings[0] == "--text"  # the existing flag name is kept


def test_precedence_is_defaults_then_file_then_flags_then_set(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({
        "data": {"data": DATA, "unseen": [1, 2], "frames": 16},
        "optimisation": {"epochs": 3, "lr": 0.01, "batch_size": 8},
        "alignment": {"alpha": 0.5},
    }))
    config = build_config(_train_args("--config", str(path), "--epochs", "4", "--lr", "0.02", "--set", "lr=0.03"))
    assert (config.frames, config.batch_size, config.alpha) == (16, 8, 0.5)  # from the file
    assert config.epochs == 4  # flag over file
    assert config.lr == 0.03  # --set over flag over file
    assert config.unseen == [1, 2] and config.momentum == TrainConfig().momentum  # file, default
    assert build_config(_train_args("--config", str(path), "--unseen", "5,6")).unseen == [5, 6]


def test_a_run_folders_config_yaml_is_a_valid_config_file(tmp_path):
    saved = tmp_path / "config.yaml"
    TrainConfig(data=DATA, unseen=[4, 11], epochs=2, lr_steps=[1]).save(saved)
    assert build_config(_train_args("--config", str(saved))) == TrainConfig.load(saved)


def test_without_data_or_unseen_the_user_is_told_what_to_give():
    from pgfa.errors import ConfigError

    with pytest.raises(ConfigError, match="--data is required"):
        build_config(_train_args("--unseen", "1"))
    with pytest.raises(ConfigError, match="give the unseen classes"):
        build_config(_train_args("--data", DATA))


# ---------------------------------------------------------------- refusals leave nothing behind


@pytest.mark.parametrize("argv, message", [
    (["--set", "epochs=abc"], "--set epochs=abc: epochs must be an integer, got 'abc'"),
    (["--epochs", "0"], "--epochs 0: epochs must be >= 1, got 0"),
    (["--alpha", "-0.5"], "--alpha -0.5: alpha must be in [0, 1], got -0.5"),
    (["--lr", "inf"], "--lr inf: lr must be a finite number"),
    (["--set", "lr_steps=[1, 2.5]"], "lr_steps[1] must be an integer, got 2.5"),
    (["--backbone", "resnet"], "--backbone: unknown backbone 'resnet'"),
    (["--set", "backbone=resnet"], "--set: unknown backbone 'resnet'"),
])
def test_bad_settings_exit_2_with_one_line_and_no_run_folder(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert main(["train", "--data", DATA, "--unseen", "1,2", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pgfa train: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", DATA, "--unseen", "1,2", "--out", str(out), "--device", "cuda"]) == 2
    assert "--device: device 'cuda' was asked for but CUDA is not available" in capsys.readouterr().err
    assert not out.exists()


def test_a_bad_config_file_is_named_in_the_error(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  lr: 0.1\n")
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    assert f"pgfa train: error: {path}: lr belongs in section optimisation, not model" in capsys.readouterr().err
    path.write_text("data: {data: synthetic, unseen: [1]}\nmodel: {backbone: resnet}\n")
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    assert f"error: {path}: unknown backbone 'resnet'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_train_from_a_sectioned_config_file(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(f"data:\n  data: '{DATA}'\n  unseen: [4, 11]\n"
                    "optimisation:\n  epochs: 1\n  batch_size: 16\n  warmup_epochs: 1\n")
    out = tmp_path / "run"
    assert main(["train", "--config", str(path), "--out", str(out), "--set", "seed=3"]) == 0
    config = TrainConfig.load(out / "config.yaml")
    assert (config.epochs, config.batch_size, config.warmup_epochs, config.seed) == (1, 16, 1, 3)
    assert json.loads((out / "split.json").read_text())["unseen_classes"] == [4, 11]


# ---------------------------------------------------------------- the error policy


def _with_command(monkeypatch, run):
    """Register a throw-away command ``boom`` through the command table, as a helper module would."""
    def add_parser(sub):
        return sub.add_parser("boom", help="raises")

    monkeypatch.setattr(commands, "COMMANDS", [*commands.COMMANDS, commands.Command("boom", add_parser, run)])
    monkeypatch.setattr(cli_main, "COMMANDS", commands.COMMANDS)
    monkeypatch.setattr(cli_main, "_threads", lambda: None)
    monkeypatch.delenv("PGFA_DEBUG", raising=False)


def _raise(err):
    def run(args):
        raise err
    return run


def test_each_table_entry_builds_the_sub_command_of_its_name():
    names = [c.name for c in commands.COMMANDS]
    assert len(names) == len(set(names))
    assert list(build_parser()._subparsers._group_actions[0].choices) == names


def test_a_registered_command_runs(monkeypatch, capsys):
    _with_command(monkeypatch, lambda args: print("ran boom") or 0)
    assert main(["boom"]) == 0
    assert capsys.readouterr().out == "ran boom\n"


@pytest.mark.parametrize("make_error, line", [
    (lambda: FileNotFoundError(2, "No such file or directory", "/x/data.npy"), "/x/data.npy: No such file or directory"),
    (lambda: ValueError("/x/classes.txt: line 3: empty name"), "/x/classes.txt: line 3: empty name"),
    (lambda: _pgfa_error("pgfa.data.formats", "DataError", ValueError, "/x/d.pkl: label -1"), "/x/d.pkl: label -1"),
    (lambda: _pgfa_error("pgfa.training.loop", "RunExistsError", RuntimeError, "/r exists"), "/r exists"),
    (lambda: _pgfa_error("pgfa.text.encoders", "EncoderNotInstalled", RuntimeError, "mpnet missing"), "mpnet missing"),
])
def test_user_errors_are_one_line_with_exit_code_2(monkeypatch, capsys, make_error, line):
    _with_command(monkeypatch, _raise(make_error()))
    assert main(["boom"]) == 2
    assert capsys.readouterr().err == f"pgfa boom: error: {line}\n"


def _pgfa_error(module: str, name: str, base: type, message: str) -> Exception:
    """An instance of a pgfa error class as its module defines it (by name, as the CLI recognises it)."""
    cls = type(name, (base,), {"__module__": module})
    return cls(message)


def test_the_real_pgfa_error_classes_count_as_user_errors():
    from pgfa.data.formats import DataError
    from pgfa.text.encoders import EncoderNotInstalled
    from pgfa.training.checkpoint import CheckpointError
    from pgfa.training.loop import RunExistsError

    for cls in (DataError, EncoderNotInstalled, CheckpointError, RunExistsError):
        assert cli_main.is_user_error(cls("x")), cls
    assert not cli_main.is_user_error(RuntimeError("x")) and not cli_main.is_user_error(KeyError("x"))


def test_an_unexpected_error_says_how_to_see_the_traceback(monkeypatch, capsys):
    _with_command(monkeypatch, _raise(KeyError("weights")))
    assert main(["boom"]) == 1
    err = capsys.readouterr().err
    assert err == ("pgfa boom: unexpected error (KeyError: 'weights'); rerun with --debug (or PGFA_DEBUG=1) "
                   "to see the traceback\n")


@pytest.mark.parametrize("argv, env", [(["--debug", "boom"], None), (["boom", "--debug"], None), (["boom"], "1")])
def test_debug_shows_the_traceback(monkeypatch, capsys, argv, env):
    _with_command(monkeypatch, _raise(RuntimeError("deep inside")))
    if env:
        monkeypatch.setenv("PGFA_DEBUG", env)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: deep inside" in err
    assert "rerun with --debug" not in err


def test_debug_also_shows_the_traceback_of_a_user_error(monkeypatch, capsys):
    _with_command(monkeypatch, _raise(ValueError("bad input")))
    assert main(["--debug", "boom"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.endswith("pgfa boom: error: bad input\n")


# ---------------------------------------------------------------- reproduce reads the data it records


def test_reproduce_loads_the_data_with_the_frames_it_records(monkeypatch, tmp_path):
    """Defect of issue 15: --set frames=N trained on 50-frame data while config.yaml said N."""
    import pgfa.experiments.reproduce as reproduce

    seen = {}

    def fake_execute(plan, out, skeletons=None, **kwargs):
        seen["frames"], seen["T"] = plan.base.frames, skeletons.data.shape[2]
        return {"summary": {m: {"all": {"top1": {"mean": 0, "std": 0, "n": 0}, "top1_aligned": None}}
                            for m in plan.methods}}

    monkeypatch.setattr(reproduce, "execute", fake_execute)
    monkeypatch.setattr(cli_main, "_threads", lambda: None)
    assert main(["reproduce", "--data", DATA, "--unseen-count", "3", "--splits", "1", "--seeds", "0",
                 "--set", "frames=16", "--out", str(tmp_path / "r")]) == 0
    assert seen == {"frames": 16, "T": 16}
