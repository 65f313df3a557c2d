"""benchmarks/small_data.py: issue 19's table reads finished and unfinished reproduce folders alike.

A reproduce folder gets its ``results.json`` only when every run is done; before that the table must
read the finished runs' own ``metrics.json`` and compare the methods only on the splits both finished.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _metrics(folder: Path, method: str, split: str, top1: float, paper: float, guarded: float) -> None:
    run = folder / "runs" / method / split / "seed0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({
        "zsl_top1": top1, "zsl_top1_aligned": paper,
        "zsl_top1_aligned_by_rule": {"paper": paper, "guarded": guarded}}))


@pytest.fixture
def unfinished(tmp_path) -> Path:
    """PGFA finished two splits, two-stage only the first: no results.json yet."""
    _metrics(tmp_path, "pgfa", "random-0", 0.50, 0.60, 0.55)
    _metrics(tmp_path, "pgfa", "random-1", 0.30, 0.20, 0.40)
    _metrics(tmp_path, "two-stage", "random-0", 0.40, 0.45, 0.45)
    return tmp_path


def test_unfinished_folder_is_read_from_each_runs_metrics(unfinished):
    from small_data import runs_of, values

    pgfa = runs_of(unfinished, "pgfa")
    assert [r["split"] for r in pgfa] == ["random-0", "random-1"]
    assert values(pgfa, "top1_aligned_guarded").tolist() == pytest.approx([55.0, 40.0])
    assert runs_of(unfinished, "two-stage")[0]["top1_aligned_paper"] == 0.45


def test_gaps_pair_methods_by_split_and_leave_unmatched_splits_out(unfinished):
    from small_data import paired_gap, runs_of

    pgfa, two_stage = runs_of(unfinished, "pgfa"), runs_of(unfinished, "two-stage")
    # only random-0 is shared: 50 - 40, not mean(50, 30) - 40
    assert paired_gap(pgfa, two_stage, "top1", "top1") == pytest.approx(10.0)
    # the guarded gain uses both of PGFA's splits: (5 + 10) / 2
    assert paired_gap(pgfa, pgfa, "top1_aligned_guarded", "top1") == pytest.approx(7.5)
    assert paired_gap(pgfa, [], "top1", "top1") is None


def test_finished_folder_is_read_from_results_json(tmp_path):
    from small_data import runs_of, targets

    records = [{"method": m, "split": "random-0", "top1": t, "top1_aligned": t,
                "top1_aligned_paper": t, "top1_aligned_guarded": t + 0.1} for m, t in (("pgfa", 0.6), ("two-stage", 0.3))]
    (tmp_path / "results.json").write_text(json.dumps({"runs": records}))
    assert len(runs_of(tmp_path, "pgfa")) == 1
    lines = targets({"utd_mhad": tmp_path})
    assert "utd_mhad +30.0" in lines[0] and "over 1 set(s)" in lines[0]
    assert "utd_mhad +10.0" in lines[-1]


def test_preset_against_paper_and_saved_records(unfinished, tmp_path):
    from small_data import preset_vs_paper, save_records

    paper = tmp_path / "paper"
    _metrics(paper, "pgfa", "random-1", 0.10, 0.10, 0.10)
    lines = preset_vs_paper({"msr": paper}, {"msr": unfinished})
    assert "msr +20.0" in lines[0] and "over 1 set(s)" in lines[0]  # PGFA, no alignment: 30 - 10 on random-1
    assert "msr n/a" in lines[3]  # two-stage: the paper folder has none
    save_records({"--preset small": {"msr": unfinished}}, tmp_path / "records.json")
    saved = json.loads((tmp_path / "records.json").read_text())
    assert [r["top1"] for r in saved["--preset small"]["msr"]["pgfa"]] == [0.50, 0.30]


def test_setting_gaps_label_the_pair_and_pair_by_split(unfinished, tmp_path):
    from small_data import setting_gaps

    shipped = tmp_path / "shipped"
    _metrics(shipped, "pgfa", "random-0", 0.70, 0.70, 0.70)
    _metrics(shipped, "pgfa", "random-3", 0.90, 0.90, 0.90)  # a split the other setting lacks: left out
    lines = setting_gaps({"nw": shipped}, {"nw": unfinished}, "shipped − loo")
    assert lines[0].startswith("- pgfa shipped − loo, none: nw +20.0")  # 70 - 50 on random-0 only
    assert lines[2].startswith("- pgfa shipped − loo, guarded rule: nw +15.0")
