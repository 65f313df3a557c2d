"""The step budget (pgfa.training.budget), --preset small (pgfa.experiments.presets) and tune-preset's rule."""
import json

import numpy as np
import pytest

from pgfa.config import TrainConfig
from pgfa.data.formats import load_skeletons
from pgfa.data.splits import make_zero_shot_split
from pgfa.experiments import preset_tuning as pt
from pgfa.experiments.presets import apply_preset, preset_values, small_batch_size, small_length
from pgfa.training.budget import MIN_STEPS, budget_warning, epochs_for_steps, resolve_steps, steps_per_epoch
from pgfa.training.epochs import epoch_batches
from pgfa.training.loop import train

UNSEEN = [3, 4, 13, 21, 25]


@pytest.mark.parametrize("n,batch,world", [(100, 32, 1), (97, 32, 1), (65, 32, 1), (64, 32, 1), (33, 32, 2),
                                           (5, 8, 1), (129, 16, 2)])
def test_steps_per_epoch_follows_the_epoch_loops_drop_rule(n, batch, world):
    config = TrainConfig(batch_size=batch)
    assert steps_per_epoch(n, batch, world) == len(epoch_batches(config, np.arange(n), 0, world))


def test_budget_warning_below_the_minimum_only():
    few = TrainConfig(batch_size=128, epochs=50)  # 300 samples: 3 steps an epoch, 150 steps
    message = budget_warning(few, 300)
    assert message is not None and "150 optimisation steps" in message and "--preset small" in message
    assert budget_warning(TrainConfig(batch_size=16, epochs=60), 300) is None  # 19 x 60 = 1140 steps
    assert budget_warning(TrainConfig(batch_size=16, epochs=60, max_steps=500), 300) is not None


def test_steps_derive_the_epochs_and_cut_the_last_one():
    config = resolve_steps(TrainConfig(batch_size=16, steps=1000), 300)  # 19 steps an epoch
    assert (config.epochs, config.max_steps) == (53, 1000)
    assert epochs_for_steps(19, 300, 16) == 1
    assert resolve_steps(TrainConfig(epochs=7), 300).epochs == 7  # no steps: unchanged


@pytest.mark.parametrize("n,batch", [(100, 16), (300, 16), (511, 16), (512, 32), (1000, 32), (5000, 128),
                                     (100000, 128)])
def test_small_batch_size_rule(n, batch):
    assert small_batch_size(n) == batch


