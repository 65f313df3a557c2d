"""The run folder: what a training run leaves behind, and how it is read back.

Every command after ``pgfa train`` (evaluate, predict, the Python API,
tune-alignment, reproduce, the demo) starts from a run folder, so its format
has one owner, this module:

=============================  =================================================
``config.yaml``                the :class:`~pgfa.config.TrainConfig`
``classes.tsv``                the class texts that were embedded (name, description)
``text_features.npy``          ``(K, D)`` their embeddings, all classes
``text_features_source.json``  with ``--text-features``: the embedding file's path and sha256
``imported.json``              a run made by ``pgfa import-checkpoint`` (:mod:`pgfa.interop`)
``split.json``                 seen/unseen classes and every sample index used
``history.jsonl``              one line per epoch: loss, lr, seen-validation metrics
``last.pt``                    model + optimiser + epoch (resume point)
``best.pt``                    model at the epoch chosen on seen-class validation
``stage1_last.pt``/``_best``   the two-stage baseline's classifier stage
``metrics{suffix}.json``       an evaluation (:class:`RunMetrics`)
``alignment_selection.json``   alignment settings chosen by ``pgfa tune-alignment``
=============================  =================================================

Checkpoints are written atomically and read with ``weights_only=True``. A
checkpoint carries the *model signature*: the fields that decide the network's
shape and what it was trained on (the data files' size, the unseen classes,
the sha256 of ``classes.tsv``, the seed); loading it under another signature
fails with a message naming the differing fields, so a ``best.pt`` copied into
another run folder is refused by ``evaluate``, ``predict`` and :func:`pgfa.load`.
Older checkpoints lack the identity fields and are checked on the rest. New checkpoints also record ``epoch_done``, the 1-based
number of the epoch whose model they hold (:func:`checkpoint_epoch`).

A foundation-level module: it imports config, io, data, text and models only.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pgfa.config import TrainConfig
from pgfa.data.features import check_backbone, file_provenance, load_text_features, placeholder_texts
from pgfa.data.formats import load_skeletons
from pgfa.data.release import check_fixed_unseen
from pgfa.data.skeletons import SkeletonSet
from pgfa.data.splits import ZeroShotSplit, make_zero_shot_split
from pgfa.errors import PgfaError
from pgfa.io import keep_previous as keep_earlier, atomic_write, sha256_file, write_json, write_npy, write_text
from pgfa.models.model import model_from_config
from pgfa.runtime import pick_device
from pgfa.text.class_embeddings import embed_class_texts
from pgfa.text.classes import ClassText, read_class_file, resolve_class_texts

__all__ = [
    "CONFIG_FILE", "CLASSES_FILE", "TEXT_FEATURES_FILE", "SPLIT_FILE", "HISTORY_FILE", "LAST", "BEST",
    "STAGE1_LAST", "STAGE1_BEST", "SELECTION_FILE", "SIGNATURE_KEYS", "IDENTITY_KEYS", "RUN_FILE_PATTERNS", "is_run_entry", "CheckpointError", "RunFolderError", "RunInputs", "RunMetrics",
    "prepare_inputs", "write_run_files", "load_run_inputs", "model_signature", "build_run_model",
    "model_from_signature", "folder_signature", "signature_differences", "classes_text", "load_model", "load_run_model", "save_checkpoint", "load_checkpoint",
    "checkpoint_epoch", "read_config", "write_history", "output_suffix", "metrics_path", "write_metrics",
    "read_metrics", "read_current_metrics", "write_selection", "read_selection",
]

CONFIG_FILE = "config.yaml"
CLASSES_FILE = "classes.tsv"
TEXT_FEATURES_FILE = "text_features.npy"
SPLIT_FILE = "split.json"
TEXT_FEATURES_SOURCE_FILE = "text_features_source.json"  # runs given --text-features: the file's path and sha256
HISTORY_FILE = "history.jsonl"
LAST = "last.pt"
BEST = "best.pt"
STAGE1_LAST = "stage1_last.pt"
STAGE1_BEST = "stage1_best.pt"
SELECTION_FILE = "alignment_selection.json"

SIGNATURE_KEYS = ("backbone", "layout", "in_channels", "text_dim", "num_classes")
#: What a checkpoint was trained on, besides its shape: the data files' total size, the unseen classes, the
#: sha256 of ``classes.tsv`` and the seed. Checked only where both sides have them (older checkpoints lack them).
IDENTITY_KEYS = ("data_bytes", "unseen", "classes_sha256", "seed")
# Files that count as the data of a folder given as --data (their sizes make ``data_bytes``).
_DATA_SUFFIXES = (".npy", ".npz", ".pkl", ".pickle", ".skeleton", ".h5", ".hdf5")


#: Names pgfa writes in a run folder (fnmatch patterns): ``--force`` deletes a folder holding nothing else.
RUN_FILE_PATTERNS = (
    CONFIG_FILE, CLASSES_FILE, TEXT_FEATURES_FILE, TEXT_FEATURES_SOURCE_FILE, "imported.json", SPLIT_FILE,
    HISTORY_FILE, LAST, BEST, STAGE1_LAST, STAGE1_BEST, SELECTION_FILE, "metrics*.json", "confusion*.png",
    "per_class*.png", "feature_map*.png", ".*.tmp*",  # the last: pgfa.io.atomic_write's temporary files
)
#: Sub-folders pgfa writes in a run folder: runs of their own (``pgfa tune-alignment``'s development runs).
RUN_SUBFOLDERS = ("alignment-dev",)


def is_run_entry(entry: Path) -> bool:
    """Whether ``entry`` (a file or folder inside a run folder) is one pgfa writes there.

    A sub-folder counts only when it is :data:`RUN_SUBFOLDERS` and holds
    nothing but run folders (checked all the way down).
    """
    if entry.is_symlink():
        return False
    if entry.is_dir():
        if entry.name in RUN_SUBFOLDERS:
            return all(p.is_dir() and not p.is_symlink() and all(is_run_entry(q) for q in p.iterdir())
                       for p in entry.iterdir())
        return False
    return entry.is_file() and any(fnmatch.fnmatchcase(entry.name, pattern) for pattern in RUN_FILE_PATTERNS)


class CheckpointError(PgfaError, RuntimeError):
    """A checkpoint that cannot be used here; the message says why."""


class RunFolderError(PgfaError, RuntimeError):
    """A run folder that does not fit its data any more (or is incomplete); the message says why."""


@dataclass
class RunInputs:
    """Data, texts and split of a run, rebuilt identically for training and evaluation."""

    skeletons: SkeletonSet
    texts: list[ClassText]
    text_features: np.ndarray  # (K, D)
    split: ZeroShotSplit


# ----------------------------------------------------------------------------- inputs


def prepare_inputs(config: TrainConfig, skeletons: SkeletonSet | None = None) -> RunInputs:
    """Load the data, resolve and embed the class texts, and split the samples (training)."""
    if skeletons is None:
        skeletons = load_skeletons(config.data, frames=config.frames)
    skeletons = skeletons.with_layout(config.layout)
    num_classes = skeletons.num_classes
    if config.text_features and config.classes is None and skeletons.class_names is None:
        texts = placeholder_texts(config.text_features)  # precomputed embeddings of unnamed classes
    else:
        texts = resolve_class_texts(
            config.classes, skeletons.class_names, skeletons.class_descriptions, num_classes,
            source=skeletons.source or config.data
        )
    if int(skeletons.labels.max()) >= len(texts):
        raise ValueError(f"{skeletons.source}: label {int(skeletons.labels.max())} but only {len(texts)} class texts")
    if config.text_features:  # --text-features: (K, D) class embeddings from a file, checked against the classes
        features = load_text_features(config.text_features, len(texts))
    else:
        features = embed_class_texts(texts, config.text_mode, encoder=config.text_encoder)
    check_fixed_unseen(skeletons, config.unseen)  # a release or feature folder fixes its unseen classes
    check_backbone(skeletons, config.backbone)  # features:DIR <-> the identity backbone
    split = make_zero_shot_split(skeletons, config.unseen, config.val_fraction, config.seed)
    return RunInputs(skeletons, texts, features, split)


def write_run_files(run: Path, config: TrainConfig, inputs: RunInputs) -> None:
    """Create ``run`` with the config, class texts, their embeddings and the split of a new run."""
    run.mkdir(parents=True, exist_ok=True)
    config.save(run / CONFIG_FILE)
    write_text(run / CLASSES_FILE, classes_text(inputs.texts))
    write_npy(run / TEXT_FEATURES_FILE, inputs.text_features)
    write_json(run / SPLIT_FILE, inputs.split.to_json())
    if config.text_features:  # which embedding file the run used, and its hash
        write_json(run / TEXT_FEATURES_SOURCE_FILE, file_provenance(config.text_features))


def classes_text(texts: list[ClassText]) -> str:
    """The content of ``classes.tsv`` (its sha256 is the checkpoint's ``classes_sha256``)."""
    return "".join("\t".join((t.name, t.description, *t.extra)) + "\n" for t in texts)


def read_config(run: str | Path) -> TrainConfig:
    """The config of a run folder, or an error saying the folder is not a run."""
    run = Path(run)
    if not (run / CONFIG_FILE).is_file():
        raise FileNotFoundError(f"{run}: not a pgfa run folder (no {CONFIG_FILE})")
    return TrainConfig.load(run / CONFIG_FILE)


def load_run_inputs(run: Path, config: TrainConfig, skeletons: SkeletonSet | None = None) -> RunInputs:
    """Rebuild a run's data, texts and split from its folder (texts and features as saved).

    ``skeletons`` stands in for ``config.data`` when a run was trained on a
    set built in memory (the development runs of alignment tuning).
    """
    if skeletons is None:
        skeletons = load_skeletons(config.data, frames=config.frames)
    skeletons = skeletons.with_layout(config.layout)
    texts = read_class_file(run / CLASSES_FILE)
    features = np.load(run / TEXT_FEATURES_FILE)
    split = make_zero_shot_split(skeletons, config.unseen, config.val_fraction, config.seed)
    saved = json.loads((run / SPLIT_FILE).read_text())
    if saved["unseen_test"] != split.unseen_test.tolist() or saved["train"] != split.train.tolist():
        raise RunFolderError(
            f"{run}: the data at {config.data} no longer gives the split recorded in {SPLIT_FILE} "
            "(the data changed since training); evaluation would not be comparable"
        )
    return RunInputs(skeletons, texts, features, split)


# ----------------------------------------------------------------------------- the model


def model_signature(config: TrainConfig, inputs: RunInputs) -> dict:
    """What a checkpoint must match: the network's shape and what it was trained on (stored in every checkpoint).

    :data:`SIGNATURE_KEYS` decide the shape; :data:`IDENTITY_KEYS` tell a
    checkpoint copied from a run on other data, classes or seed (``data`` is
    recorded for the reader, not compared: data may move).
    """
    return {
        "backbone": config.backbone,
        "layout": inputs.skeletons.layout,
        "in_channels": int(inputs.skeletons.data.shape[1]),
        "text_dim": int(inputs.text_features.shape[1]),
        "num_classes": len(inputs.texts),
        **run_identity(config, hashlib.sha256(classes_text(inputs.texts).encode("utf-8")).hexdigest()),
    }


def data_bytes(spec: str | None) -> int | None:
    """Total size of the data a ``--data`` value names, or ``None`` when it names no file (``synthetic:...``).

    A file counts itself; a folder the data files directly in it (``.npy``,
    ``.npz``, ``.pkl``, ``.skeleton`` ...), so a note added beside them
    changes nothing. Only sizes are read (fast for any dataset size).
    """
    if not spec:
        return None
    path = Path(str(spec).removeprefix("features:"))
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.suffix.lower() in _DATA_SUFFIXES and p.is_file())
    return None


