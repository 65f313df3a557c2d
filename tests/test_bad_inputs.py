"""Bad inputs and misuses (issue 14): each is refused with one line naming the file, and changes nothing.

Every case runs the CLI in-process (``pgfa.cli.main.main``) except one that
checks the real ``python -m pgfa`` process. For each: the exit code, that
the message names the file and the problem, that no traceback is printed,
and that the user's files are byte-for-byte unchanged (sha256 before/after).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pgfa.cli.main import main
from pgfa.data.synthetic import generate

TINY = ["--epochs", "1", "--batch-size", "8", "--frames", "16", "--set", "warmup_epochs=1"]


# ----------------------------------------------------------------------------- helpers


def hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (and the folders), to show nothing changed."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def refused(argv: list[str], capsys, *expected: str) -> str:
    """Run the CLI; assert exit code 2, one error line naming every ``expected`` text, no traceback."""
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0], err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def write_pair(folder: Path, data: np.ndarray, labels: np.ndarray, names: list[str]) -> Path:
    """An ``x_data.npy`` / ``x_label.npy`` pair with its ``classes.txt``; returns the data file."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "x_data.npy", data)
    np.save(folder / "x_label.npy", labels)
    (folder / "classes.txt").write_text("".join(f"{n}\n" for n in names))
    return folder / "x_data.npy"


