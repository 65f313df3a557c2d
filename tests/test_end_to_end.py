"""The CLI path a user takes: train -> evaluate, resume, refusals. Small and fast."""
import json

import pytest

from pgfa.cli.main import main

# Two unseen classes that differ in which body part moves (arms vs a leg).
DATA = "synthetic:samples_per_class=8,seed=0"
UNSEEN = "4,11"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tiny"
    code = main(["train", "--data", DATA, "--unseen", UNSEEN, "--out", str(run), "--epochs", "1",
                 "--batch-size", "16", "--set", "warmup_epochs=1"])
    assert code == 0
    return run


def test_train_writes_a_complete_run_folder(trained_run):
    for name in ("config.yaml", "classes.tsv", "text_features.npy", "split.json", "history.jsonl", "last.pt", "best.pt"):
        assert (trained_run / name).is_file(), name
    split = json.loads((trained_run / "split.json").read_text())
    assert split["unseen_classes"] == [4, 11]
    assert not set(split["unseen_classes"]) & set(split["seen_classes"])


def test_evaluate_writes_metrics_and_keeps_the_previous_ones(trained_run):
    assert main(["evaluate", str(trained_run)]) == 0
    metrics = json.loads((trained_run / "metrics.json").read_text())
    for key in ("zsl_top1", "zsl_top1_aligned", "zsl_top5", "n_test", "unseen_classes", "selected_on"):
        assert key in metrics, key
    assert metrics["unseen_classes"] == [4, 11]
    assert "seen-class validation" in metrics["selected_on"]
    assert (trained_run / "confusion.png").stat().st_size > 1000
    assert main(["evaluate", str(trained_run), "--no-align"]) == 0
    assert len(list(trained_run.glob("metrics.*.json"))) == 1  # the first result was kept


def test_same_command_with_more_epochs_resumes(trained_run, capsys):
    assert main(["train", "--data", DATA, "--unseen", UNSEEN, "--out", str(trained_run), "--epochs", "2",
                 "--batch-size", "16", "--set", "warmup_epochs=1"]) == 0
    assert "resuming" in capsys.readouterr().out
    history = (trained_run / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in history] == [1, 2]


def test_different_config_into_existing_run_is_refused(trained_run, capsys):
    code = main(["train", "--data", DATA, "--unseen", "4,12", "--out", str(trained_run), "--epochs", "1"])
    assert code == 2  # a user error (pgfa.cli.main.EXIT_USER_ERROR)
    assert "different configuration" in capsys.readouterr().err


def test_class_file_not_matching_the_data_is_refused(tmp_path, capsys):
    classes = tmp_path / "classes.txt"
    classes.write_text("a\nb\nc\n")
    code = main(["train", "--data", DATA, "--unseen", UNSEEN, "--out", str(tmp_path / "r"), "--classes", str(classes)])
    assert code == 2
    assert "has 3 classes but" in capsys.readouterr().err