def run_identity(config: TrainConfig, classes_sha256: str | None) -> dict:
    """The :data:`IDENTITY_KEYS` of a run (``data_bytes`` is ``None`` when the data is not at hand)."""
    return {"data": str(config.data), "data_bytes": data_bytes(config.data),
            "unseen": sorted(int(c) for c in config.unseen), "classes_sha256": classes_sha256,
            "seed": int(config.seed)}


def folder_signature(run: str | Path, config: TrainConfig) -> dict:
    """The signature a run folder's checkpoints must match, from the folder alone (no data loading).

    Used by ``predict`` and :func:`pgfa.load`: the backbone (config), the
    text size and class count (``text_features.npy``), and the identity keys.
    """
    run = Path(run)
    signature: dict[str, Any] = {"backbone": config.backbone}
    try:
        features = np.load(run / TEXT_FEATURES_FILE, mmap_mode="r")
        signature.update(text_dim=int(features.shape[1]), num_classes=int(features.shape[0]))
    except (OSError, ValueError, IndexError):
        pass  # an imported or older folder without it: the shape is checked when the weights load
    classes = run / CLASSES_FILE
    return {**signature, **run_identity(config, sha256_file(classes) if classes.is_file() else None)}


def model_from_signature(config: TrainConfig, signature: dict, device: torch.device | str | None = None
                         ) -> torch.nn.Module:
    """The one place a run's network is built: shape from ``signature``, the rest from ``config``.

    ``device`` is where it will run (it may decide the backbone implementation,
    see :func:`pgfa.models.model.model_from_config`); the model is returned on the CPU.
    """
    return model_from_config(config, signature["layout"], int(signature["text_dim"]), device=device)


