"""Readers: every supported input turns into a :class:`SkeletonSet`.

Supported for ``--data``:

* ``synthetic`` or ``synthetic:key=value,...``: the built-in benchmark
  (:mod:`pgfa.data.synthetic`), generated on the fly, no file needed;
* a processed array pair ``X_data.npy`` ``(N, 3, T, V, M)`` + ``X_label.npy``
  ``(N,)`` (give either file), or a folder holding ``train_data.npy`` /
  ``train_label.npy`` and ``test_data.npy`` / ``test_label.npy`` (these become
  the official train/test sample split);
* a split folder of the PGFA release, ``data/zeroshot/<dataset>/split_<k>``
  or ``unseen_label_<n>`` (:mod:`pgfa.data.release`; it fixes the unseen classes);
* ``features:DIR``: precomputed ``(N, D)`` features in the SynSE/SA-DVAE
  layout (:mod:`pgfa.data.features`; train with ``--backbone identity``);
* a CTR-GCN style ``.npz`` (``x_train``/``y_train``/``x_test``/``y_test``,
  ``x`` ``(N, T, 150)`` = 2 bodies x 25 joints x xyz per frame, labels one-hot
  or integers): every clip goes through the same SPEC section 2
  preprocessing, so it matches data prepared from raw files;
* a pyskl-style pickle ``{'split': {...}, 'annotations': [{'keypoint':
  (M, T, V, 3), 'label', 'frame_dir', ...}]}``: each clip is preprocessed as
  SPEC section 2 (centre, resample to T frames, rotate). A ``classes.txt``
  beside it names the classes.

Every reader checks what it reads and raises :class:`DataError` naming the
file (and the record) and the problem: coordinates must be finite real
numbers (no complex, object or string arrays) and every sequence needs at
least one valid frame; labels must be non-negative integers (integral floats
are accepted), below the number of classes when the source names them.
Pickles are read by :func:`pgfa.data.safe_pickle.load_pickle`, which runs no
code from the file (``trust_pickle=True`` opts out, for trusted files).
"""
from __future__ import annotations

import json
import mmap
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pgfa.data.class_texts import builtin_classes, read_class_file
from pgfa.data.errors import DataError
from pgfa.data.layouts import layout_for_joints
from pgfa.data.ntu import read_ntu_skeleton
from pgfa.data.preprocess import preprocess_sequence
from pgfa.data.safe_pickle import load_pickle
from pgfa.data.skeletons import SkeletonSet
from pgfa.data.synthetic import generate
from pgfa.io import read_utf8

__all__ = ["DataError", "load_ctrgcn_npz", "load_pyskl_pickle", "load_sequences", "load_skeletons",
           "parse_synthetic_spec", "read_rows"]

#: Labels are class indices; one this large is a corrupt file, not a class.
_MAX_LABEL = 2**31 - 1


def load_skeletons(spec: str | Path, frames: int = 50, max_bodies: int = 2,
                   trust_pickle: bool = False) -> SkeletonSet:
    """Read any supported input (see module docstring) into a :class:`SkeletonSet`.

    ``trust_pickle`` lets a ``.pkl`` run code while it is read (plain
    ``pickle.load``); leave it off unless the file's author is trusted.
    """
    text = str(spec)
    if text == "synthetic" or text.startswith("synthetic:"):
        return _load_synthetic(text, frames)
    if text.startswith("features:"):  # precomputed (N, D) features (pgfa.data.features)
        from pgfa.data.features import load_feature_folder

        return load_feature_folder(text[len("features:"):])
    path = Path(text).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        from pgfa.data.release import is_release_folder, load_release_folder

        if is_release_folder(path):  # the PGFA release's data/zeroshot/<dataset>/split_<k> (pgfa.data.release)
            return load_release_folder(path)
        return _load_npy_folder(path)
    if path.suffix in (".pkl", ".pickle"):
        return load_pyskl_pickle(path, frames=frames, max_bodies=max_bodies, trust_pickle=trust_pickle)
    if path.suffix == ".npy":
        return _load_npy_pair(path)
    if path.suffix == ".npz":
        return load_ctrgcn_npz(path, frames=frames)
    raise DataError(f"{path}: unsupported input; give a .npy pair, a folder of them, a pyskl .pkl or 'synthetic'")


