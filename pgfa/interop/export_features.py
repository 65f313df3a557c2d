"""Write a trained run's skeleton features in the layout feature-based zero-shot methods load.

SynSE (``synse/data_cnn60.py``) and SA-DVAE (``data_cnn60.py``,
``NTUDataLoaders.create_datasets``) read a folder of::

    train.npy / train_label.npy    seen-class training features and labels
    ztest.npy / z_label.npy        unseen-class test features (zero-shot)
    gtest.npy / g_label.npy        generalised test: seen and unseen test features

with *global* class ids as labels (SA-DVAE's ``train.py`` indexes the table of
all class embeddings with the training labels, ``text_emb[target]``, and
scores zero-shot as ``unseen_inds[pred] == target``), and the class split
from ``label_splits/r{u,s}<n>.npy`` (SA-DVAE: ``{st}u{ss}.npy`` unseen,
``{st}s{num_classes - ss}.npy`` seen, ``st = "r"``). TDSM
(KAIST-VICLab/TDSM ``feeders/feeder.py``, ``FeatureFeeder``) reads only
``train.npy``/``train_label.npy`` and ``ztest.npy``/``z_label.npy`` and the
unseen list ``label_splits/<dataset>/ru<n>.npy``; its ``train.py`` indexes
its text table with the global labels and maps test labels through that list.
Features must be float32 ``(N, D)`` (the methods feed them straight into
float32 layers; D = 256 matches their ``--ve shift``/``stgcn`` and TDSM's
``in_channels``).

What this module writes into ``DIR`` (``--format synse``, the default):

=========================  ====================================================
``train.npy``              ``(N_s, D)`` all seen-class training samples (pgfa's
                           seen validation samples included, as these methods
                           train on the whole seen-train side; ``manifest.json``
                           lists which rows pgfa held out)
``train_label.npy``        ``(N_s,)`` int64 global class ids
``ztest.npy``/``z_label``  unseen test samples, in pgfa's ``split.unseen_test`` order
``gtest.npy``/``g_label``  seen test then unseen test samples; only when the data
                           has seen-class test samples (a release folder has none)
``seen_classes.npy``       sorted global ids; ``unseen_classes.npy`` likewise
``label_splits/ru<n>.npy`` the same lists under SA-DVAE's names (``rs<K-n>.npy``)
``text_features.npy``      ``(K, D_text)`` the run's class embeddings, class-id order
``classes.tsv``            the run's class names and descriptions
``features.npz``           all of the above arrays under the same names
``manifest.json``          run, checkpoint, split, layer, shapes, conventions
=========================  ====================================================

``--format npz`` writes only ``features.npz``, ``classes.tsv`` and the manifest.

Layers: ``backbone`` is the backbone's pooled output (``ZeroShotModel.features``,
e.g. 256-d for ST-GCN), un-normalised, which is what those methods take from
their own skeleton encoders; ``projection`` is the projected, unit-length
feature in the text space, equal to ``pgfa.load(RUN).encode_skeletons``.
``pgfa train --data features:DIR`` (:mod:`pgfa.data.features`) reads either
back.
"""
from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import numpy as np

import pgfa
from pgfa.data.features import NPZ_NAME
from pgfa.io import atomic_write, write_json, write_npy
from pgfa.run import BEST, CLASSES_FILE, load_run_model
from pgfa.scoring import encode, unit

LAYERS = ("backbone", "projection")
FORMATS = ("synse", "npz")
LABEL_CONVENTION = ("labels are global 0-based class ids (the row of text_features.npy), in every *_label.npy; "
                    "not positions among the seen or unseen classes")


def _sample_sets(split) -> dict[str, np.ndarray]:
    """Row indices (into the run's data) of ``train``, ``ztest`` and, when there is one, ``gtest``."""
    sets = {"train": np.sort(np.concatenate([split.train, split.val])).astype(np.int64),
            "ztest": np.asarray(split.unseen_test, dtype=np.int64)}
    if len(split.seen_test):
        sets["gtest"] = np.concatenate([split.seen_test, split.unseen_test]).astype(np.int64)
    return sets


def _features(model, data: np.ndarray, indices: np.ndarray, layer: str, device) -> np.ndarray:
    if layer == "backbone":
        return encode(model.backbone, data, indices, device).reshape(len(indices), -1).numpy()
    return unit(encode(model, data, indices, device)).reshape(len(indices), -1).numpy()


def _prepare(out: Path, force: bool, dry: bool = False) -> None:
    """Refuse a non-empty ``out`` unless ``force`` (then empty it, unless ``dry``); create it."""
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} exists and is not empty; choose another --out or pass --force")
        if dry:
            return
        shutil.rmtree(out)
    if dry:
        return
    out.mkdir(parents=True, exist_ok=True)


