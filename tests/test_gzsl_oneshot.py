"""Generalised zero-shot (GZSL) and one-shot evaluation: hand-made numbers, a tiny run, and a leak guard."""
import dataclasses
import json
import math

import numpy as np
import pytest
import torch

from pgfa.alignment.prototype import prototype_align
from pgfa.cli.main import main
from pgfa.evaluation.gzsl import ausuc, calibrate, gzsl_metrics, harmonic_mean, select_gamma
from pgfa.evaluation.oneshot import draw_exemplars, one_shot_classify, one_shot_evaluate

# Seen classes 0, 1; unseen 2, 3. Rows are samples, columns classes.
SEEN_MASK = np.array([True, True, False, False])
SCORES = np.array([
    [0.9, 0.1, 0.2, 0.0],  # seen 0 -> 0, right
    [0.5, 0.1, 0.6, 0.0],  # seen 0 -> 2, wrong (seen sample lost to an unseen class)
    [0.2, 0.8, 0.1, 0.3],  # seen 1 -> 1, right
    [0.7, 0.1, 0.6, 0.2],  # unseen 2 -> 0, wrong; margin 0.1
    [0.1, 0.2, 0.5, 0.4],  # unseen 2 -> 2, right
    [0.3, 0.6, 0.1, 0.5],  # unseen 3 -> 1, wrong; margin 0.1
])
TARGETS = np.array([0, 0, 1, 2, 2, 3])


def test_harmonic_mean():
    assert harmonic_mean(0.5, 0.5) == pytest.approx(0.5)
    assert harmonic_mean(0.8, 0.2) == pytest.approx(2 * 0.8 * 0.2 / 1.0)  # 0.32, far below the mean 0.5
    assert harmonic_mean(1.0, 0.0) == 0.0
    assert harmonic_mean(0.0, 0.0) == 0.0
    assert math.isnan(harmonic_mean(float("nan"), 0.5))


def test_gzsl_metrics_on_hand_made_scores():
    m = gzsl_metrics(SCORES, TARGETS, SEEN_MASK)
    assert m["seen_acc"] == pytest.approx(2 / 3)
    assert m["unseen_acc"] == pytest.approx(1 / 3)
    assert m["harmonic_mean"] == pytest.approx(4 / 9)  # 2 * 2/3 * 1/3 / (2/3 + 1/3)
    assert (m["n_seen"], m["n_unseen"]) == (3, 3)
    assert m["seen_to_unseen"] == pytest.approx(1 / 3)
    assert m["unseen_to_seen"] == pytest.approx(2 / 3)


def test_calibration_moves_the_two_near_misses_to_unseen_classes():
    calibrated = calibrate(SCORES, SEEN_MASK, 0.15)
    assert np.allclose(calibrated[:, 2:], SCORES[:, 2:])  # unseen columns untouched
    m = gzsl_metrics(calibrated, TARGETS, SEEN_MASK)
    # samples 3 and 5 (margin 0.1 < 0.15) now go right; the seen samples keep their labels
    assert m["seen_acc"] == pytest.approx(2 / 3)
    assert m["unseen_acc"] == pytest.approx(1.0)
    assert m["harmonic_mean"] == pytest.approx(0.8)  # 2 * 2/3 * 1 / (5/3)


def test_ausuc_ends_are_the_seen_only_and_unseen_only_accuracies():
    r = ausuc(SCORES, TARGETS, SEEN_MASK)
    # seen samples among the seen classes alone: 0, 0, 1 all right; unseen among unseen alone: 2, 2, 3 all right
    assert r["seen_only_acc"] == pytest.approx(1.0)
    assert r["unseen_only_acc"] == pytest.approx(1.0)
    # Margins (best seen - best unseen) per sample: 0.7, -0.1, 0.5, 0.1, -0.3, 0.1. Raising gamma past
    # -0.3 sends sample 4 to the unseen side (u = 1/3, s = 1), past -0.1 sample 1 (s = 2/3), past 0.1
    # samples 3 and 5 (u = 1), then samples 2 and 0 (s = 1/3, 0). Curve (u, s): (0, 1) (1/3, 1)
    # (1/3, 2/3) (1, 2/3) (1, 1/3) (1, 0); area = 1/3 * 1 + 2/3 * 2/3 = 7/9.
    expected = 7 / 9
    assert r["ausuc"] == pytest.approx(expected)