def parse_synthetic_spec(text: str) -> dict:
    """``synthetic:samples_per_class=40,seed=1`` -> ``{'samples_per_class': 40, 'seed': 1}``."""
    options: dict = {}
    _, _, rest = text.partition(":")
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise DataError(f"{text!r}: expected key=value after 'synthetic:', got {item!r}")
        try:
            options[key.strip()] = int(value)
        except ValueError:
            try:
                options[key.strip()] = float(value)
            except ValueError:
                raise DataError(f"{text!r}: value of {key!r} must be a number") from None
    return options


def _load_synthetic(text: str, frames: int) -> SkeletonSet:
    options = parse_synthetic_spec(text)
    options.setdefault("frames", frames)
    try:
        return generate(**options)
    except TypeError as err:
        raise DataError(f"{text!r}: {err}") from None


def _check_samples(data: np.ndarray, path: Path) -> None:
    """Refuse non-real coordinates, NaN/inf and samples with no valid frame, naming the sample.

    ``data`` is ``(N, ...)``. It is scanned in chunks of about 16 M values
    read with :func:`read_rows` into one reused buffer, so checking a
    memory-mapped 3.4 GB file leaves none of its pages in this process's
    resident set (reading through the map would count every page of it).
    A sample whose coordinates are all zero has no frame with a body in it.
    """
    if data.dtype.kind not in "iuf":
        raise DataError(f"{path}: coordinates must be real numbers, got a {data.dtype} array")
    chunk = max(1, 2**24 // max(1, int(np.prod(data.shape[1:]))))
    buffer = np.empty((min(chunk, len(data)), *data.shape[1:]), dtype=data.dtype)
    for start in range(0, len(data), chunk):
        n = min(chunk, len(data) - start)
        block = read_rows(data, np.arange(start, start + n), out=buffer[:n]).reshape(n, -1)
        bad = ~np.isfinite(block).all(axis=1)
        if bad.any():
            raise DataError(f"{path}: sample {start + int(np.argmax(bad))} contains NaN or infinite coordinates")
        empty = ~block.any(axis=1)
        if empty.any():
            raise DataError(f"{path}: sample {start + int(np.argmax(empty))} has no valid frame "
                            "(all coordinates are zero)")


def _mapped_rows(data: np.ndarray) -> tuple[str, int] | None:
    """``(file, byte position of row 0)`` when ``data`` is C-contiguous rows of a read-only ``np.memmap``.

    ``data`` may be the memory map ``np.load(mmap_mode="r")`` returns or a
    view of it (``np.ascontiguousarray`` of it, a slice of rows). None for an
    array in memory, a writable map (its file may not hold what was written
    yet) or a layout positional reads cannot serve.
    """
    if not hasattr(os, "preadv") or not data.flags.c_contiguous or data.ndim == 0:
        return None
    root = data
    while isinstance(root, np.ndarray) and not (isinstance(root, np.memmap) and isinstance(root.base, mmap.mmap)):
        root = root.base
    if root is None or not isinstance(root, np.memmap) or root.filename is None or root.mode != "r":
        return None
    return root.filename, int(root.offset) + data.ctypes.data - root.ctypes.data


def _runs(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end positions (into ``idx``) of its runs of consecutive indices."""
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    return np.concatenate([[0], breaks]), np.concatenate([breaks, [len(idx)]])


def read_rows(data: np.ndarray, idx: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``data[idx]`` as a C-contiguous array ``(len(idx), *data.shape[1:])``, the same values bit for bit.

    Why: reading rows of a memory-mapped ``data.npy`` through the map leaves
    every touched page in the process's resident set until the map is
    closed; over an epoch or an evaluation of NTU-120 that is the whole
    3.4 GB file. Here the rows of a read-only memory map are read with
    positional reads (``os.preadv``, one per run of consecutive indices) into
    ``out`` (a new array when None); the pages stay in the page cache,
    shared and reclaimable, not in this process. Any other array is indexed
    as before (``np.ascontiguousarray(data[idx])``).

    ``idx``: ``(B,)`` integer dataset indices in ``[0, N)``, any order (sorted
    indices read fastest). ``out``: C-contiguous, of that shape and dtype.
    """
    idx = np.asarray(idx, dtype=np.int64).reshape(-1)
    where = _mapped_rows(data)
    if where is None or len(idx) == 0:
        rows = np.ascontiguousarray(data[idx])
        if out is None:
            return rows
        out[...] = rows
        return out
    if idx.min() < 0 or idx.max() >= len(data):
        raise IndexError(f"row index out of range for {len(data)} rows")
    out = np.empty((len(idx), *data.shape[1:]), dtype=data.dtype) if out is None else out
    row = data.strides[0]
    buffer = memoryview(out.reshape(-1).view(np.uint8))
    fd = os.open(where[0], os.O_RDONLY)
    try:
        starts, ends = _runs(idx)
        for start, end, first in zip(starts.tolist(), ends.tolist(), idx[starts].tolist()):  # plain ints: faster
            _pread_into(fd, buffer[start * row : end * row], where[1] + first * row)
    finally:
        os.close(fd)
    return out


def _pread_into(fd: int, buffer: memoryview, position: int) -> None:
    """Fill ``buffer`` from ``fd`` at ``position`` (``preadv`` may return fewer bytes than asked)."""
    while len(buffer):
        got = os.preadv(fd, [buffer], position)
        if got <= 0:
            raise OSError(f"unexpected end of file while reading {len(buffer)} bytes at {position}")
        buffer, position = buffer[got:], position + got


def _check_labels(labels: np.ndarray, path: Path, num_classes: int | None = None, classes_from: str = "",
                  record: Callable[[int], str] = "sample {}".format) -> np.ndarray:
    """``(N,)`` class indices as int64, or a DataError naming the file, the record and the problem.

    Refused: non-numeric arrays (bool, complex, object, string), NaN or
    fractional values, negative labels, and labels ``>= num_classes`` (when
    the source names its classes; ``classes_from`` says where from) or
    absurdly large. Integral floats (``3.0``) are accepted as before.
    """
    if labels.dtype.kind not in "iuf":
        raise DataError(f"{path}: labels must be integers, got a {labels.dtype} array")
    if labels.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(labels) | (np.mod(labels, 1) != 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"{path}: {record(i)}: label {labels[i].item()!r} is not an integer")
    if not len(labels):
        return labels.astype(np.int64)
    if labels.min() < 0:
        i = int(np.argmax(labels < 0))
        raise DataError(f"{path}: {record(i)}: negative label {labels[i].item()}")
    limit = _MAX_LABEL if num_classes is None else num_classes
    if labels.max() >= limit:
        i = int(np.argmax(labels >= limit))
        known = (f"{classes_from} names {num_classes} classes (labels 0..{num_classes - 1})"
                 if num_classes is not None else "labels are class indices")
        raise DataError(f"{path}: {record(i)}: label {labels[i].item()} is out of range: {known}")
    return labels.astype(np.int64)


def _one_hot_to_index(labels: np.ndarray, path: Path) -> np.ndarray:
    """``(N, K)`` one-hot (or score) rows -> ``(N,)`` indices; every row needs a positive entry."""
    if labels.dtype.kind not in "biuf":
        raise DataError(f"{path}: labels must be numbers, got a {labels.dtype} array")
    if len(labels) and labels.shape[1]:
        rows = labels.astype(np.float64)
        bad = ~np.isfinite(rows).all(axis=1) | ~(rows.max(axis=1) > 0)
        if bad.any():
            raise DataError(f"{path}: sample {int(np.argmax(bad))}: one-hot label row has no positive entry")
    return labels.argmax(axis=1)


def _read_array_pair(data_path: Path, label_path: Path,
                     num_classes: int | None = None, classes_from: str = "") -> tuple[np.ndarray, np.ndarray]:
    if not label_path.is_file():
        raise DataError(f"{data_path}: label file {label_path.name} not found beside it")
    try:
        data = np.load(data_path, mmap_mode="r")
    except Exception as err:  # numpy raises several types for corrupt files
        raise DataError(f"{data_path}: cannot read as .npy ({err})") from None
    try:
        labels = np.load(label_path, allow_pickle=False)
    except Exception as err:
        raise DataError(f"{label_path}: cannot read as .npy ({err})") from None
    if data.ndim != 5 or data.shape[1] != 3:
        raise DataError(f"{data_path}: expected shape (N, 3, T, V, M), got {tuple(data.shape)}")
    if labels.ndim == 2:  # one-hot labels
        labels = _one_hot_to_index(labels, label_path)
    if labels.ndim != 1 or len(labels) != len(data):
        raise DataError(
            f"{label_path}: {len(labels)} labels of shape {tuple(labels.shape)} for {len(data)} samples in {data_path.name}"
        )
    labels = _check_labels(labels, label_path, num_classes, classes_from=classes_from)
    _check_samples(data, data_path)
    return np.ascontiguousarray(data, dtype=np.float32), labels


def _layout_of(data: np.ndarray, path: Path) -> str:
    try:
        return layout_for_joints(data.shape[3]).name
    except ValueError as err:
        raise DataError(f"{path}: {err}") from None


def _load_npy_pair(path: Path) -> SkeletonSet:
    stem = path.name
    if stem.endswith("_data.npy"):
        data_path, label_path = path, path.with_name(stem[: -len("_data.npy")] + "_label.npy")
    elif stem.endswith("_label.npy"):
        data_path, label_path = path.with_name(stem[: -len("_label.npy")] + "_data.npy"), path
    else:
        raise DataError(f"{path}: expected a file named X_data.npy (with X_label.npy beside it)")
    names = _sibling_classes(data_path)
    data, labels = _read_array_pair(data_path, label_path, *_class_count(names, data_path))
    return SkeletonSet(data, labels, layout=_layout_of(data, data_path), class_names=names, source=str(data_path))


def _read_manifest(folder: Path) -> tuple[dict, list[str], list[list[str]]]:
    """A prepared folder's ``manifest.json`` and ``samples.tsv`` (header, rows), checked."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        lines = (folder / "samples.tsv").read_text().splitlines()
    except (OSError, ValueError) as err:
        raise DataError(f"{folder}: not a readable pgfa prepared folder ({type(err).__name__}: {err})") from None
    if not isinstance(manifest, dict) or "dataset" not in manifest or not lines:
        raise DataError(f"{folder}: manifest.json has no 'dataset' or samples.tsv is empty; prepare it again")
    return manifest, lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


def _prepared_subsets(folder: Path, manifest: dict, header: list[str], rows: list[list[str]]) -> dict:
    """The cross-subject split a prepared folder's manifest records (empty when none)."""
    if not manifest.get("split_column"):
        return {}
    if manifest["split_column"] not in header:
        raise DataError(f"{folder}: samples.tsv has no column {manifest['split_column']!r} named by manifest.json")
    column = header.index(manifest["split_column"])
    values = np.array([r[column] for r in rows])
    if "test_videos" in manifest:  # PKU-MMD: the published test videos
        train = ~np.isin(values, manifest["test_videos"])
    else:  # NTU: the training performers
        train = np.isin(values.astype(int), manifest["train_subjects"])
    return {"train": np.flatnonzero(train), "test": np.flatnonzero(~train)}


def _load_prepared(folder: Path) -> SkeletonSet:
    """A folder written by ``pgfa prepare``: arrays, per-sample metadata, cross-subject split."""
    manifest, header, rows = _read_manifest(folder)
    try:  # prepare mocap writes the folder's own classes.txt; NTU / PKU folders use the built-in lists
        texts = (read_class_file(folder / "classes.txt") if (folder / "classes.txt").is_file()
                 else builtin_classes(manifest["dataset"]))
    except ValueError as err:
        raise DataError(f"{folder / 'manifest.json'}: {err}") from None
    data, labels = _read_array_pair(folder / "data.npy", folder / "label.npy", len(texts),
                                    f"dataset {manifest['dataset']}")
    if len(rows) != len(labels):
        raise DataError(f"{folder}: samples.tsv has {len(rows)} rows for {len(labels)} samples")
    subsets = _prepared_subsets(folder, manifest, header, rows)
    return SkeletonSet(data, labels, layout=_layout_of(data, folder), class_names=[t.name for t in texts],
                       class_descriptions=[t.description for t in texts], sample_ids=[r[0] for r in rows],
                       subsets=subsets, source=str(folder))


def _load_npy_folder(folder: Path) -> SkeletonSet:
    if (folder / "manifest.json").is_file() and (folder / "data.npy").is_file():
        return _load_prepared(folder)
    pairs = {name: folder / f"{name}_data.npy" for name in ("train", "test")}
    if not all(p.is_file() for p in pairs.values()):
        found = sorted(p.name for p in folder.glob("*_data.npy"))
        if len(found) == 1:
            return _load_npy_pair(folder / found[0])
        raise DataError(
            f"{folder}: expected train_data.npy/train_label.npy and test_data.npy/test_label.npy "
            f"(found: {', '.join(found) or 'no *_data.npy'})"
        )
    names = _sibling_classes(pairs["train"])
    count = _class_count(names, pairs["train"])
    parts = {name: _read_array_pair(p, folder / f"{name}_label.npy", *count) for name, p in pairs.items()}
    shapes = {name: part[0].shape[1:] for name, part in parts.items()}
    if shapes["train"] != shapes["test"]:
        raise DataError(f"{folder}: train and test samples differ in shape: {shapes}")
    data = np.concatenate([parts["train"][0], parts["test"][0]])
    labels = np.concatenate([parts["train"][1], parts["test"][1]])
    n_train = len(parts["train"][1])
    subsets = {"train": np.arange(n_train), "test": np.arange(n_train, len(labels))}
    return SkeletonSet(data, labels, layout=_layout_of(data, folder), class_names=names,
                       subsets=subsets, source=str(folder))


def _sibling_classes(path: Path) -> list[str] | None:
    names = path.with_name("classes.txt")
    if names.is_file():
        return [line.split("\t")[0].strip() for line in read_utf8(names).splitlines() if line.strip()]
    return None


def _class_count(names: list[str] | None, path: Path) -> tuple[int | None, str]:
    """``(number of classes, where that number comes from)`` for the label range check."""
    return (None, "") if names is None else (len(names), str(path.with_name("classes.txt")))


def _pickle_label(value, where: str) -> int | float:
    """One annotation's label as a number, refusing what is not one number (str, bool, None, lists...)."""
    try:
        array = np.asarray(value)
    except Exception:  # a ragged list and the like
        array = np.asarray(None)
    if array.size != 1 or array.dtype.kind not in "iuf":
        raise DataError(f"{where}: label must be an integer, got {type(value).__name__} {str(value)[:40]!r}")
    return array.reshape(()).item()


def _pickle_keypoints(ann: dict, where: str, max_bodies: int) -> np.ndarray:
    """An annotation's ``keypoint`` as ``(M, T, V, 3)`` float64, checked, at most ``max_bodies`` bodies."""
    try:
        raw = np.asarray(ann["keypoint"])
    except Exception:
        raise DataError(f"{where}: keypoint is not a rectangular array") from None
    if raw.dtype.kind not in "iuf":
        raise DataError(f"{where}: keypoint must hold real numbers, got a {raw.dtype} array")
    kp = raw.astype(np.float64)
    if kp.ndim != 4 or kp.shape[-1] != 3:
        raise DataError(f"{where}: keypoint must be (M, T, V, 3) 3D coordinates, got shape {kp.shape}")
    if kp.shape[0] == 0:
        raise DataError(f"{where}: keypoint holds no body (M = 0)")
    if kp.shape[1] == 0:
        raise DataError(f"{where}: zero frames")
    if not np.isfinite(kp).all():
        raise DataError(f"{where}: NaN or infinite coordinates")
    return kp[:max_bodies]


def _pickle_annotations(content, path: Path) -> list[dict]:
    if not isinstance(content, dict) or "annotations" not in content:
        raise DataError(f"{path}: expected a dict with an 'annotations' list (pyskl format)")
    annotations = content["annotations"]
    if not isinstance(annotations, (list, tuple)):
        raise DataError(f"{path}: 'annotations' is a {type(annotations).__name__}, expected a list")
    if not annotations:
        raise DataError(f"{path}: 'annotations' is empty")
    return list(annotations)


def _pickle_subsets(content: dict, path: Path, ids: list[str]) -> dict[str, np.ndarray]:
    """The pickle's ``split`` (name -> clip ids) as index arrays."""
    split = content.get("split") or {}
    if not isinstance(split, dict):
        raise DataError(f"{path}: 'split' is a {type(split).__name__}, expected a dict of clip-id lists")
    subsets = {}
    position = {clip_id: i for i, clip_id in enumerate(ids)}
    for name, members in split.items():
        if not isinstance(members, (list, tuple)):
            raise DataError(f"{path}: split {name!r} is a {type(members).__name__}, expected a list of clip ids")
        unknown = [m for m in members if not isinstance(m, str) or m not in position]
        if unknown:
            raise DataError(f"{path}: split {name!r} names {len(unknown)} unknown clips, e.g. {unknown[0]!r}")
        subsets[name] = np.array(sorted(position[m] for m in members), dtype=np.int64)
    return subsets


def load_pyskl_pickle(path: str | Path, frames: int = 50, max_bodies: int = 2,
                      trust_pickle: bool = False) -> SkeletonSet:
    """Read a pyskl-style annotation pickle of 3D keypoints and preprocess every clip.

    The file is unpickled by :func:`pgfa.data.safe_pickle.load_pickle` (no
    code runs unless ``trust_pickle``). Returns ``data`` ``(N, 3, frames, V,
    M)`` float32 with M the most bodies of any clip (at most ``max_bodies``).
    """
    path = Path(path)
    annotations = _pickle_annotations(content := load_pickle(path, trust=trust_pickle), path)
    class_names = _sibling_classes(path)
    clips, labels, ids = [], [], []
    layout = None
    for i, ann in enumerate(annotations):
        if not isinstance(ann, dict):
            raise DataError(f"{path}: annotation {i} is a {type(ann).__name__}, expected a dict")
        clip_id = str(ann.get("frame_dir", i))
        where = f"{path}: annotation {i} ({clip_id})"
        missing = [k for k in ("keypoint", "label") if k not in ann]
        if missing:
            raise DataError(f"{where}: missing key(s) {', '.join(missing)}")
        labels.append(_pickle_label(ann["label"], where))
        kp = _pickle_keypoints(ann, where, max_bodies)
        if layout is None:
            try:
                layout = layout_for_joints(kp.shape[2])
            except ValueError as err:
                raise DataError(f"{where}: {err}") from None
        elif kp.shape[2] != layout.num_joints:
            raise DataError(f"{where}: {kp.shape[2]} joints, earlier clips have {layout.num_joints}")
        try:
            clips.append(preprocess_sequence(kp, layout, frames=frames))
        except ValueError as err:
            raise DataError(f"{where}: {err}") from None
        ids.append(clip_id)
    labels = _check_labels(np.array(labels), path, *_class_count(class_names, path),
                           record=lambda i: f"annotation {i} ({ids[i]})")
    bodies = max(c.shape[-1] for c in clips)
    data = np.zeros((len(clips), 3, frames, layout.num_joints, bodies), dtype=np.float32)
    for i, c in enumerate(clips):
        data[i, ..., : c.shape[-1]] = c
    return SkeletonSet(
        data, labels, layout=layout.name, class_names=class_names,
        sample_ids=ids, subsets=_pickle_subsets(content, path, ids), source=str(path),
    )


def _npz_part(content, path: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """``x_{part}`` ``(N, T, 150)`` and ``y_{part}`` ``(N,)`` of a CTR-GCN ``.npz``, checked."""
    try:
        x, y = content[f"x_{part}"], content[f"y_{part}"]
    except Exception as err:  # object arrays need pickle, which is never allowed here
        raise DataError(f"{path}: cannot read x_{part}/y_{part} ({err})") from None
    if x.ndim != 3 or x.shape[2] != 150:
        raise DataError(f"{path}: x_{part} must be (N, T, 150) (2 bodies x 25 joints x 3), got {x.shape}")
    if x.dtype.kind not in "iuf":
        raise DataError(f"{path}: x_{part} must hold real numbers, got a {x.dtype} array")
    y = _one_hot_to_index(y, path) if y.ndim == 2 else y
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{path}: {len(y)} labels in y_{part} for {len(x)} clips in x_{part}")
    return x, _check_labels(y, path, record=f"y_{part}[{{}}]".format)


def load_ctrgcn_npz(path: str | Path, frames: int = 50) -> SkeletonSet:
    """Read a CTR-GCN style ``.npz`` (NTU 25 joints, 2 bodies) and preprocess every clip."""
    path = Path(path)
    try:
        content = np.load(path)
    except Exception as err:
        raise DataError(f"{path}: cannot read as .npz ({err})") from None
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in content.files]
    if missing:
        raise DataError(f"{path}: missing array(s) {', '.join(missing)} (expected x_train, y_train, x_test, y_test)")
    clips, labels, parts = [], [], {}
    for part in ("train", "test"):
        x, y = _npz_part(content, path, part)
        start = len(clips)
        for i, clip in enumerate(x):
            kp = clip.reshape(clip.shape[0], 2, 25, 3).transpose(1, 0, 2, 3)  # (M, T, V, 3)
            try:
                clips.append(preprocess_sequence(kp, "ntu25", frames=frames))
            except ValueError as err:
                raise DataError(f"{path}: x_{part}[{i}]: {err}") from None
        labels.extend(int(v) for v in y)
        parts[part] = np.arange(start, len(clips))
    data = np.stack(clips).astype(np.float32)
    return SkeletonSet(data, np.array(labels, dtype=np.int64), layout="ntu25", subsets=parts, source=str(path))


def _sequence_files(paths: list[str | Path]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix in (".skeleton", ".npy", ".pkl")
                                or f.suffix.lower() in _RECORDING_SUFFIXES))
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    if not files:
        given = ", ".join(str(p) for p in paths)
        raise DataError(f"{given}: no input sequences found (.skeleton, .npy, .pkl or a recording: "
                        f"{', '.join(sorted(_RECORDING_SUFFIXES))})")
    return files


# Device / motion-capture recordings (pgfa.data.recording_io): .amc (+ .asf), .bvh, body-tracking .json, .csv
_RECORDING_SUFFIXES = (".amc", ".bvh", ".json", ".csv")


def _read_sequence_file(f: Path, frames: int, trust_pickle: bool,
                        reader_options: dict | None = None) -> tuple[np.ndarray, list[str]]:
    """One prediction input as ``((N, 3, T, V, M) array, N ids)``."""
    if f.suffix.lower() in _RECORDING_SUFFIXES:
        from pgfa.data.recording_io import read_sequence

        return read_sequence(f, frames=frames, **(reader_options or {}))[None], [f.stem]
    if f.suffix == ".skeleton":
        try:
            array = preprocess_sequence(read_ntu_skeleton(f).keypoints, "ntu25", frames=frames)[None]
        except ValueError as err:
            raise DataError(err if str(err).startswith(str(f)) else f"{f}: {err}") from None
        return array, [f.stem]
    if f.suffix == ".pkl":
        s = load_pyskl_pickle(f, frames=frames, trust_pickle=trust_pickle)
        return s.data, [f"{f.stem}/{i}" for i in (s.sample_ids or range(len(s)))]
    if f.suffix == ".npy":
        try:
            array = np.load(f, allow_pickle=False)
        except Exception as err:
            raise DataError(f"{f}: cannot read as .npy ({err})") from None
        if array.ndim == 4:
            array = array[None]
        if array.ndim != 5 or array.shape[1] != 3:
            raise DataError(f"{f}: expected (3, T, V, M) or (N, 3, T, V, M), got {array.shape}")
        _check_samples(array, f)
        return array, [f.stem] if len(array) == 1 else [f"{f.stem}[{i}]" for i in range(len(array))]
    raise DataError(f"{f}: unsupported input (give .skeleton, .npy, .pkl, .amc, .bvh, .json or .csv)")


def load_sequences(paths: list[str | Path], frames: int = 50, trust_pickle: bool = False,
                   reader_options: dict | None = None) -> tuple[list[str], np.ndarray, str]:
    """Unlabelled sequences for prediction: ``(ids, (N, 3, T, V, M) data, layout)``.

    Each path is a raw NTU ``.skeleton`` file, an ``.npy`` array (one
    ``(3, T, V, M)`` sequence or a ``(N, 3, T, V, M)`` batch, already
    preprocessed), a pyskl ``.pkl`` (read without running code unless
    ``trust_pickle``), a device / motion-capture recording (``.amc`` with its
    ``.asf``, ``.bvh``, Azure Kinect or MediaPipe ``.json``, MediaPipe ``.csv``;
    :mod:`pgfa.data.recording_io`, with ``reader_options`` such as ``asf``,
    ``rate``, ``units``), or a folder of such files.
    """
    ids, parts, layouts = [], [], set()
    for f in _sequence_files(paths):
        array, names = _read_sequence_file(f, frames, trust_pickle, reader_options)
        layouts.add(_layout_of(array, f))
        ids.extend(names)
        if parts and array.shape[1:4] != parts[0].shape[1:4]:
            raise DataError(f"{f}: shape {array.shape[1:]} differs from earlier inputs {parts[0].shape[1:]}")
        parts.append(array.astype(np.float32))
    if len(layouts) > 1:
        raise DataError(f"inputs mix joint layouts: {', '.join(sorted(layouts))}")
    bodies = max(p.shape[-1] for p in parts)
    parts = [np.concatenate([p, np.zeros(p.shape[:-1] + (bodies - p.shape[-1],), np.float32)], -1) for p in parts]
    return ids, np.concatenate(parts), layouts.pop()