def export_arrays(run: str | Path, layer: str = "backbone", checkpoint: str = BEST, device: str = "auto"):
    """``(arrays, context)``: every array of an export, by file stem, and what the manifest needs."""
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {', '.join(LAYERS)}, got {layer!r}")
    config, inputs, state, model, dev = load_run_model(run, checkpoint, device)
    split, data, labels = inputs.split, inputs.skeletons.data, inputs.skeletons.labels
    sets = _sample_sets(split)
    arrays: dict[str, np.ndarray] = {}
    for name, index in sets.items():
        arrays[name] = _features(model, data, index, layer, dev).astype(np.float32)
        arrays[{"train": "train_label", "ztest": "z_label", "gtest": "g_label"}[name]] = labels[index].astype(np.int64)
    arrays["seen_classes"] = np.asarray(split.seen_classes, dtype=np.int64)
    arrays["unseen_classes"] = np.asarray(split.unseen_classes, dtype=np.int64)
    arrays["text_features"] = np.asarray(inputs.text_features, dtype=np.float32)
    val_rows = np.flatnonzero(np.isin(sets["train"], split.val))
    context = {"config": config, "inputs": inputs, "state": state, "sets": sets, "val_rows": val_rows}
    return arrays, context


def _manifest(run: Path, out: Path, layer: str, fmt: str, checkpoint: str, arrays: dict, context: dict,
              files: list[str]) -> dict:
    config, inputs, sets = context["config"], context["inputs"], context["sets"]
    selection = context["state"].get("selection")
    return {
        "format": "pgfa feature export, SynSE/SA-DVAE layout",
        "run": str(run.resolve()), "checkpoint": checkpoint,
        "checkpoint_selection": selection.get("chosen_by") if isinstance(selection, dict) and "chosen_by" in selection
        else ("seen-class validation" if selection else "last epoch"),
        "layer": layer, "normalised": layer == "projection", "file_format": fmt,
        "backbone": config.backbone, "method": config.method, "data": config.data,
        "text_encoder": config.text_encoder, "text_mode": config.text_mode, "text_features_file": config.text_features,
        "alpha": config.alpha, "align_temperature": config.align_temperature,
        "num_classes": int(len(inputs.texts)),
        "unseen_classes": arrays["unseen_classes"].tolist(), "seen_classes": arrays["seen_classes"].tolist(),
        "sample_split": inputs.split.sample_split,
        "label_convention": LABEL_CONVENTION,
        "shapes": {k: list(v.shape) for k, v in arrays.items()},
        "sources": {"train": "seen-class training samples, pgfa's seen validation included",
                    "ztest": "unseen-class test samples (split.unseen_test order)",
                    "gtest": "seen-class test then unseen-class test samples" if "gtest" in sets
                    else "not written: the data has no seen-class test samples"},
        "pgfa_val_rows": context["val_rows"].tolist(),
        "files": files, "pgfa_version": pgfa.__version__,
        "exported_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def export_features(run: str | Path, out: str | Path, layer: str = "backbone", fmt: str = "synse",
                    checkpoint: str = BEST, device: str = "auto", force: bool = False) -> dict:
    """Write the features of ``run`` into ``out`` (module docstring); returns the manifest."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    run, out = Path(run), Path(out)
    _prepare(out, force, dry=True)  # refuse a used folder before any work
    arrays, context = export_arrays(run, layer, checkpoint, device)
    _prepare(out, force)
    files = []
    if fmt == "synse":
        for name, array in arrays.items():
            write_npy(out / f"{name}.npy", array)
            files.append(f"{name}.npy")
        n_unseen, n_seen = len(arrays["unseen_classes"]), len(arrays["seen_classes"])
        write_npy(out / "label_splits" / f"ru{n_unseen}.npy", arrays["unseen_classes"])
        write_npy(out / "label_splits" / f"rs{n_seen}.npy", arrays["seen_classes"])
        files += [f"label_splits/ru{n_unseen}.npy", f"label_splits/rs{n_seen}.npy"]
    _write_npz(out / NPZ_NAME, arrays)
    _write_npz(out / "sample_index.npz", context["sets"])
    shutil.copyfile(run / CLASSES_FILE, out / CLASSES_FILE)
    files += [NPZ_NAME, "sample_index.npz", CLASSES_FILE, "manifest.json"]
    manifest = _manifest(run, out, layer, fmt, checkpoint, arrays, context, files)
    write_json(out / "manifest.json", manifest)
    return manifest


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` through a temporary file (the suffix stays ``.npz``, so numpy adds none)."""
    atomic_write(path, lambda p: np.savez(p, **arrays))

