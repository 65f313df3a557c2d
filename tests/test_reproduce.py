"""pgfa reproduce: plans resolve the paper's settings; a tiny run writes a complete report."""
import json

import pytest

from pgfa.cli.main import main
from pgfa.experiments.reproduce import execute, make_plan

DATA = "synthetic:samples_per_class=6,seed=0"


def test_paper_settings_resolve_to_the_spec_splits_and_hyperparameters():
    plan = make_plan("A", "prepared", dataset="ntu120", seeds=[0, 1, 2], num_classes=120)
    assert [n for n, _ in plan.splits] == ["ntu120/split_4", "ntu120/split_5", "ntu120/split_6"]
    assert plan.splits[0][1] == [3, 18, 26, 38, 41, 60, 87, 99, 102, 110]
    assert (plan.base.lr, plan.base.alpha, plan.base.backbone, plan.base.epochs) == (0.005, 0.4, "stgcn", 50)
    b = make_plan("B", "prepared", dataset="ntu60", num_classes=60)
    assert [n for n, _ in b.splits] == ["ntu60/55-5", "ntu60/48-12"] and b.base.backbone == "shiftgcn"
    shot = make_plan("one-shot", "prepared", dataset="pku", num_classes=51)
    assert shot.one_shot and shot.splits[0][1] == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]
    with pytest.raises(ValueError, match="60 classes"):
        make_plan("A", "prepared", dataset="ntu60", num_classes=51)
    with pytest.raises(ValueError, match="no splits"):
        make_plan("B", "prepared", dataset="pku")


def test_overrides_are_applied_and_listed():
    plan = make_plan("random", "x", unseen_count=3, n_splits=2, num_classes=26, overrides={"epochs": 2})
    assert plan.base.epochs == 2 and any("epochs=2" in note for note in plan.notes)
    assert [u for _, u in plan.splits] != [plan.splits[0][1]] * 2  # two different random splits


@pytest.fixture(scope="module")
def reproduction(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce") / "rep"
    code = main(["reproduce", "--data", DATA, "--unseen-count", "3", "--splits", "2", "--seeds", "0",
                 "--methods", "pgfa,two-stage", "--epochs", "1", "--batch-size", "16", "--set", "warmup_epochs=1",
                 "--out", str(out)])
    assert code == 0
    return out


def test_report_has_every_section(reproduction):
    report = (reproduction / "report.md").read_text()
    for section in ("## Setup", "## Unseen-class top-1", "## Every run", "## Generalized zero-shot",
                    "## Does the alignment's premise hold?", "## Pictures per run", "## Configuration"):
        assert section in report, section
    assert "seen-class validation" in report and "epochs=1" in report
    assert (reproduction / "summary.png").stat().st_size > 1000


def test_results_json_holds_every_run_with_its_selection(reproduction):
    results = json.loads((reproduction / "results.json").read_text())
    assert len(results["runs"]) == 4  # 2 methods x 2 splits x 1 seed
    assert {r["method"] for r in results["runs"]} == {"pgfa", "two-stage"}
    for r in results["runs"]:
        assert 0 <= r["top1"] <= 1 and r["last_top1"] is not None
        assert "seen-class validation" in r["selected_on"]
        assert (reproduction / r["run"] / "best.pt").is_file()
    s = results["summary"]["pgfa"]["all"]["top1"]
    assert s["n"] == 2


def test_running_again_reuses_runs_and_keeps_the_old_report(reproduction):
    best = reproduction / "runs" / "pgfa" / "random-0" / "seed0" / "best.pt"
    stamp = best.stat().st_mtime
    assert main(["reproduce", "--data", DATA, "--unseen-count", "3", "--splits", "2", "--seeds", "0",
                 "--methods", "pgfa,two-stage", "--epochs", "1", "--batch-size", "16", "--set", "warmup_epochs=1",
                 "--out", str(reproduction)]) == 0
    assert best.stat().st_mtime == stamp  # not retrained
    assert len(list(reproduction.glob("report.*.md"))) == 1


def test_one_shot_plan_reports_one_shot_figures(tmp_path):
    plan = make_plan("random", DATA, unseen_count=3, n_splits=1, num_classes=26,
                     overrides={"epochs": 1, "batch_size": 16, "warmup_epochs": 1})
    plan.one_shot = True
    results = execute(plan, tmp_path / "shot", progress=False, log=lambda *_: None)
    assert results["runs"][0]["one_shot"] is not None
    assert "## One-shot" in (tmp_path / "shot" / "report.md").read_text()


def test_reproduce_can_tune_each_runs_alignment_on_its_seen_classes(tmp_path):
    out = tmp_path / "tuned"
    assert main(["reproduce", "--data", DATA, "--unseen-count", "3", "--splits", "1", "--seeds", "0",
                 "--epochs", "1", "--batch-size", "16", "--set", "warmup_epochs=1", "--tune-alignment", "1",
                 "--out", str(out)]) == 0
    record = json.loads((out / "results.json").read_text())["runs"][0]
    selection = json.loads((out / record["run"] / "alignment_selection.json").read_text())
    assert record["tuned_alignment"] == {"alpha": selection["alpha"], "temperature": selection["temperature"]}
    assert 0 <= record["top1_aligned_tuned"] <= 1
    report = (out / "report.md").read_text()
    assert "aligned, tuned" in report and "development splits" in report


def test_reproduce_loads_its_data_with_the_final_frame_count(tmp_path, monkeypatch):
    """Issue 15 defect: --set frames=N trained on 50-frame data while config.yaml recorded N."""
    import pgfa.experiments.reproduce as reproduce

    seen = []
    real_train = reproduce.train

    def recording_train(config, folder, skeletons=None, **kwargs):
        seen.append((config.frames, skeletons.data.shape[2]))
        return real_train(config, folder, skeletons=skeletons, **kwargs)

    monkeypatch.setattr(reproduce, "train", recording_train)
    out = tmp_path / "frames"
    assert main(["reproduce", "--data", DATA, "--unseen-count", "3", "--splits", "1", "--seeds", "0",
                 "--epochs", "1", "--batch-size", "16", "--set", "warmup_epochs=1", "--set", "frames=20",
                 "--out", str(out)]) == 0
    assert seen == [(20, 20)]
    plan, skeletons = reproduce.plan_and_data("random", DATA, overrides={"frames": 12}, unseen_count=3, n_splits=1)
    assert plan.base.frames == 12 and skeletons.data.shape[2] == 12
