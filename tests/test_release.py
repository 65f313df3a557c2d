"""The PGFA release in: its split folders, class-embedding files and checkpoints.

Everything is built here, small: a ``data/zeroshot/ntu60/split_1`` folder of
random sequences, a random ``(60, 768)`` embedding file, and a checkpoint in
the reference format (key names and shapes of
``shared/reference/pgfa_release_checkpoint_keys.tsv``) made from a pgfa
ST-GCN with its keys renamed by this test's own rule.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import pgfa
from pgfa.data.formats import load_skeletons
from pgfa.data.release import ReleaseError, check_fixed_unseen, data_fixed_unseen, load_release_folder, \
    release_split_folder
from pgfa.interop.import_checkpoint import CheckpointImportError, import_checkpoint
from pgfa.models.model import build_model

KEYS_TSV = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pgfa_release_checkpoint_keys.tsv"
SPLIT_1 = [4, 19, 31, 47, 51]
SEEN = [0, 1, 2, 3]
FRAMES = 16


def _write_split(root: Path, unseen=SPLIT_1, seen=SEEN, per_class=3, seed=0, name="split_1") -> Path:
    rng = np.random.default_rng(seed)
    folder = root / "data" / "zeroshot" / "ntu60" / name
    folder.mkdir(parents=True)
    for prefix, classes in (("seen_train", seen), ("unseen", unseen)):
        labels = np.repeat(np.asarray(classes, dtype=np.int64), per_class)
        data = rng.normal(0, 0.3, size=(len(labels), 3, FRAMES, 25, 2)).astype(np.float32)
        data[..., 1] = 0  # a missing second body, as in the real files
        np.save(folder / f"{prefix}_data.npy", data)
        np.save(folder / f"{prefix}_label.npy", labels)
    return folder


@pytest.fixture
def release(tmp_path) -> dict:
    folder = _write_split(tmp_path)
    text = tmp_path / "data" / "language" / "ntu60_des_embeddings.npy"
    text.parent.mkdir(parents=True)
    np.save(text, np.random.default_rng(1).normal(size=(60, 768)).astype(np.float32))
    return {"folder": folder, "text": text, "root": tmp_path}


def _to_reference(state: dict) -> dict:
    """pgfa ZeroShotModel state dict -> ``{'encoder': ..., 'adapter': ...}`` with the reference's names."""
    encoder, adapter = {}, {}
    for key, value in state.items():
        if key.startswith("projection."):
            adapter["adapter." + key.removeprefix("projection.")] = value.clone()
            continue
        key = key.removeprefix("backbone.")
        edge = re.fullmatch(r"blocks\.(\d+)\.edge_importance", key)
        if edge:
            key = f"edge_importance.{edge.group(1)}"
        else:
            key = re.sub(r"^blocks\.", "st_gcn_networks.", key)
        encoder[key] = value.clone()
    return {"encoder": encoder, "adapter": adapter}


def _trained_looking_model(seed: int = 0):
    """A pgfa ST-GCN + projection whose BatchNorm statistics and edge masks are not at their defaults."""
    torch.manual_seed(seed)
    model = build_model("stgcn", "ntu25", text_dim=768)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 2.0)
            elif name.endswith("running_mean") or name.endswith("edge_importance"):
                tensor.add_(torch.rand_like(tensor) * 0.2)
    return model.eval()


def test_reference_format_of_this_test_matches_the_release_key_list():
    """The test's reference checkpoint has exactly the keys and shapes the reference code saves."""
    if not KEYS_TSV.is_file():
        pytest.skip(f"{KEYS_TSV} not found (it lives beside the checkout)")
    rows = [line.split("\t") for line in KEYS_TSV.read_text().splitlines() if line and not line.startswith("#")]
    expected = {(part, key): shape for part, key, shape, _ in rows[1:]}
    reference = _to_reference(build_model("stgcn", "ntu25", text_dim=768).state_dict())
    found = {(part, key): str(tuple(v.shape)) for part, sd in reference.items() for key, v in sd.items()}
    assert found == expected