def build_run_model(config: TrainConfig, inputs: RunInputs, device: torch.device | str | None = None
                    ) -> torch.nn.Module:
    """A fresh (untrained) network for ``config`` on ``inputs``, on the CPU."""
    return model_from_signature(config, model_signature(config, inputs), device)


def load_model(run: str | Path, checkpoint: str = BEST, device: str = "auto", signature: dict | None = None):
    """``(config, state, model, device)`` of a run folder, from its config and checkpoint alone.

    Needs no data (the network's shape is in the checkpoint's signature), so
    prediction works without the training set; ``signature``, when given,
    must match the checkpoint's. The model is on ``device``, weights loaded.
    """
    run = Path(run)
    config = read_config(run)
    if Path(checkpoint).name != checkpoint:
        raise ValueError(f"checkpoint {checkpoint!r} must be a file name inside the run folder ({BEST} or {LAST})")
    state = load_checkpoint(run / checkpoint, folder_signature(run, config) if signature is None else signature)
    dev = pick_device(device)
    model = model_from_signature(config, state["signature"], dev).to(dev)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:  # weights of another network than config.yaml describes
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{run / checkpoint}: its weights do not fit the model of {run / CONFIG_FILE} "
                              f"({first})") from None
    return config, state, model, dev


def load_run_model(run: str | Path, checkpoint: str = BEST, device: str = "auto",
                   skeletons: SkeletonSet | None = None):
    """Config, inputs, checkpoint state, model (weights loaded, on ``device``) and device of a run folder.

    Like :func:`load_model`, and also rebuilds the run's inputs (its data must
    still give the recorded split) and checks the checkpoint against them.
    """
    run = Path(run)
    config = read_config(run)
    inputs = load_run_inputs(run, config, skeletons)
    signature = model_signature(config, inputs)
    if (run / CLASSES_FILE).is_file():  # the file's own bytes, as hashed when the run was trained
        signature["classes_sha256"] = sha256_file(run / CLASSES_FILE)
    _, state, model, dev = load_model(run, checkpoint, device, signature)
    return config, inputs, state, model, dev


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda p: torch.save(state, p))


