"""Alignment settings chosen by simulated zero-shot on seen classes (pgfa.experiments.alignment_tuning)."""
import json

import numpy as np
import pytest

from pgfa.config import TrainConfig
from pgfa.experiments.alignment_tuning import choose, development_classes, setting_key, tune_alignment
from pgfa.evaluation.evaluate import evaluate_run
from pgfa.text.classes import read_class_file
from pgfa.training.loop import train

UNSEEN = [3, 4, 13, 21, 25]


def test_choice_prefers_no_alignment_then_the_paper_rule_on_ties():
    paper, other = setting_key(0.9, None), setting_key(0.4, 0.07)
    tie = [{"none": 0.5, paper: 0.5, other: 0.5}]
    assert choose(tie, 0.9)[0] == "none"
    assert choose([{"none": 0.4, paper: 0.5, other: 0.5}], 0.9)[0] == paper
    best, means = choose([{"none": 0.4, paper: 0.5, other: 0.7}, {"none": 0.6, paper: 0.5, other: 0.4}], 0.9)
    assert best == other and means[other] == pytest.approx(0.55)


def test_development_classes_are_seeded_and_in_range():
    assert development_classes(21, 5, 0) == development_classes(21, 5, 0)
    assert development_classes(21, 5, 0) != development_classes(21, 5, 1)
    assert all(0 <= c < 21 for c in development_classes(21, 5, 2))
    with pytest.raises(ValueError, match="dev_count"):
        development_classes(6, 5, 0)


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("tune") / "run"
    config = TrainConfig(data="synthetic:samples_per_class=6,seed=0", unseen=UNSEEN, epochs=1, batch_size=32,
                         warmup_epochs=0, lr_steps=[10])
    train(config, run, progress=False, log=lambda message: None)
    selection = tune_alignment(run, dev_splits=2, dev_count=4, progress=False, log=lambda message: None)
    return run, selection


def test_development_runs_never_see_unseen_classes_or_test_samples(tuned_run):
    run, selection = tuned_run
    split = json.loads((run / "split.json").read_text())
    from pgfa.data.formats import load_skeletons

    ids = load_skeletons("synthetic:samples_per_class=6,seed=0").sample_ids
    allowed = {ids[i] for i in split["train"] + split["val"]}
    unseen_names = {t.name for i, t in enumerate(read_class_file(run / "classes.tsv")) if i in UNSEEN}
    for i, part in enumerate(selection["splits"]):
        folder = run / "alignment-dev" / f"split-{i}"
        names = [t.name for t in read_class_file(folder / "classes.tsv")]
        assert len(names) == 26 - len(UNSEEN) and not unseen_names & set(names)
        assert not set(part["held_out_classes"]) & set(UNSEEN)
        dev_split = json.loads((folder / "split.json").read_text())
        assert dev_split["sample_split"] == "none"  # no test subset: held-out samples are training-side ones
        assert part["n_train"] + part["n_test"] + len(dev_split["val"]) == len(allowed)
    dev_ids = (run / "alignment-dev" / "split-0" / "config.yaml").read_text()
    assert "seen-class training samples" in dev_ids


def test_selection_is_recorded_and_used_by_evaluate(tuned_run):
    run, selection = tuned_run
    assert set(selection["mean_top1"]) >= {"none", setting_key(0.9, None), setting_key(0.9, 0.07)}
    assert all(0.0 <= v <= 1.0 for v in selection["mean_top1"].values())
    best = selection["mean_top1"][selection["chosen"]]
    assert best == max(selection["mean_top1"].values()) and best >= selection["mean_top1"]["none"]
    plain = evaluate_run(run)
    metrics = evaluate_run(run, tuned_alignment=True)
    assert metrics["alpha"] == selection["alpha"] and metrics["align_temperature"] == selection["temperature"]
    # the tuned figures go beside the configured rule's, not over them
    assert json.loads((run / "metrics.json").read_text())["alpha"] == plain["alpha"] == 0.9
    assert json.loads((run / "metrics_tuned.json").read_text())["alpha_source"] == metrics["alpha_source"]
    assert metrics["alpha_source"].startswith("simulated zero-shot on seen classes")
    with pytest.raises(ValueError, match="either"):
        evaluate_run(run, alpha=0.5, tuned_alignment=True)


def test_tuning_resumes_finished_development_runs(tuned_run):
    run, selection = tuned_run
    best = run / "alignment-dev" / "split-0" / "best.pt"
    before = best.stat().st_mtime_ns
    again = tune_alignment(run, dev_splits=2, dev_count=4, progress=False, log=lambda message: None)
    assert best.stat().st_mtime_ns == before
    assert again["mean_top1"] == selection["mean_top1"]


def test_evaluate_without_tuning_says_how_to_tune(tmp_path):
    from pgfa.experiments.alignment_tuning import read_selection

    with pytest.raises(FileNotFoundError, match="tune-alignment"):
        read_selection(tmp_path)