def test_release_folder_reads_with_global_class_ids(release):
    s = load_release_folder(release["folder"])
    assert s.data.shape == (27, 3, FRAMES, 25, 2)
    assert s.fixed_unseen == tuple(SPLIT_1) and s.split_name == "ntu60/split_1"
    assert sorted(set(s.labels[s.subsets["train"]].tolist())) == SEEN
    assert sorted(set(s.labels[s.subsets["test"]].tolist())) == SPLIT_1
    assert s.class_names[0] == "drink water" and len(s.class_names) == 60
    assert isinstance(load_skeletons(release["folder"]), type(s))  # --data dispatch
    assert data_fixed_unseen(str(release["folder"])) == SPLIT_1
    zeroshot = release["root"] / "data" / "zeroshot"
    assert release_split_folder(zeroshot, "ntu60/split_1") == release["folder"]
    assert release_split_folder(zeroshot / "ntu60", "ntu60/split_1") == release["folder"]
    assert release_split_folder(zeroshot, "ntu60/split_2") is None


def test_smie_seen_test_files_join_the_test_side_and_give_seen_test_samples(release):
    """SMIE's split.py also writes seen_test_*; when present they become the run's seen-class test samples."""
    from pgfa.data.splits import make_zero_shot_split

    folder = release["folder"]
    labels = np.repeat(np.asarray(SEEN, dtype=np.int64), 2)
    np.save(folder / "seen_test_data.npy", np.zeros((len(labels), 3, FRAMES, 25, 2), dtype=np.float32))
    np.save(folder / "seen_test_label.npy", labels)
    s = load_release_folder(folder)
    assert s.data.shape[0] == 27 + 8 and s.labels[-8:].tolist() == labels.tolist()
    split = make_zero_shot_split(s, SPLIT_1)
    assert len(split.seen_test) == 8 and set(s.labels[split.seen_test].tolist()) == set(SEEN)
    assert len(split.unseen_test) == 15 and not set(split.train) & set(split.seen_test)
    (folder / "seen_test_label.npy").unlink()
    with pytest.raises(ReleaseError, match="seen_test_data.npy has no seen_test_label.npy beside it"):
        load_release_folder(folder)
    np.save(folder / "seen_test_label.npy", np.asarray([0, 1, 2, 3, 4, 0, 1, 2]))  # 4 is unseen in split_1
    with pytest.raises(ReleaseError, match="seen_test_label.npy: seen-class labels include unseen classes \\[4\\]"):
        load_release_folder(folder)


def test_release_folder_with_other_unseen_classes_is_refused_naming_both(tmp_path):
    folder = _write_split(tmp_path, unseen=[5, 19, 31, 47, 51])
    with pytest.raises(ReleaseError, match=r"\[5, 19, 31, 47, 51\].*split_1 \[4, 19, 31, 47, 51\]"):
        load_release_folder(folder)


def test_release_folder_whose_training_side_holds_an_unseen_class_is_refused(tmp_path):
    folder = _write_split(tmp_path, seen=[0, 1, 4])
    with pytest.raises(ReleaseError, match="seen-class labels include unseen classes"):
        load_release_folder(folder)


def test_a_run_asking_for_other_unseen_classes_is_refused(release):
    s = load_release_folder(release["folder"])
    check_fixed_unseen(s, SPLIT_1)
    with pytest.raises(ReleaseError, match=r"fixes the unseen classes \[4, 19, 31, 47, 51\].*\[12, 29, 32, 44, 59\]"):
        check_fixed_unseen(s, [12, 29, 32, 44, 59])


def test_import_round_trip_gives_the_reference_features(release, tmp_path):
    model = _trained_looking_model()
    reference = _to_reference(model.state_dict())
    reference["encoder"] = {("module." + k if i % 2 else k): v for i, (k, v) in enumerate(reference["encoder"].items())}
    ckpt = tmp_path / "split_1.pt"
    torch.save(reference, ckpt)
    run = import_checkpoint(ckpt, str(release["folder"]), release["text"], tmp_path / "run", split="ntu60/split_1",
                            log=lambda m: None)
    x = load_release_folder(release["folder"]).data[:6]
    with torch.no_grad():
        expected = torch.nn.functional.normalize(model(torch.from_numpy(x)), dim=-1).numpy()
    got = pgfa.load(run, device="cpu").encode_skeletons(x)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    record = json.loads((run / "imported.json").read_text())
    assert record["keys_imported"] == 179 and record["graph_A_max_abs_diff_to_pgfa"] == 0.0
    assert len(record["checkpoint"]["sha256"]) == 64
    source = json.loads((run / "text_features_source.json").read_text())
    assert source["sha256"] == record["text_features"]["sha256"]
    assert json.loads((run / "split.json").read_text())["unseen_classes"] == SPLIT_1