def load_checkpoint(path: str | Path, signature: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load a checkpoint; if ``signature`` is given, it must match the stored one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0]  # torch's messages run over many lines
        raise CheckpointError(f"{path}: not a readable pgfa checkpoint ({type(err).__name__}: {first})") from None
    if not isinstance(state, dict) or "model" not in state or "signature" not in state:
        raise CheckpointError(f"{path}: not a pgfa checkpoint (no model/signature entries)")
    if signature is not None:
        diff = signature_differences(state["signature"], signature)
        if diff:
            raise CheckpointError(f"{path}: checkpoint is from another configuration ({'; '.join(diff)}); "
                                  "use it with the run folder it was trained in")
    return state


def signature_differences(stored: dict, expected: dict) -> list[str]:
    """``"key: checkpoint X, config Y"`` for each differing key.

    Shape keys are compared whenever ``expected`` has them; identity keys
    only where both sides have a value (a checkpoint written before they
    existed, or a run whose data is not at hand, is not refused for them).
    """
    diff = []
    for k in SIGNATURE_KEYS:
        if k in expected and stored.get(k) != expected[k]:
            diff.append(f"{k}: checkpoint {stored.get(k)!r}, config {expected[k]!r}")
    for k in IDENTITY_KEYS:
        if stored.get(k) is not None and expected.get(k) is not None and stored[k] != expected[k]:
            what = {"data_bytes": " (the data files' total size)", "classes_sha256": " (classes.tsv)"}.get(k, "")
            diff.append(f"{k}{what}: checkpoint {stored[k]!r}, config {expected[k]!r}")
    return diff


def checkpoint_epoch(state: dict) -> int:
    """1-based number of the epoch whose model a checkpoint holds.

    New checkpoints store it as ``epoch_done``. Older ones stored ``epoch``
    1-based in ``best.pt`` and 0-based in the resume points: a PGFA run's
    ``last.pt`` (it carries the optimiser) and a two-stage run's ``last.pt``
    (it carries the training history, and no optimiser).
    """
    if "epoch_done" in state:
        return int(state["epoch_done"])
    zero_based = "optimizer" in state or "history" in state
    return int(state["epoch"]) + 1 if zero_based else int(state["epoch"])


