"""Precomputed features: skeleton feature folders (``--data features:DIR``) and class-embedding files.

**Skeleton feature folders** are the layout that the feature-based zero-shot
methods load (verified in their loaders: SynSE's ``synse/data_cnn60.py``,
SA-DVAE's ``data_cnn60.py`` (``NTUDataLoaders.create_datasets``) and TDSM's
``feeders/feeder.py`` (``FeatureFeeder``: train and ztest only); SA-DVAE's
and TDSM's ``train.py`` show the label convention; docs/INTEROP.md lists the
files read)::

    train.npy        (N_s, D) float32   seen-class training samples
    train_label.npy  (N_s,)   int64     their global class ids
    ztest.npy        (N_u, D)           unseen-class test samples (ZSL)
    z_label.npy      (N_u,)             their global class ids
    gtest.npy        (N_g, D)           generalised test: seen and unseen test samples (optional here)
    g_label.npy      (N_g,)             their global class ids

Labels are *global* class ids in all three files: SA-DVAE looks up the text
embedding of a training sample as ``text_emb[target]`` over the table of all
classes, and scores ZSL as ``unseen_inds[pred] == target`` (prediction
position mapped back to a class id). ``pgfa export-features``
(:mod:`pgfa.interop.export_features`) writes this layout plus
``seen_classes.npy`` / ``unseen_classes.npy``, ``text_features.npy``,
``classes.tsv`` and ``manifest.json``; ``features.npz`` holds the same arrays
under the same names and is read when the ``.npy`` files are absent.

Reading a folder gives a :class:`FeatureSet`: ``data`` is ``(N, D)`` instead
of ``(N, C, T, V, M)``, its layout is ``features:<D>``, and the ``identity``
backbone (:mod:`pgfa.models.identity`) passes it through, so the one training
loop trains only the projection and ``pgfa evaluate`` applies the alignment.
Rows: ``train`` then ``ztest`` then the seen-class rows of ``gtest`` (its
unseen rows are the ``ztest`` samples again and are not duplicated).

**Class-embedding files** (``--text-features FILE.npy``): ``(K, D)`` float, one
row per class in class-id order, e.g. the release's
``data/language/ntu60_des_embeddings.npy`` (Sentence-BERT all-mpnet-base-v2,
768-d). :func:`load_text_features` checks them; :func:`file_provenance`
gives the path and sha256 a run folder records.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pgfa.data.skeletons import SkeletonSet

FEATURE_FILES = {"train": ("train.npy", "train_label.npy"), "ztest": ("ztest.npy", "z_label.npy"),
                 "gtest": ("gtest.npy", "g_label.npy")}
NPZ_NAME = "features.npz"
FEATURES_PREFIX = "features:"


class FeatureDataError(ValueError):
    """A feature folder or embedding file that cannot be used; the message names the file."""


@dataclass
class FeatureSet(SkeletonSet):
    """Labelled feature vectors in place of skeleton sequences.

    ``data``: ``(N, D)`` float32; ``labels``: ``(N,)`` global class ids;
    ``layout``: ``features:<D>``; ``fixed_unseen``: the unseen classes the
    folder was written for (its ``ztest`` side).
    """

    fixed_unseen: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        where = self.source or "feature set"
        if self.data.ndim != 2:
            raise FeatureDataError(f"{where}: features must have shape (N, D), got {tuple(self.data.shape)}")
        if self.layout != f"features:{self.data.shape[1]}":
            raise FeatureDataError(f"{where}: layout must be features:{self.data.shape[1]}, got {self.layout!r}")
        if self.labels.shape != (len(self.data),):
            raise FeatureDataError(f"{where}: {len(self.data)} rows but labels of shape {tuple(self.labels.shape)}")
        for key, idx in self.subsets.items():
            if len(idx) and (idx.min() < 0 or idx.max() >= len(self.data)):
                raise FeatureDataError(f"{where}: subset {key!r} indexes outside 0..{len(self.data) - 1}")

    def with_layout(self, layout: str | None) -> "FeatureSet":
        if layout is None or layout == self.layout:
            return self
        raise FeatureDataError(f"{self.source}: precomputed features have no joint layout to convert to {layout!r}")


def feature_dim_of_layout(layout: str) -> int:
    """``"features:256"`` -> 256 (the input width of the identity backbone)."""
    head, _, dim = str(layout).partition(":")
    if head != "features" or not dim.isdigit() or int(dim) < 1:
        raise ValueError(f"layout {layout!r} is not a feature layout (features:<D>)")
    return int(dim)


def _load_array(path: Path, labels: bool) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as err:
        raise FeatureDataError(f"{path}: cannot read as .npy ({err})") from None
    return _check_array(array, path, labels)


def _check_array(array: np.ndarray, where, labels: bool) -> np.ndarray:
    if labels:
        if array.ndim == 2:  # one-hot rows (SynSE's h5 files store them so)
            array = array.argmax(axis=1)
        if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or np.all(np.mod(array, 1) == 0)):
            raise FeatureDataError(f"{where}: expected integer class ids of shape (N,), got {array.dtype} {array.shape}")
        if len(array) and array.min() < 0:
            raise FeatureDataError(f"{where}: negative class id {int(array.min())}")
        return array.astype(np.int64)
    if array.ndim != 2:
        raise FeatureDataError(f"{where}: expected features of shape (N, D), got {tuple(array.shape)}")
    if not np.isfinite(array).all():
        raise FeatureDataError(f"{where}: features contain NaN or infinite values")
    return np.asarray(array, dtype=np.float32)


def _read_parts(folder: Path) -> dict[str, np.ndarray]:
    """The arrays of a feature folder by their file stem (``train``, ``train_label`` ...), from .npy or .npz."""
    if not folder.is_dir():
        raise FeatureDataError(f"{folder}: no such feature folder")
    parts: dict[str, np.ndarray] = {}
    if (folder / "train.npy").is_file():
        for data_name, label_name in FEATURE_FILES.values():
            if (folder / data_name).is_file():
                parts[data_name[:-4]] = _load_array(folder / data_name, False)
                if not (folder / label_name).is_file():
                    raise FeatureDataError(f"{folder}: {data_name} has no {label_name} beside it")
                parts[label_name[:-4]] = _load_array(folder / label_name, True)
        for extra in ("unseen_classes", "seen_classes"):
            if (folder / f"{extra}.npy").is_file():
                parts[extra] = _load_array(folder / f"{extra}.npy", True)
    elif (folder / NPZ_NAME).is_file():
        with np.load(folder / NPZ_NAME, allow_pickle=False) as npz:
            for key in npz.files:
                if key in ("text_features",):
                    continue
                labels = key.endswith("label") or key.endswith("classes")
                parts[key] = _check_array(npz[key], f"{folder / NPZ_NAME}[{key}]", labels)
    else:
        raise FeatureDataError(f"{folder}: expected train.npy/train_label.npy and ztest.npy/z_label.npy "
                               f"(optionally gtest.npy/g_label.npy) or {NPZ_NAME}")
    for key in ("train", "train_label", "ztest", "z_label"):
        if key not in parts:
            raise FeatureDataError(f"{folder}: {key} is missing (need train, train_label, ztest, z_label)")
    return parts


def _unseen_of(parts: dict[str, np.ndarray], folder: Path) -> list[int]:
    from_labels = sorted(int(c) for c in np.unique(parts["z_label"]))
    if "unseen_classes" not in parts:
        return from_labels
    listed = sorted(int(c) for c in parts["unseen_classes"])
    if not set(from_labels) <= set(listed):
        raise FeatureDataError(f"{folder}: z_label holds classes {sorted(set(from_labels) - set(listed))} that "
                               f"unseen_classes {listed} does not list")
    return listed


def feature_folder_unseen(folder: str | Path) -> list[int]:
    """The unseen classes of a feature folder: ``unseen_classes`` if written, else the label set of ``z_label``."""
    folder = Path(folder)
    return _unseen_of(_read_parts(folder), folder)


def _class_texts(folder: Path) -> tuple[list[str] | None, list[str] | None]:
    path = folder / "classes.tsv"
    if not path.is_file():
        return None, None
    from pgfa.data.class_texts import read_class_file

    texts = read_class_file(path)
    return [t.name for t in texts], [t.description for t in texts]


def load_feature_folder(folder: str | Path) -> FeatureSet:
    """Read a feature folder (module docstring) into a :class:`FeatureSet`, checking labels against the split."""
    folder = Path(folder).expanduser()
    parts = _read_parts(folder)
    unseen = _unseen_of(parts, folder)
    for data_key, label_key in (("train", "train_label"), ("ztest", "z_label"), ("gtest", "g_label")):
        if data_key in parts and len(parts[data_key]) != len(parts[label_key]):
            raise FeatureDataError(f"{folder}: {data_key} has {len(parts[data_key])} rows but {label_key} "
                                   f"{len(parts[label_key])} labels")
    dims = {k: parts[k].shape[1] for k in ("train", "ztest", "gtest") if k in parts}
    if len(set(dims.values())) != 1:
        raise FeatureDataError(f"{folder}: feature widths differ between files: {dims}")
    leaked = sorted(set(parts["train_label"].tolist()) & set(unseen))
    if leaked:
        raise FeatureDataError(f"{folder}: train_label holds unseen classes {leaked}")
    blocks, labels = [parts["train"], parts["ztest"]], [parts["train_label"], parts["z_label"]]
    if "gtest" in parts:  # its unseen rows are the ztest samples; keep only the seen-class ones
        keep = ~np.isin(parts["g_label"], unseen)
        blocks.append(parts["gtest"][keep])
        labels.append(parts["g_label"][keep])
    data, label = np.concatenate(blocks), np.concatenate(labels)
    names, descriptions = _class_texts(folder)
    if names is not None and int(label.max()) >= len(names):
        raise FeatureDataError(f"{folder}: class id {int(label.max())} but classes.tsv names {len(names)} classes")
    n_train = len(parts["train"])
    return FeatureSet(data, label, layout=f"features:{data.shape[1]}", class_names=names,
                      class_descriptions=descriptions,
                      subsets={"train": np.arange(n_train), "test": np.arange(n_train, len(data))},
                      source=f"{FEATURES_PREFIX}{folder}", fixed_unseen=tuple(unseen))


def load_text_features(path: str | Path, num_classes: int | None = None) -> np.ndarray:
    """Read a ``(K, D)`` class-embedding file; with ``num_classes``, K must equal it.

    Accepts ``.npy`` (the release's ``data/language/*_embeddings.npy``) or an
    ``.npz`` with a ``text_features`` array (``pgfa export-features``).
    Returns float32 rows as stored (scoring normalises them).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FeatureDataError(f"{path}: text feature file not found")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                if "text_features" not in npz.files:
                    raise FeatureDataError(f"{path}: no text_features array in this .npz")
                array = npz["text_features"]
        else:
            array = np.load(path, allow_pickle=False)
    except FeatureDataError:
        raise
    except Exception as err:
        raise FeatureDataError(f"{path}: cannot read text features ({err})") from None
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
        raise FeatureDataError(f"{path}: expected (classes, dim) text features, got shape {tuple(array.shape)}")
    if not np.isfinite(array).all():
        raise FeatureDataError(f"{path}: text features contain NaN or infinite values")
    if np.any(np.linalg.norm(array, axis=1) == 0):
        raise FeatureDataError(f"{path}: a class has an all-zero text feature (cosine is undefined)")
    if num_classes is not None and array.shape[0] != num_classes:
        raise FeatureDataError(f"{path}: {array.shape[0]} class embeddings, but the data has {num_classes} classes")
    return np.ascontiguousarray(array, dtype=np.float32)


def file_provenance(path: str | Path) -> dict:
    """``{"path", "sha256", "bytes"}`` of a file, for the run folder's record of what it used."""
    path = Path(path).expanduser()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path.resolve()), "sha256": digest.hexdigest(), "bytes": path.stat().st_size}


def read_manifest(folder: str | Path) -> dict | None:
    """The ``manifest.json`` that ``pgfa export-features`` wrote into a folder, if any."""
    path = Path(folder) / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def placeholder_texts(path: str | Path) -> list:
    """``class 0`` ... ``class K-1``: texts for data that names no classes, one per row of an embedding file.

    Only names are needed then (for reports); the embeddings themselves come from ``path``.
    """
    from pgfa.data.skeletons import ClassText

    return [ClassText(f"class {i}") for i in range(len(load_text_features(path)))]


def check_backbone(skeletons: SkeletonSet, backbone: str) -> None:
    """Precomputed features take the ``identity`` backbone, skeletons any other; say so before building."""
    if isinstance(skeletons, FeatureSet) and backbone != "identity":
        raise FeatureDataError(f"{skeletons.source}: precomputed {skeletons.data.shape[1]}-d features, not "
                               f"skeletons; train them with --backbone identity (not {backbone!r})")
    if not isinstance(skeletons, FeatureSet) and backbone == "identity":
        raise FeatureDataError(f"{skeletons.source}: the identity backbone takes precomputed features "
                               f"(--data features:DIR); skeleton data needs a skeleton backbone such as stgcn")