def test_imported_run_evaluates_and_says_who_chose_the_checkpoint(release, tmp_path):
    from pgfa.evaluation.evaluate import evaluate_run

    ckpt = tmp_path / "split_1.pt"
    torch.save(_to_reference(_trained_looking_model().state_dict()), ckpt)
    run = import_checkpoint(ckpt, str(release["folder"]), release["text"], tmp_path / "run", log=lambda m: None)
    evaluate_run(run, device="cpu")
    metrics = json.loads((run / "metrics.json").read_text())
    assert "chosen by the checkpoint's authors" in metrics["selected_on"]
    assert "unseen test classes" in metrics["selected_on"]
    assert metrics["n_test"] == 15 and metrics["unseen_classes"] == SPLIT_1
    assert metrics["zsl_top1_aligned"] is not None and metrics["alpha"] == 0.9  # ntu60's support factor


@pytest.mark.parametrize("damage, message", [
    (lambda r: r["encoder"].pop("edge_importance.3"), "does not fill: backbone.blocks.3.edge_importance"),
    (lambda r: r["encoder"].__setitem__("st_gcn_networks.10.gcn.conv.weight", torch.zeros(1)),
     "no place in pgfa's model: encoder.st_gcn_networks.10.gcn.conv.weight"),
    (lambda r: r["adapter"].__setitem__("adapter.weight", torch.zeros(768, 128)),
     r"shape mismatches: adapter.adapter.weight \(768, 128\) -> projection.weight \(768, 256\)"),
])
def test_a_checkpoint_that_does_not_fit_is_refused_and_nothing_is_written(release, tmp_path, damage, message):
    reference = _to_reference(build_model("stgcn", "ntu25", text_dim=768).state_dict())
    damage(reference)
    ckpt = tmp_path / "bad.pt"
    torch.save(reference, ckpt)
    with pytest.raises(CheckpointImportError, match=message):
        import_checkpoint(ckpt, str(release["folder"]), release["text"], tmp_path / "run", log=lambda m: None)
    assert not (tmp_path / "run").exists()


def test_text_features_that_do_not_fit_the_data_are_refused(release, tmp_path):
    ckpt = tmp_path / "ok.pt"
    torch.save(_to_reference(build_model("stgcn", "ntu25", text_dim=768).state_dict()), ckpt)
    short = tmp_path / "short.npy"
    np.save(short, np.ones((59, 768), dtype=np.float32))
    with pytest.raises(ValueError, match="59 class embeddings, but the data has 60 classes"):
        import_checkpoint(ckpt, str(release["folder"]), short, tmp_path / "run", log=lambda m: None)
    narrow = tmp_path / "narrow.npy"
    np.save(narrow, np.ones((60, 384), dtype=np.float32))
    with pytest.raises(CheckpointImportError, match="maps to 768-d.*384-d"):
        import_checkpoint(ckpt, str(release["folder"]), narrow, tmp_path / "run", log=lambda m: None)


def test_a_non_reference_file_is_refused(tmp_path, release):
    ckpt = tmp_path / "other.pt"
    torch.save({"model": {}, "signature": {}}, ckpt)
    with pytest.raises(CheckpointImportError, match="expected the reference format"):
        import_checkpoint(ckpt, str(release["folder"]), release["text"], tmp_path / "run", log=lambda m: None)