def _val_scores(margins):
    """Seen-validation scores (seen classes 0, 1; unseen 2) with the given seen-minus-unseen margins."""
    margins = np.asarray(margins, dtype=np.float64)
    return np.stack([margins, margins - 0.3, np.zeros_like(margins)], axis=1)


VAL_MARGINS = np.arange(1, 11) * 0.05 + 0.0005  # 0.0505, 0.1005, ..., 0.5005
VAL_SEEN = np.array([True, True, False])


def test_gamma_is_the_largest_that_keeps_the_seen_to_unseen_budget():
    scores = _val_scores(VAL_MARGINS)
    choice = select_gamma(scores, VAL_SEEN, max_seen_to_unseen=0.2)
    # 2 of 10 samples may cross: gamma must stay below the third margin, 0.1505
    assert choice.gamma == pytest.approx(0.150)
    assert choice.val_seen_to_unseen == pytest.approx(0.2)
    assert "seen-class validation" in choice.rule and choice.n_val == 10

    def crossed(gamma):
        return float((~VAL_SEEN[calibrate(scores, VAL_SEEN, gamma).argmax(1)]).mean())

    assert crossed(choice.gamma) <= 0.2 < crossed(choice.gamma + 0.001)
    assert select_gamma(scores, VAL_SEEN, max_seen_to_unseen=0.0).gamma == pytest.approx(0.050)
    assert select_gamma(scores, VAL_SEEN, max_seen_to_unseen=1.0).gamma == pytest.approx(0.502)  # everything may cross
    # the default rule reads no labels: whatever targets are passed, the answer is the same
    assert select_gamma(scores, VAL_SEEN, np.zeros(10, dtype=int), 0.2).gamma == choice.gamma


def test_gamma_never_favours_the_seen_classes_unless_asked():
    # every margin 0.3 lower: 5 of 10 samples already sit on the unseen side at gamma = 0
    scores = _val_scores(VAL_MARGINS - 0.3)
    assert select_gamma(scores, VAL_SEEN, max_seen_to_unseen=0.2, min_gamma=None).gamma == pytest.approx(-0.150)
    clamped = select_gamma(scores, VAL_SEEN, max_seen_to_unseen=0.2)
    assert clamped.gamma == 0.0 and "already spent" in clamped.rule


def test_accuracy_drop_rule_charges_only_samples_that_were_right():
    scores = _val_scores(VAL_MARGINS)
    targets = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])  # the three smallest margins are wrong (argmax is 0)
    choice = select_gamma(scores, VAL_SEEN, max_seen_to_unseen=0.2, rule="seen_accuracy_drop", val_targets=targets)
    # right samples have margins 0.2005, 0.2505, 0.3005, ...: two may cross, so gamma < 0.3005
    assert choice.gamma == pytest.approx(0.300)
    with pytest.raises(ValueError, match="needs val_targets"):
        select_gamma(scores, VAL_SEEN, rule="seen_accuracy_drop")


def test_no_validation_samples_means_no_calibration():
    choice = select_gamma(np.zeros((0, 3)), VAL_SEEN)
    assert choice.gamma == 0.0 and choice.n_val == 0


def test_prototype_bias_defaults_to_the_paper_rule_and_shifts_pseudo_labels():
    torch.manual_seed(0)
    features, text = torch.randn(30, 6), torch.randn(4, 6)
    plain = prototype_align(features, text, alpha=0.9)
    zero = prototype_align(features, text, alpha=0.9, bias=torch.zeros(4))
    assert torch.equal(plain.labels, zero.labels) and torch.allclose(plain.scores, zero.scores)
    # a large bias against classes 0 and 1 sends every sample to class 2 or 3, in both steps
    shifted = prototype_align(features, text, alpha=0.9, bias=torch.tensor([-10.0, -10.0, 0.0, 0.0]))
    assert set(shifted.initial_labels.tolist()) <= {2, 3} and set(shifted.labels.tolist()) <= {2, 3}
    with pytest.raises(ValueError, match="one value per class"):
        prototype_align(features, text, alpha=0.9, bias=torch.zeros(3))