def test_short_training_beats_chance_on_unseen_classes(tmp_path):
    """Arms up, a left-leg kick and a head shake: three unseen classes whose
    body parts and directions all occur in seen classes (chance is 1/3)."""
    run = tmp_path / "beats-chance"
    assert main(["train", "--data", "synthetic:samples_per_class=12,seed=0", "--unseen", "4,11,21",
                 "--out", str(run), "--epochs", "8", "--batch-size", "16", "--set", "warmup_epochs=1"]) == 0
    assert main(["evaluate", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["chance_top1"] == pytest.approx(1 / 3)
    assert metrics["zsl_top1"] >= 0.5, metrics


def test_quick_demo_runs_every_split_and_reports_their_mean(tmp_path, capsys):
    from pgfa.experiments.demo import DEMO_ALPHA, DEMO_SPLITS

    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "aligned" in printed and "chance" in printed and "mean" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"].startswith("synthetic:") and metrics["n_test"] > 0
    assert [s["split"] for s in metrics["splits"]] == [name for name, _ in DEMO_SPLITS]
    for split, (name, unseen) in zip(metrics["splits"], DEMO_SPLITS):
        run = json.loads((out / name / "metrics.json").read_text())
        assert run["unseen_classes"] == unseen and run["zsl_top1"] == split["top1"]
        assert run["alpha"] == DEMO_ALPHA == metrics["alpha"]
    per_split = [s["top1_aligned"] for s in metrics["splits"]]
    assert metrics["zsl_top1_aligned"] == pytest.approx(sum(per_split) / len(per_split))
    assert (out / "report.md").is_file()
    # a second demo into the same folder keeps the first summary beside the new one
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    assert len(list(out.glob("metrics.*.json"))) == 1


def test_demo_splits_are_the_original_split_and_the_first_seeded_draws():
    """The demo's splits were fixed before any result: guard them against silent edits."""
    from pgfa.experiments.demo import DEMO_SPLITS
    from pgfa.data.splits import random_unseen
    from pgfa.data.synthetic import SUGGESTED_UNSEEN, SYNTHETIC_ACTIONS

    assert DEMO_SPLITS[0] == ("fixed", list(SUGGESTED_UNSEEN))
    for name, unseen in DEMO_SPLITS[1:]:
        seed = int(name.removeprefix("random-"))
        assert unseen == random_unseen(len(SYNTHETIC_ACTIONS), 5, seed)


@pytest.mark.slow
def test_full_demo_recognises_unseen_classes_well_above_chance(tmp_path):
    """The README's `pgfa demo` (3 to 4½ minutes on 2 cores): run with `pytest -m slow`."""
    from pgfa.experiments.demo import run_demo

    metrics = run_demo(out=str(tmp_path / "demo"), progress=False)
    assert metrics["zsl_top1"] >= 2 * metrics["chance_top1"], metrics


def test_failed_start_leaves_no_run_folder(tmp_path):
    out = tmp_path / "never"
    assert main(["train", "--data", DATA, "--unseen", "1,99", "--out", str(out)]) == 2
    assert not out.exists()


def test_train_takes_a_split_file_and_refuses_a_split_of_another_dataset(tmp_path, capsys):
    split = tmp_path / "unseen.txt"
    split.write_text("4 11\n")
    out = tmp_path / "split-run"
    assert main(["train", "--data", DATA, "--split", str(split), "--out", str(out), "--epochs", "1",
                 "--batch-size", "16", "--set", "warmup_epochs=1"]) == 0
    assert json.loads((out / "split.json").read_text())["unseen_classes"] == [4, 11]
    assert main(["train", "--data", DATA, "--split", "ntu60/split_1", "--out", str(tmp_path / "x")]) == 2
    assert "is for ntu60" in capsys.readouterr().err


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tmp_path):
    import torch

    common = ["--data", DATA, "--unseen", UNSEEN, "--batch-size", "16", "--set", "warmup_epochs=1"]
    assert main(["train", *common, "--out", str(tmp_path / "straight"), "--epochs", "2"]) == 0
    assert main(["train", *common, "--out", str(tmp_path / "resumed"), "--epochs", "1"]) == 0  # "killed" after 1
    assert main(["train", *common, "--out", str(tmp_path / "resumed"), "--epochs", "2"]) == 0
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key


def test_max_steps_stops_training_after_that_many_steps(tmp_path, capsys):
    import torch

    run = tmp_path / "budget"
    args = ["train", "--data", DATA, "--unseen", UNSEEN, "--out", str(run), "--epochs", "3", "--batch-size", "16",
            "--set", "warmup_epochs=1", "--set", "max_steps=2"]
    assert main(args) == 0
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [1]  # an epoch has more than two batches: only the first ran
    assert torch.load(run / "last.pt", weights_only=True)["epoch_done"] == 1
    capsys.readouterr()
    assert main(args) == 0
    assert "step budget" in capsys.readouterr().out