def test_small_length_gives_at_least_min_steps_within_the_epoch_bounds():
    assert small_length(300, 16) == max(50, -(-MIN_STEPS // steps_per_epoch(300, 16)))
    assert small_length(40, 16) == 200  # 2 steps an epoch: capped at 200 epochs
    assert small_length(50000, 128) == 50  # a large set keeps the paper's 50 epochs
    values = preset_values("small", 300)
    steps = values["epochs"] * steps_per_epoch(300, values["batch_size"])
    assert steps >= MIN_STEPS and values["lr_steps"] == [int(0.8 * values["epochs"])]


def test_user_values_win_over_the_preset():
    values = preset_values("small", 300, {"batch_size": 32, "epochs": 80})
    assert "batch_size" not in values and "epochs" not in values
    assert values["lr_steps"] == [64]  # the decay follows the user's epoch count
    stepped = preset_values("small", 300, {"steps": 2000})
    assert stepped["epochs"] == epochs_for_steps(2000, 300, 16)
    with pytest.raises(ValueError, match="unknown preset"):
        preset_values("huge", 300)


def test_apply_preset_sizes_the_run_by_its_seen_training_samples():
    skeletons = load_skeletons("synthetic:samples_per_class=6,seed=0")
    config, resolved = apply_preset("small", TrainConfig(data="synthetic", unseen=UNSEEN), skeletons,
                                    user_fields={"unseen", "text_mode"})
    assert resolved["n_train"] == len(make_zero_shot_split(skeletons, UNSEEN, 0.1, 0).train)
    assert config.batch_size == small_batch_size(resolved["n_train"]) and config.unseen == UNSEEN
    assert config.text_mode == "description"  # the user's (default) value kept
    assert config.epochs * steps_per_epoch(resolved["n_train"], config.batch_size) >= MIN_STEPS


def test_a_short_run_warns_before_training(tmp_path):
    lines = []
    config = TrainConfig(data="synthetic:samples_per_class=6,seed=0", unseen=UNSEEN, epochs=1, batch_size=32,
                         warmup_epochs=0, lr_steps=[10])
    train(config, tmp_path / "run", progress=False, log=lines.append)
    warnings = [line for line in lines if line.startswith("warning: this run takes only")]
    assert len(warnings) == 1 and "--preset small" in warnings[0]


def _key(augment, text, rule):
    return pt.choice_key({"augment": augment, "text_mode": text, "align_rule": rule})


def test_choice_is_the_best_mean_with_ties_to_the_simpler():
    simple, aug, text = _key("none", "description", "paper"), _key("all", "description", "paper"), \
        _key("none", "ensemble", "paper")
    table = {simple: {"a": 0.5, "b": 0.5}, aug: {"a": 0.6, "b": 0.4}, text: {"a": 0.4, "b": 0.6}}
    assert pt.choose(table, ["a", "b"])[0] == simple  # three-way tie: the simplest
    table[aug]["b"] = 0.41
    assert pt.choose(table, ["a", "b"])[0] == aug
    assert pt.simplicity(text) < pt.simplicity(aug)  # one option each: no augmentation first
    assert pt.leave_one_out(table, ["a", "b"]) == {"a": text, "b": aug}


def test_choice_table_spreads_each_trained_candidate_over_the_rules():
    scores = {"s": {"augment-none_text-description": {"none": 0.3, "paper": 0.4, "guarded": 0.5}}}
    table = pt.choice_table(scores)
    assert table == {_key("none", "description", "paper"): {"s": 0.4},
                     _key("none", "description", "guarded"): {"s": 0.5}}
    with pytest.raises(ValueError, match="DATA,CLASSES,K"):
        pt.parse_set_spec("data.pkl,5")
    assert pt.parse_set_spec("a/b.pkl,,3") == pt.SetSpec("a/b.pkl", None, 3)


def test_training_side_set_never_holds_a_test_sample():
    skeletons = load_skeletons("synthetic:samples_per_class=6,seed=0")
    kept, note = pt.training_side_set(skeletons, "synthetic")
    train_ids = {skeletons.sample_ids[i] for i in skeletons.subsets["train"]}
    assert set(kept.sample_ids) == train_ids and "official training samples" in note
    assert kept.subsets == {}


def test_tune_preset_trains_scores_and_resumes(tmp_path, monkeypatch):
    skeletons = load_skeletons("synthetic:samples_per_class=6,seed=0")
    monkeypatch.setattr(pt, "load_skeletons", lambda data, frames: skeletons)
    specs = [pt.SetSpec("one.npy", None, 4), pt.SetSpec("two.npy", None, 3)]
    small = {"epochs": 1, "batch_size": 32, "warmup_epochs": 0, "lr_steps": [10]}
    results = pt.tune_preset(specs, tmp_path, augments=("none",), text_modes=("description",), overrides=small,
                             progress=False, log=lambda message: None)
    record = json.loads((tmp_path / "one" / "augment-none_text-description" / pt.SCORES_FILE).read_text())
    assert set(record["top1"]) == {"none", "paper", "guarded"}
    assert all(0.0 <= v <= 1.0 for v in record["top1"].values())
    assert results["winner"] in results["mean_top1"] and set(results["leave_one_out"]) == {"one", "two"}
    assert "winner over all sets" in (tmp_path / "results.md").read_text().lower()
    stamp = (tmp_path / "one" / "augment-none_text-description" / "best.pt").stat().st_mtime_ns
    pt.tune_preset(specs, tmp_path, augments=("none",), text_modes=("description",), overrides=small,
                   progress=False, log=lambda message: None)
    assert (tmp_path / "one" / "augment-none_text-description" / "best.pt").stat().st_mtime_ns == stamp


def test_choice_assignments_are_valid_set_values():
    from pgfa.config import AUGMENTATIONS, parse_assignments

    values = parse_assignments(pt.choice_assignments(_key("all", "ensemble", "guarded")))
    assert values == {"augment": list(AUGMENTATIONS), "text_mode": "ensemble", "align_rule": "guarded"}
    assert TrainConfig.from_dict(values).augment == list(AUGMENTATIONS)
    assert parse_assignments(pt.choice_assignments(_key("none", "description", "paper")))["augment"] == []


def test_train_preset_small_from_the_command_line_keeps_the_users_values(tmp_path, capsys):
    from pgfa.cli.main import main

    out = tmp_path / "run"
    assert main(["train", "--data", "synthetic:samples_per_class=6,seed=0", "--unseen", "3,4,13,21,25",
                 "--preset", "small", "--epochs", "1", "--set", "warmup_epochs=0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "--preset small (n=" in printed and "yours kept: epochs, warmup_epochs" in printed
    saved = TrainConfig.load(out / "config.yaml")
    assert saved.epochs == 1 and saved.warmup_epochs == 0  # the user's
    assert saved.batch_size == 16 and saved.lr_steps == [0]  # the preset's, decay at 80 % of the user's epochs
    assert "warning: this run takes only" in printed  # 1 epoch is still too short, and it says so


def test_reproduce_note_names_the_options_used_and_who_chose_them():
    from pgfa.experiments.reproduce import _preset_base

    base, note = _preset_base("small", TrainConfig(), {})
    assert base.text_mode == "description" and base.align_rule == "paper" and base.augment == []
    assert "options augment=[], text_mode=description, align_rule=paper" in note and "tune-preset" in note
    mine = {"augment": ["rotate"], "text_mode": "ensemble", "align_rule": "guarded"}
    base, note = _preset_base("small", TrainConfig(**mine), mine)
    assert base.text_mode == "ensemble" and base.augment == ["rotate"]
    assert "none of its own options used" in note and "given by you and kept: align_rule, augment, text_mode" in note