def test_training_on_a_release_folder_from_the_command_line(release, tmp_path, capsys):
    """``pgfa train --data .../split_1 --text-features ...`` needs no --unseen: the folder fixes the split."""
    from pgfa.cli.main import main

    run = tmp_path / "run"
    assert main(["train", "--data", str(release["folder"]), "--text-features", str(release["text"]), "--out", str(run),
                 "--epochs", "1", "--batch-size", "6", "--device", "cpu", "--set", "warmup_epochs=1"]) == 0
    split = json.loads((run / "split.json").read_text())
    assert split["unseen_classes"] == SPLIT_1 and split["sample_split"] == "official"
    assert split["counts"]["unseen_test"] == 15 and split["counts"]["seen_test"] == 0  # the release has no seen test
    assert np.array_equal(np.load(run / "text_features.npy"), np.load(release["text"]))
    assert json.loads((run / "text_features_source.json").read_text())["path"] == str(release["text"].resolve())
    assert main(["train", "--data", str(release["folder"]), "--text-features", str(release["text"]),
                 "--out", str(tmp_path / "other"), "--split", "ntu60/split_2", "--epochs", "1"]) == 2
    assert "fixes the unseen classes [4, 19, 31, 47, 51]" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()


def test_import_evaluate_export_from_the_command_line(release, tmp_path, capsys):
    from pgfa.cli.main import main

    ckpt = tmp_path / "split_1.pt"
    torch.save(_to_reference(_trained_looking_model().state_dict()), ckpt)
    run, feats, again = tmp_path / "run", tmp_path / "feats", tmp_path / "again"
    assert main(["import-checkpoint", str(ckpt), "--data", str(release["folder"]), "--split", "ntu60/split_1",
                 "--text-features", str(release["text"]), "--out", str(run)]) == 0
    assert main(["evaluate", str(run), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "chosen by the checkpoint's authors" in printed
    assert main(["export-features", str(run), "--out", str(feats), "--layer", "projection", "--device", "cpu"]) == 0
    assert "no gtest.npy" in capsys.readouterr().out
    assert main(["import-checkpoint", "--identity", "--data", f"features:{feats}", "--text-features",
                 str(feats / "text_features.npy"), "--out", str(again)]) == 0
    assert main(["evaluate", str(again), "--device", "cpu"]) == 0
    first = json.loads((run / "metrics.json").read_text())
    second = json.loads((again / "metrics.json").read_text())
    assert (second["zsl_top1"], second["zsl_top1_aligned"]) == (first["zsl_top1"], first["zsl_top1_aligned"])


def test_reproduce_on_a_release_tree_trains_each_split_on_its_own_folder(tmp_path, capsys):
    """``pgfa reproduce --setting A --dataset ntu60 --data data/zeroshot``: split_k's runs read split_k's folder."""
    from pgfa.cli.main import main
    from pgfa.data.split_registry import NAMED_SPLITS

    names = ["split_1", "split_2", "split_3"]
    unseen = {n: sorted(NAMED_SPLITS[f"ntu60/{n}"]) for n in names}
    seen = [c for c in range(60) if not any(c in u for u in unseen.values())][:3]
    for i, name in enumerate(names):
        _write_split(tmp_path, unseen=unseen[name], seen=seen, per_class=2, seed=i, name=name)
    text = tmp_path / "text.npy"
    np.save(text, np.random.default_rng(1).normal(size=(60, 16)).astype(np.float32))
    root, out = tmp_path / "data" / "zeroshot", tmp_path / "repro"
    code = main(["reproduce", "--setting", "A", "--dataset", "ntu60", "--data", str(root), "--seeds", "0",
                 "--epochs", "1", "--batch-size", "4", "--out", str(out),
                 "--set", "warmup_epochs=1", f"text_features={text}", "device=cpu", f"frames={FRAMES}"])
    assert code == 0, capsys.readouterr().err
    for name in names:
        run = out / "runs" / "pgfa" / f"ntu60_{name}" / "seed0"
        config = yaml.safe_load((run / "config.yaml").read_text())
        assert Path(config["data"]) == (root / "ntu60" / name).resolve()
        assert json.loads((run / "split.json").read_text())["unseen_classes"] == unseen[name]
    assert "release's own folder of each split" in (out / "report.md").read_text()


def test_reproduce_on_a_release_tree_missing_a_split_names_it_before_training(tmp_path, capsys):
    from pgfa.cli.main import main

    _write_split(tmp_path)  # split_1 only
    out = tmp_path / "repro"
    assert main(["reproduce", "--setting", "A", "--dataset", "ntu60", "--data", str(tmp_path / "data" / "zeroshot"),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "ntu60/split_2, ntu60/split_3" in err and "missing" in err
    assert not out.exists()


def _readme_release_commands() -> list[str]:
    """The commands of README's "Starting from the PGFA release" block, in order."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Starting from the PGFA release", 1)[1]
    block = section.split("```", 2)[1]
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_readme_release_commands_work_as_written_and_give_a_table(tmp_path, monkeypatch, capsys):
    """README's three commands, run verbatim on a fake unzipped release of two NTU-60 splits."""
    import shlex

    from pgfa.cli.main import main

    _write_split(tmp_path)
    _write_split(tmp_path, unseen=[12, 29, 32, 44, 59], seed=1, name="split_2")
    (tmp_path / "data" / "language").mkdir()
    np.save(tmp_path / "data" / "language" / "ntu60_des_embeddings.npy",
            np.random.default_rng(1).normal(size=(60, 768)).astype(np.float32))
    (tmp_path / "ckpts" / "inner").mkdir(parents=True)  # wherever unzip puts them: found by name below ckpts
    torch.save(_to_reference(_trained_looking_model(0).state_dict()),
               tmp_path / "ckpts" / "split_1_kl_DA_des_support_factor0.9_lr0.05.pt")
    torch.save(_to_reference(_trained_looking_model(1).state_dict()),
               tmp_path / "ckpts" / "inner" / "split_2_kl_DA_des_support_factor0.9_lr0.05.pt")
    monkeypatch.chdir(tmp_path)
    unzip, imported, show = _readme_release_commands()
    assert unzip.startswith("unzip") and show == "cat runs/release/table.md"
    assert main(shlex.split(imported)[1:]) == 0
    printed = capsys.readouterr().out
    table = Path("runs/release/table.md").read_text()
    assert table in printed
    rows = [line for line in table.splitlines() if line.startswith("| ntu60/")]
    assert [r.split("|")[1].strip() for r in rows] == ["ntu60/split_1", "ntu60/split_2"]
    assert all("| 15 |" in r and r.count("%") == 2 and "(0.9)" in r for r in rows)
    assert "chosen by the checkpoint's authors" in table and "unseen test classes" in table
    metrics = json.loads(Path("runs/release/ntu60-split_2/metrics.json").read_text())
    assert metrics["unseen_classes"] == [12, 29, 32, 44, 59] and "authors" in metrics["selected_on"]
    assert main(["evaluate", "runs/release/ntu60-split_1", "--device", "cpu"]) == 0
    assert "checkpoint chosen on: chosen by the checkpoint's authors" in capsys.readouterr().out


def test_release_import_refuses_a_checkpoint_named_for_no_split_before_writing(release, tmp_path, capsys):
    from pgfa.cli.main import main

    ckpts = tmp_path / "ckpts"
    ckpts.mkdir()
    torch.save(_to_reference(_trained_looking_model().state_dict()), ckpts / "split_1.pt")
    torch.save(_to_reference(_trained_looking_model().state_dict()), ckpts / "best_model.pt")
    zeroshot = release["root"] / "data" / "zeroshot"
    assert main(["import-checkpoint", str(ckpts), "--data", str(zeroshot), "--text-features",
                 str(release["text"].parent), "--out", str(tmp_path / "runs")]) == 2
    assert "best_model.pt: cannot tell its split from the file name" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    (ckpts / "best_model.pt").rename(ckpts / "split_2_x.pt")  # split_2's folder is not in this tree
    assert main(["import-checkpoint", str(ckpts), "--data", str(zeroshot), "--text-features",
                 str(release["text"].parent), "--out", str(tmp_path / "runs")]) == 2
    assert "is for ntu60/split_2, but" in capsys.readouterr().err and not (tmp_path / "runs").exists()
