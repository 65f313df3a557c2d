"""The two-stage baseline trains, selects on seen validation, and plugs into evaluate/predict."""
import json

import pytest
import torch

import pgfa
from pgfa.cli.main import main
from pgfa.training.checkpoint import load_checkpoint

DATA = "synthetic:samples_per_class=8,seed=0"
ARGS = ["--data", DATA, "--unseen", "4,11", "--epochs", "2", "--batch-size", "16", "--set", "warmup_epochs=1"]


@pytest.fixture(scope="module")
def two_stage_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("two_stage") / "run"
    assert main(["train", *ARGS, "--method", "two-stage", "--out", str(run)]) == 0
    return run


def test_two_stage_writes_both_stages_and_a_zero_shot_checkpoint(two_stage_run):
    for name in ("stage1_best.pt", "stage1_last.pt", "best.pt", "last.pt", "history.jsonl"):
        assert (two_stage_run / name).is_file(), name
    stages = [json.loads(line)["stage"] for line in (two_stage_run / "history.jsonl").read_text().splitlines()]
    assert stages[:2] == ["classifier", "classifier"] and set(stages[2:]) == {"projection"}
    selection = load_checkpoint(two_stage_run / "best.pt")["selection"]
    assert selection["classifier_epoch"] in (1, 2) and 1 <= selection["projection_epoch"] <= 100


def test_two_stage_backbone_is_frozen_in_the_projection_stage(two_stage_run):
    """best.pt's backbone is exactly the classifier stage's selected backbone."""
    stage1 = load_checkpoint(two_stage_run / "stage1_best.pt")["model"]
    final = load_checkpoint(two_stage_run / "best.pt")["model"]
    for key, value in stage1.items():
        assert torch.equal(final[f"backbone.{key}"], value), key


def test_two_stage_evaluates_and_predicts_like_a_pgfa_run(two_stage_run):
    assert main(["evaluate", str(two_stage_run)]) == 0
    metrics = json.loads((two_stage_run / "metrics.json").read_text())
    assert 0.0 <= metrics["zsl_top1"] <= 1.0 and metrics["unseen_classes"] == [4, 11]
    model = pgfa.load(two_stage_run)
    x = torch.zeros(3, 3, 50, 25, 2)
    predictions = model.predict(x.numpy(), ["wave", "kick"], top_k=2)
    assert len(predictions) == 3 and sorted(predictions[0].labels) == ["kick", "wave"]


def test_two_stage_last_checkpoint_reports_its_real_epoch(two_stage_run):
    """Issue 15 defect: metrics_last.json of a two-stage run said one epoch too few."""
    assert main(["evaluate", str(two_stage_run), "--checkpoint", "last.pt", "--no-align"]) == 0
    last = json.loads((two_stage_run / "metrics_last.json").read_text())
    assert last["checkpoint_epoch"] == 2  # trained for --epochs 2
    assert load_checkpoint(two_stage_run / "last.pt")["epoch_done"] == 2


def test_rerunning_a_finished_two_stage_run_trains_nothing(two_stage_run, capsys):
    stamp = (two_stage_run / "best.pt").stat().st_mtime
    assert main(["train", *ARGS, "--method", "two-stage", "--out", str(two_stage_run)]) == 0
    assert "already trained" in capsys.readouterr().out
    assert (two_stage_run / "best.pt").stat().st_mtime == stamp


def test_more_epochs_resume_the_classifier_stage(two_stage_run, capsys):
    args = [a if a != "2" else "3" for a in ARGS]  # --epochs 3
    assert main(["train", *args, "--method", "two-stage", "--out", str(two_stage_run)]) == 0
    out = capsys.readouterr().out
    assert "resuming the classifier stage after epoch 2" in out and "classifier epoch 3/3" in out
    assert load_checkpoint(two_stage_run / "last.pt")["epoch"] == 2  # 0-based, as in a PGFA run's last.pt


def test_unknown_method_is_refused(tmp_path, capsys):
    assert main(["train", *ARGS, "--set", "method=three-stage", "--out", str(tmp_path / "r")]) == 2
    assert "unknown method 'three-stage'" in capsys.readouterr().err


def test_a_run_stopped_in_the_classifier_stage_resumes(tmp_path, capsys):
    """Only stage1_last.pt exists (killed before the projection stage): the same command continues."""
    run = tmp_path / "run"
    assert main(["train", *ARGS, "--method", "two-stage", "--out", str(run)]) == 0
    for name in ("last.pt", "best.pt"):
        (run / name).unlink()
    capsys.readouterr()
    assert main(["train", *ARGS, "--method", "two-stage", "--out", str(run)]) == 0
    assert (run / "best.pt").is_file() and (run / "last.pt").is_file()
    assert "classifier epoch" not in capsys.readouterr().out  # nothing retrained in stage 1