# One-shot: two novel classes whose texts point the wrong way (x and y axes) but whose skeleton
# features form tight clusters on +z (class 0) and -z (class 1).
SHOT_TEXT = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
SHOT_FEATURES = torch.tensor([
    [0.10, 0.30, 1.00], [0.12, 0.28, 1.00], [0.08, 0.31, 0.95],  # class 0: nearer the y text (class 1)
    [0.30, 0.10, -1.00], [0.28, 0.12, -1.00], [0.31, 0.09, -0.95],  # class 1: nearer the x text (class 0)
])
SHOT_TARGETS = np.array([0, 0, 0, 1, 1, 1])


def test_one_shot_classify_on_hand_made_features():
    r = one_shot_classify(SHOT_FEATURES[[1, 2, 4, 5]], SHOT_TARGETS[[1, 2, 4, 5]], SHOT_FEATURES[[0, 3]], SHOT_TEXT)
    assert r["text_top1"] == 0.0  # every text points at the other class
    assert r["exemplar_top1"] == 1.0  # the exemplars sit in the right clusters
    # class 0 sample vs (e0 + t0) and (e1 + t1): about 0.96 + 0.10 against -0.95 + 0.30 -> still right
    assert r["exemplar_text_top1"] == 1.0
    assert r["n_test"] == 4


def test_one_shot_draw_is_seeded_one_per_class_and_removed():
    a = one_shot_evaluate(SHOT_FEATURES, SHOT_TARGETS, SHOT_TEXT, seed=3, draws=2)
    b = one_shot_evaluate(SHOT_FEATURES, SHOT_TARGETS, SHOT_TEXT, seed=3, draws=2)
    assert a["per_draw"] == b["per_draw"]
    for draw in a["per_draw"]:
        assert [SHOT_TARGETS[p] for p in draw["exemplars"]] == [0, 1]
        assert draw["n_test"] == 4  # the two exemplars are not evaluated
    assert a["exemplar_top1"] == 1.0 and a["text_top1"] == 0.0 and a["exemplar_top1_std"] == 0.0
    assert list(draw_exemplars(SHOT_TARGETS, 2, seed=3)) == a["per_draw"][0]["exemplars"]
    with pytest.raises(ValueError, match="no test sample"):
        draw_exemplars(SHOT_TARGETS, 3, seed=0)