class Marker:
    """Unpickling this calls ``open(marker, "w")``: the file appears only if the pickle's code ran."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """User files: a small dataset as an .npy pair (``good``), and a trained run (``run``) on it."""
    root = tmp_path_factory.mktemp("user")
    s = generate(samples_per_class=4, seed=1, frames=16)
    names = [f"action {i}" for i in range(s.num_classes)]
    data = write_pair(root / "data", s.data, s.labels, names)
    run = tmp_path_factory.mktemp("runs") / "a"
    assert main(["train", "--data", str(data), "--unseen", "1,2", "--out", str(run), *TINY]) == 0
    return {"root": root, "data": data, "run": run, "set": s, "names": names}


def train_args(data, out, *extra) -> list[str]:
    return ["train", "--data", str(data), "--unseen", "1,2", "--out", str(out), *TINY, *extra]


# ----------------------------------------------------------------------------- pickles never run code


@pytest.mark.parametrize("command", ["train", "show", "predict"])
def test_a_pickle_that_would_run_code_is_refused(command, corpus, tmp_path, capsys):
    marker = tmp_path / "MARKER"
    evil = tmp_path / "clips.pkl"
    evil.write_bytes(pickle.dumps({"split": {}, "annotations": [Marker(marker)]}))
    argv = {"train": train_args(evil, tmp_path / "out"),
            "show": ["show", str(evil), "--out", str(tmp_path / "x.png")],
            "predict": ["predict", str(corpus["run"]), str(evil), "--classes", "walk,jump"]}[command]
    refused(argv, capsys, str(evil), "refused to unpickle", "could run code", "--trust-pickle")
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_trust_pickle_is_the_only_way_to_run_a_pickles_code(tmp_path, capsys):
    """The opt-in reaches the reader: with --trust-pickle plain pickle.load runs (and the marker appears)."""
    marker = tmp_path / "MARKER"
    evil = tmp_path / "clips.pkl"
    evil.write_bytes(pickle.dumps({"split": {}, "annotations": [Marker(marker)]}))
    refused(train_args(evil, tmp_path / "out", "--trust-pickle"), capsys, str(evil))  # not pyskl content
    assert marker.exists()


def test_the_real_process_prints_one_line_and_runs_no_code(tmp_path):
    marker = tmp_path / "MARKER"
    evil = tmp_path / "clips.pkl"
    evil.write_bytes(pickle.dumps([Marker(marker)]))
    proc = subprocess.run([sys.executable, "-m", "pgfa", "train", "--data", str(evil), "--unseen", "1",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and str(evil) in proc.stderr
    assert not marker.exists() and not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- --force deletes only pgfa's runs


def _user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("months of work\n")
    return folder


def _run_with_extra_file(tmp_path: Path, corpus) -> Path:
    run = tmp_path / "run-with-notes"
    shutil.copytree(corpus["run"], run)
    (run / "notes.md").write_text("my notes\n")
    return run


def test_force_refuses_a_folder_pgfa_did_not_write(corpus, tmp_path, capsys):
    folder = _user_folder(tmp_path)
    before = hashes(tmp_path)
    refused(train_args(corpus["data"], folder, "--force"), capsys, str(folder), "no config.yaml")
    assert hashes(tmp_path) == before


def test_force_refuses_a_run_folder_holding_a_users_file(corpus, tmp_path, capsys):
    run = _run_with_extra_file(tmp_path, corpus)
    before = hashes(tmp_path)
    refused(train_args(corpus["data"], run, "--force", "--seed", "3"), capsys, str(run / "notes.md"), "would be lost")
    assert hashes(tmp_path) == before


@pytest.mark.parametrize("where", ["is", "contains", "lies inside"])
def test_force_never_deletes_an_input(where, corpus, tmp_path, capsys):
    data_folder = tmp_path / "dataset"
    shutil.copytree(corpus["data"].parent, data_folder)
    data = data_folder / "x_data.npy"
    if where == "is":
        out, spec = data_folder, data_folder
    elif where == "contains":
        out, spec = tmp_path, data
    else:
        out, spec = data_folder / "old-run", data_folder
        shutil.copytree(corpus["run"], out)  # a real run folder, but inside the data
    before = hashes(tmp_path)
    refused(train_args(spec, out, "--force", "--seed", "4"), capsys, str(out), where, "the input")
    assert hashes(tmp_path) == before


def test_force_refuses_a_run_folder_that_is_the_class_file_folder(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(corpus["run"], run)
    classes = run / "classes.tsv"  # --classes pointing into the run it would replace
    before = hashes(tmp_path)
    refused(train_args(corpus["data"], run, "--force", "--classes", str(classes)), capsys, str(run), "contains")
    assert hashes(tmp_path) == before


def test_a_failed_force_run_leaves_the_old_run_intact(corpus, tmp_path, capsys, monkeypatch):
    from pgfa.training import loop

    run = tmp_path / "run"
    shutil.copytree(corpus["run"], run)
    before = hashes(run)

    def broken(session):
        raise ValueError("simulated failure before the first checkpoint")

    monkeypatch.setitem(loop.METHODS, "pgfa", loop.TrainingMethod(broken, multi_process=True))
    refused(train_args(corpus["data"], run, "--force", "--seed", "7"), capsys, "simulated failure")
    assert hashes(run) == before
    assert not list(tmp_path.glob(".run.replaced-*"))
    monkeypatch.undo()
    assert main(train_args(corpus["data"], run, "--force", "--seed", "7")) == 0  # a real replacement works
    assert "seed: 7" in (run / "config.yaml").read_text()
    assert not list(tmp_path.glob(".run.replaced-*"))


def test_a_replacement_killed_before_its_first_checkpoint_is_undone_on_the_next_run(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(corpus["run"], run)
    before = hashes(run)
    aside = tmp_path / f".run.replaced-{dead_pid()}"  # what a killed --force run leaves
    os.replace(run, aside)
    run.mkdir()
    shutil.copy(aside / "config.yaml", run / "config.yaml")  # the new run had only begun
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("seed: 0", "seed: 9"))
    capsys.readouterr()
    assert main(train_args(corpus["data"], run)) == 0  # the original command: resumes the old run
    assert f"restored {run}" in capsys.readouterr().out
    assert hashes(run) == before
    assert not aside.exists()


# ----------------------------------------------------------------------------- bad labels in every reader


def _pyskl(path: Path, labels: list) -> Path:
    rng = np.random.default_rng(0)
    annotations = [{"frame_dir": f"clip{i}", "label": label, "total_frames": 16,
                    "keypoint": rng.normal(size=(1, 16, 25, 3)).astype(np.float32)} for i, label in enumerate(labels)]
    path.write_bytes(pickle.dumps({"split": {"train": [a["frame_dir"] for a in annotations]},
                                   "annotations": annotations}))
    return path


def _npz(path: Path, y_train: np.ndarray) -> Path:
    x = np.random.default_rng(0).normal(size=(len(y_train), 16, 150)).astype(np.float32)
    np.savez(path, x_train=x, y_train=y_train, x_test=x, y_test=np.arange(len(y_train)) % 3)
    return path


@pytest.mark.parametrize("kind,label,problem", [
    ("pkl", -1, "negative label -1"), ("pkl", 1.5, "not an integer"), ("pkl", "two", "must be an integer"),
    ("npz", -1, "negative label -1"), ("npz", 2.5, "not an integer"),
    ("npy", -1, "negative label -1"), ("npy", 0.5, "not an integer"), ("npy", 999, "out of range"),
])
def test_a_bad_label_is_refused_naming_file_and_record(kind, label, problem, corpus, tmp_path, capsys):
    if kind == "pkl":
        spec = _pyskl(tmp_path / "clips.pkl", [0, 1, 2, 0, 1, label])
        where, record = spec, "clip5"
    elif kind == "npz":
        spec = _npz(tmp_path / "clips.npz", np.array([0, 1, 2, 0, 1, label]))
        where, record = spec, "y_train[5]"
    else:
        s = corpus["set"]
        labels = s.labels.astype(np.float64 if isinstance(label, float) else np.int64)
        labels[3] = label
        spec = write_pair(tmp_path / "d", s.data, labels, corpus["names"])
        where, record = tmp_path / "d" / "x_label.npy", "sample 3"
    before = hashes(tmp_path)
    refused(train_args(spec, tmp_path / "out"), capsys, str(where), record, problem)
    assert hashes(tmp_path) == before and not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- bad settings


@pytest.mark.parametrize("extra,named", [
    (["--set", "epochs=abc"], "--set epochs=abc"), (["--epochs", "0"], "--epochs 0"),
    (["--alpha", "-0.5"], "--alpha -0.5"), (["--set", "lr=nan"], "lr"),
])
def test_a_bad_setting_is_refused_before_anything_is_written(extra, named, corpus, tmp_path, capsys):
    out = tmp_path / "out"
    refused(train_args(corpus["data"], out, *extra), capsys, named)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_device_cuda_without_cuda_is_one_line(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    refused(train_args(corpus["data"], out, "--device", "cuda"), capsys, "cuda")
    assert not out.exists()


# ----------------------------------------------------------------------------- checkpoints know their run


@pytest.fixture(scope="module")
def other_runs(corpus, tmp_path_factory):
    """Runs on the same data with other unseen classes and another backbone."""
    root = tmp_path_factory.mktemp("other")
    unseen = root / "unseen"
    assert main(["train", "--data", str(corpus["data"]), "--unseen", "3,4", "--out", str(unseen), *TINY]) == 0
    backbone = root / "backbone"
    assert main([*train_args(corpus["data"], backbone), "--backbone", "shiftgcn"]) == 0
    return {"unseen": unseen, "backbone": backbone}


def test_evaluate_refuses_a_checkpoint_from_a_run_with_other_unseen_classes(corpus, other_runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(corpus["run"], run)
    shutil.copy(other_runs["unseen"] / "best.pt", run / "best.pt")
    before = hashes(run)
    refused(["evaluate", str(run)], capsys, str(run / "best.pt"), "unseen: checkpoint [3, 4], config [1, 2]")
    refused(["predict", str(run), str(corpus["data"]), "--classes", "walk,jump"], capsys, "unseen")
    assert hashes(run) == before


def test_predict_and_load_refuse_a_checkpoint_of_another_backbone(corpus, other_runs, tmp_path, capsys):
    import pgfa
    from pgfa.run import CheckpointError

    run = tmp_path / "run"
    shutil.copytree(corpus["run"], run)
    shutil.copy(other_runs["backbone"] / "best.pt", run / "best.pt")
    refused(["predict", str(run), str(corpus["data"]), "--classes", "walk,jump"], capsys,
            str(run / "best.pt"), "backbone: checkpoint 'shiftgcn', config 'stgcn'")
    with pytest.raises(CheckpointError, match="backbone"):
        pgfa.load(run, device="cpu")


def test_a_checkpoint_written_before_the_identity_keys_still_loads(corpus, tmp_path, capsys):
    from pgfa.run import IDENTITY_KEYS

    run = tmp_path / "run"
    shutil.copytree(corpus["run"], run)
    for name in ("best.pt", "last.pt"):
        state = torch.load(run / name, weights_only=True)
        assert set(IDENTITY_KEYS) <= set(state["signature"])  # new checkpoints carry them
        state["signature"] = {k: v for k, v in state["signature"].items() if k not in IDENTITY_KEYS + ("data",)}
        torch.save(state, run / name)
    assert main(["evaluate", str(run), "--device", "cpu"]) == 0


def test_a_changed_class_file_is_noticed(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(corpus["run"], run)
    text = (run / "classes.tsv").read_text()
    (run / "classes.tsv").write_text(text.replace("action 1", "action one"))
    refused(["evaluate", str(run)], capsys, "classes_sha256")


# ----------------------------------------------------------------------------- leftovers and permissions


def test_stale_tmp_checkpoints_of_a_killed_run_are_removed(corpus, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(corpus["run"], run)
    stale = run / f".last.pt.{dead_pid()}.k1ll3d.tmp.pt"
    live = run / f".best.pt.{os.getppid()}.wr1t1n.tmp.pt"  # a writer that still runs: kept
    stale.write_bytes(b"half a checkpoint")
    live.write_bytes(b"being written")
    assert main(train_args(corpus["data"], run)) == 0  # the same command: nothing left to train
    assert not stale.exists()
    assert live.exists()


def test_kept_metrics_never_overwrite_each_other_within_one_second(tmp_path):
    from pgfa.io import keep_previous

    path = tmp_path / "metrics.json"
    for i in range(4):
        path.write_text(f'{{"evaluation": {i}}}\n')
        os.utime(path, (1_700_000_000, 1_700_000_000))  # every one "in the same second"
        keep_previous(path)
    kept = sorted(p.read_text() for p in tmp_path.glob("metrics.*.json"))
    assert kept == [f'{{"evaluation": {i}}}\n' for i in range(4)]


def test_two_evaluations_in_a_row_keep_both_earlier_results(corpus, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(corpus["run"], run)
    for _ in range(3):
        assert main(["evaluate", str(run), "--no-align"]) == 0
    assert len(list(run.glob("metrics.*.json"))) == 2


def test_outputs_get_the_usual_permissions(corpus, tmp_path):
    from pgfa.data import prepare

    old = os.umask(0o022)
    try:
        run = tmp_path / "run"
        assert main(train_args(corpus["data"], run)) == 0
        raw = tmp_path / "raw"
        raw.mkdir()
        joints = " ".join(["0.1 0.2 3.0 1 2 3 4 0 0 0 1 2"])
        body = ["72057594037930 0 1 1 1 1 0 0.1 0.2 2", "25"] + [joints.replace("0.1", f"{0.1 + j / 50:.3f}")
                                                                for j in range(25)]
        for a in (1, 2):
            (raw / f"S001C001P001R001A00{a}.skeleton").write_text("\n".join(["2"] + (["1"] + body) * 2) + "\n")
        prepare.prepare_ntu(raw, tmp_path / "prepared", workers=1, frames=8, progress=False)
    finally:
        os.umask(old)
    for folder in (run, tmp_path / "prepared"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder
        for f in folder.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
