"""Feature files out (SynSE / SA-DVAE layout) and back in through ``--data features:DIR``.

A tiny run (6 classes, 16-frame random sequences, random 32-d class
embeddings given with ``text_features``, one epoch) is trained once; its
features are exported and checked against the model, then read back.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import pgfa
from pgfa.config import TrainConfig
from pgfa.data.features import FeatureDataError, FeatureSet, load_feature_folder
from pgfa.data.formats import load_skeletons
from pgfa.interop.export_features import export_features
from pgfa.interop.import_checkpoint import import_identity

UNSEEN = [1, 4]
FRAMES = 16


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from pgfa.training.loop import train

    root = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(0)
    data = root / "data"
    data.mkdir()
    for part, per_class in (("train", 4), ("test", 2)):
        labels = np.repeat(np.arange(6), per_class)
        x = rng.normal(0, 0.3, size=(len(labels), 3, FRAMES, 25, 2)).astype(np.float32)
        x += labels[:, None, None, None, None] * 0.1  # classes differ a little
        np.save(data / f"{part}_data.npy", x)
        np.save(data / f"{part}_label.npy", labels)
    text = root / "text.npy"
    np.save(text, rng.normal(size=(6, 32)).astype(np.float32))
    config = TrainConfig(data=str(data), unseen=UNSEEN, text_features=str(text), epochs=1, batch_size=8,
                         warmup_epochs=1, frames=FRAMES, device="cpu",
                         backbone_options={"channels": [8, 16], "strides": [1, 2]})  # a small ST-GCN, 16-d
    run = train(config, root / "run", progress=False, log=lambda m: None)
    exports = {layer: root / f"feats_{layer}" for layer in ("projection", "backbone")}
    manifests = {layer: export_features(run, out, layer=layer, device="cpu") for layer, out in exports.items()}
    return {"run": run, "root": root, "text": text, "exports": exports, "manifests": manifests}


def _copy(folder, tmp_path):
    import shutil

    return shutil.copytree(folder, tmp_path / folder.name)


def _split(run):
    return json.loads((run / "split.json").read_text())


@pytest.mark.parametrize("layer", ["projection", "backbone"])
def test_exported_files_hold_the_runs_features_with_global_labels(trained, layer):
    out, manifest = trained["exports"][layer], trained["manifests"][layer]
    split = _split(trained["run"])
    index = np.load(out / "sample_index.npz")
    assert sorted(index["train"].tolist()) == sorted(split["train"] + split["val"])
    assert index["ztest"].tolist() == split["unseen_test"]
    assert index["gtest"].tolist() == split["seen_test"] + split["unseen_test"]
    recognizer = pgfa.load(trained["run"], device="cpu")
    dim = 32 if layer == "projection" else recognizer.model.backbone.out_dim
    assert np.load(out / "train.npy").shape == (len(index["train"]), dim)
    assert np.load(out / "ztest.npy").shape == (4, dim) and np.load(out / "gtest.npy").shape == (12, dim)
    assert set(np.load(out / "train_label.npy").tolist()) == {0, 2, 3, 5}  # global ids of the seen classes
    assert set(np.load(out / "z_label.npy").tolist()) == set(UNSEEN)
    assert set(np.load(out / "g_label.npy").tolist()) == set(range(6))
    assert np.load(out / "unseen_classes.npy").tolist() == UNSEEN
    assert np.load(out / "label_splits" / "ru2.npy").tolist() == UNSEEN
    assert np.load(out / "label_splits" / "rs4.npy").tolist() == [0, 2, 3, 5]
    assert np.array_equal(np.load(out / "text_features.npy"), np.load(trained["text"]))

    x = load_skeletons(str(trained["root"] / "data")).data
    for name in ("train", "ztest", "gtest"):
        rows = x[index[name]]
        if layer == "projection":
            expected = recognizer.encode_skeletons(rows)
        else:
            with torch.no_grad():
                expected = recognizer.model.eval().features(torch.from_numpy(rows)).numpy()
        np.testing.assert_allclose(np.load(out / f"{name}.npy"), expected, atol=1e-5)

    with np.load(out / "features.npz") as npz:
        for key in npz.files:
            assert np.array_equal(npz[key], np.load(out / f"{key}.npy")), key
    saved = json.loads((out / "manifest.json").read_text())
    assert saved == manifest and saved["layer"] == layer and saved["normalised"] == (layer == "projection")
    assert saved["shapes"]["ztest"] == [4, dim] and "global 0-based class ids" in saved["label_convention"]
    assert len(saved["pgfa_val_rows"]) == len(split["val"])


def test_feature_folder_reads_back_and_npz_alone_is_enough(trained, tmp_path):
    synse, npz = trained["exports"]["backbone"], tmp_path / "npz"
    export_features(trained["run"], npz, layer="backbone", fmt="npz", device="cpu")
    assert not (npz / "train.npy").exists() and (npz / "features.npz").is_file()
    a, b = load_feature_folder(synse), load_feature_folder(npz)
    assert isinstance(load_skeletons(f"features:{synse}"), FeatureSet)
    assert np.array_equal(a.data, b.data) and np.array_equal(a.labels, b.labels)
    assert a.layout == f"features:{a.data.shape[1]}" == f"features:{np.load(synse / 'ztest.npy').shape[1]}" and a.fixed_unseen == tuple(UNSEEN)
    split = _split(trained["run"])
    n_train = len(split["train"]) + len(split["val"])
    assert len(a.subsets["train"]) == n_train and len(a.subsets["test"]) == 4 + 8  # ztest + seen part of gtest
    assert a.class_names == [line.split("\t")[0] for line in (trained["run"] / "classes.tsv").read_text().splitlines()]


def test_an_export_into_a_used_folder_is_refused(trained, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        export_features(trained["run"], tmp_path / "x", device="cpu")
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_feature_folder_with_an_unseen_class_in_training_is_refused(trained, tmp_path):
    out = _copy(trained["exports"]["backbone"], tmp_path)
    labels = np.load(out / "train_label.npy")
    labels[0] = UNSEEN[0]
    np.save(out / "train_label.npy", labels)
    with pytest.raises(FeatureDataError, match=r"train_label holds unseen classes \[1\]"):
        load_feature_folder(out)


def test_round_trip_with_an_identity_projection_gives_the_same_unseen_top1(trained, tmp_path):
    from pgfa.evaluation.evaluate import evaluate_run

    evaluate_run(trained["run"], device="cpu")
    source = json.loads((trained["run"] / "metrics.json").read_text())
    feats = trained["exports"]["projection"]
    run = import_identity(f"features:{feats}", feats / "text_features.npy", tmp_path / "identity", log=lambda m: None)
    evaluate_run(run, device="cpu")
    again = json.loads((run / "metrics.json").read_text())
    for key in ("zsl_top1", "zsl_top1_aligned", "zsl_top5", "zsl_top5_aligned", "n_test", "unseen_classes", "alpha",
                "per_class"):  # per class as well, so that equal totals from different predictions would fail
        assert again[key] == source[key], key
    assert "identity" in again["selected_on"]


def test_training_the_projection_on_exported_backbone_features(trained, tmp_path):
    from pgfa.evaluation.evaluate import evaluate_run
    from pgfa.training.loop import train

    feats = trained["exports"]["backbone"]
    config = TrainConfig(data=f"features:{feats}", unseen=UNSEEN, backbone="identity",
                         text_features=str(feats / "text_features.npy"), epochs=2, batch_size=8, warmup_epochs=1,
                         device="cpu")
    run = train(config, tmp_path / "proj", progress=False, log=lambda m: None)
    state = torch.load(run / "best.pt", weights_only=True)
    assert state["signature"]["layout"] == f"features:{np.load(feats / 'train.npy').shape[1]}" and set(state["model"]) == {"projection.weight",
                                                                                    "projection.bias"}
    evaluate_run(run, device="cpu")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] == 4 and metrics["gzsl"]["n_seen_test"] == 8


def test_a_skeleton_backbone_on_features_is_refused_with_a_hint(trained, tmp_path):
    from pgfa.training.loop import train

    feats = trained["exports"]["backbone"]
    config = TrainConfig(data=f"features:{feats}", unseen=UNSEEN, text_features=str(feats / "text_features.npy"),
                         epochs=1, device="cpu")
    with pytest.raises(ValueError, match="--backbone identity"):
        train(config, tmp_path / "bad", progress=False, log=lambda m: None)