# A tiny run: 4 performers (2 train, 2 test), 4 samples per class, 16 frames. The synthetic set has an
# official train/test (cross-performer) split, so the zero-shot split has seen-class test samples.
DATA = "synthetic:samples_per_class=4,num_performers=4,seed=0"
TRAIN = ["--unseen", "4,11,21", "--epochs", "2", "--batch-size", "32", "--set", "warmup_epochs=1", "frames=16"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("gzsl") / "run"
    assert main(["train", "--data", DATA, "--out", str(run), *TRAIN]) == 0
    return run


def test_evaluate_writes_gzsl_and_one_shot_sections(tiny_run, capsys):
    assert main(["evaluate", str(tiny_run), "--one-shot", "--one-shot-seed", "5"]) == 0
    printed = capsys.readouterr().out
    assert "generalised zero-shot" in printed and "one-shot" in printed
    m = json.loads((tiny_run / "metrics.json").read_text())
    g = m["gzsl"]
    split = json.loads((tiny_run / "split.json").read_text())
    assert g["n_seen_test"] == split["counts"]["seen_test"] > 0
    assert g["n_unseen_test"] == m["n_test"]
    assert g["n_val"] == split["counts"]["val"]
    assert isinstance(g["gamma"], float) and "seen-class validation" in g["calibration_rule"]
    for part in ("text", "aligned"):
        for cal in ("uncalibrated", "calibrated"):
            r = g[part][cal]
            assert 0 <= r["seen_acc"] <= 1 and 0 <= r["unseen_acc"] <= 1
            assert r["harmonic_mean"] == pytest.approx(harmonic_mean(r["seen_acc"], r["unseen_acc"]))
    assert g["unseen_only_acc"] == pytest.approx(m["zsl_top1"])  # the unseen end of the AUSUC curve is ZSL
    s = m["one_shot"]
    assert s["seed"] == 5 and s["n_test"] == m["n_test"] - 3  # one exemplar per unseen class removed
    exemplars = s["per_draw"][0]["exemplars"]
    assert [e["class"] for e in exemplars] == [4, 11, 21]
    assert all(e["sample"] in split["unseen_test"] and e["id"].startswith(f"c{e['class']:02d}") for e in exemplars)
    assert m["checkpoint"] == "best.pt"

    assert main(["evaluate", str(tiny_run), "--checkpoint", "last.pt", "--no-align"]) == 0
    last = json.loads((tiny_run / "metrics_last.json").read_text())
    assert last["checkpoint"] == "last.pt" and last["checkpoint_epoch"] == 2
    assert last["one_shot"] is None and last["gzsl"]["aligned"] is None
    assert "not selected" in last["selected_on"]
    assert json.loads((tiny_run / "metrics.json").read_text())["checkpoint"] == "best.pt"  # not overwritten


def test_unseen_test_data_never_reaches_checkpoint_or_gamma_selection(tiny_run, tmp_path):
    """Train the same run on data whose test samples are garbage and whose unseen test labels are
    scrambled (among the unseen classes, so every index set of the split stays the same): the
    checkpoint chosen, its validation figures and gamma must not move."""
    from pgfa.config import TrainConfig
    from pgfa.data.formats import load_skeletons
    from pgfa.evaluation.evaluate import seen_validation_gamma
    from pgfa.run import build_run_model, load_run_model, prepare_inputs
    from pgfa.training.checkpoint import load_checkpoint
    from pgfa.training.loop import train

    config = TrainConfig.load(tiny_run / "config.yaml")
    clean = load_skeletons(config.data, frames=config.frames)
    test = clean.subsets["test"]
    labels = clean.labels.copy()
    rotate = {4: 11, 11: 21, 21: 4}
    unseen_test = test[np.isin(labels[test], list(rotate))]
    labels[unseen_test] = [rotate[int(y)] for y in labels[unseen_test]]
    data = clean.data.copy()
    data[test] = np.random.default_rng(1).normal(size=data[test].shape).astype(np.float32)
    tampered = dataclasses.replace(clean, data=data, labels=labels)

    train(config, tmp_path / "tampered", skeletons=tampered, progress=False, log=lambda *_: None)
    original_best = load_checkpoint(tiny_run / "best.pt")
    tampered_best = load_checkpoint(tmp_path / "tampered" / "best.pt")
    assert tampered_best["epoch"] == original_best["epoch"]
    assert tampered_best["selection"]["val_top1"] == original_best["selection"]["val_top1"]
    assert tampered_best["selection"]["val_loss"] == pytest.approx(original_best["selection"]["val_loss"], abs=1e-6)

    _, clean_inputs, _, model, dev = load_run_model(tiny_run)
    tampered_inputs = prepare_inputs(config, tampered)
    assert np.array_equal(tampered_inputs.split.val, clean_inputs.split.val)
    tampered_model = build_run_model(config, tampered_inputs)
    tampered_model.load_state_dict(tampered_best["model"])
    gamma = seen_validation_gamma(model, clean_inputs, dev).gamma
    assert seen_validation_gamma(model, tampered_inputs, dev).gamma == gamma  # same model, tampered test data
    assert seen_validation_gamma(tampered_model, tampered_inputs, dev).gamma == pytest.approx(gamma, abs=1e-3)