def write_history(run: Path, history: list[dict]) -> None:
    """``history.jsonl``: one JSON line per record, rewritten whole (atomic)."""
    write_text(run / HISTORY_FILE, "".join(json.dumps(r) + "\n" for r in history))


# ----------------------------------------------------------------------------- metrics


@dataclass
class RunMetrics:
    """One evaluation of a run: the content of ``metrics{suffix}.json``, key by key, in file order.

    Written by :func:`write_metrics` and read by :func:`read_metrics` only.
    Item access (``m["zsl_top1"]``, ``m.get("gzsl")``) reads the same fields,
    for code written against the JSON keys. Keys of a file that this class
    does not know are kept in ``extra`` and written back unchanged.
    """

    zsl_top1: float = float("nan")
    zsl_top1_aligned: float | None = None
    zsl_top5: float = float("nan")
    zsl_top5_aligned: float | None = None
    chance_top1: float = float("nan")
    n_test: int = 0
    unseen_classes: list[int] = field(default_factory=list)
    unseen_class_names: list[str] = field(default_factory=list)
    alpha: float | None = None
    alpha_source: str | None = None
    align_temperature: float | None = None
    support_precision: float | None = None
    per_class: dict = field(default_factory=dict)  # name -> {"n", "top1", "top1_aligned"}
    alignment_diagnostics: dict | None = None
    gzsl: dict | None = None  # see pgfa.evaluation.evaluate.gzsl_section
    one_shot: dict | None = None  # see pgfa.evaluation.oneshot.one_shot_report
    checkpoint: str = BEST
    checkpoint_epoch: int | None = None  # 1-based
    selected_on: str = ""
    sample_split: str | None = None
    seed: int | None = None
    data: str | None = None
    text_encoder: str | None = None
    text_mode: str | None = None
    backbone: str | None = None
    method: str | None = None
    pgfa_version: str | None = None
    evaluated_at: str | None = None
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**values, **self.extra}

    @classmethod
    def from_json(cls, values: dict) -> "RunMetrics":
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in values.items() if k in known},
                   extra={k: v for k, v in values.items() if k not in known})

    def __getitem__(self, key: str):
        if key in self.extra:
            return self.extra[key]
        if key == "extra" or not hasattr(self, key):
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default=None):
        try:
            return self[key]
        except KeyError:
            return default


def output_suffix(checkpoint: str = BEST, tuned_alignment: bool = False) -> str:
    """Suffix of the files an evaluation writes: ``metrics{suffix}.json``, ``confusion{suffix}.png`` ..."""
    return ("" if checkpoint == BEST else "_" + Path(checkpoint).stem) + ("_tuned" if tuned_alignment else "")


def metrics_path(run: str | Path, checkpoint: str = BEST, tuned_alignment: bool = False) -> Path:
    return Path(run) / f"metrics{output_suffix(checkpoint, tuned_alignment)}.json"


def write_metrics(run: str | Path, metrics: RunMetrics, tuned_alignment: bool = False,
                  keep_previous: bool = True) -> Path:
    """Write ``metrics`` for its checkpoint; an existing file is kept as ``metrics.<time>.json`` first."""
    path = metrics_path(run, metrics.checkpoint, tuned_alignment)
    if keep_previous:
        keep_earlier(path)
    return write_json(path, metrics.to_json())


def read_metrics(path: str | Path) -> RunMetrics:
    path = Path(path)
    try:
        return RunMetrics.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: not a readable pgfa metrics file ({err})") from None


def read_current_metrics(run: str | Path, checkpoint: str = BEST) -> RunMetrics | None:
    """Saved metrics of ``checkpoint`` if written after it (so still valid), else ``None``."""
    path, ckpt = metrics_path(run, checkpoint), Path(run) / checkpoint
    if path.is_file() and ckpt.is_file() and path.stat().st_mtime >= ckpt.stat().st_mtime:
        return read_metrics(path)
    return None


# ----------------------------------------------------------------------------- tuned alignment


def write_selection(run: str | Path, selection: dict) -> Path:
    """``alignment_selection.json``, written by :func:`pgfa.experiments.alignment_tuning.tune_alignment`."""
    return write_json(Path(run) / SELECTION_FILE, selection)


def read_selection(run: str | Path) -> dict:
    """The alignment settings chosen for ``run``, or a clear error when tuning has not been run."""
    path = Path(run) / SELECTION_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run 'pgfa tune-alignment {run}' first")
    return json.loads(path.read_text())
