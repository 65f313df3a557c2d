"""Readers: every supported input turns into a :class:`SkeletonSet`.

Supported for ``--data``:

* ``synthetic`` or ``synthetic:key=value,...``: the built-in benchmark
  (:mod:`pgfa.data.synthetic`), generated on the fly, no file needed;
* a processed array pair ``X_data.npy`` ``(N, 3, T, V, M)`` + ``X_label.npy``
  ``(N,)`` (give either file), or a folder holding ``train_data.npy`` /
  ``train_label.npy`` and ``test_data.npy`` / ``test_label.npy`` (these become
  the official train/test sample split);
* a CTR-GCN style ``.npz`` (``x_train``/``y_train``/``x_test``/``y_test``,
  ``x`` ``(N, T, 150)`` = 2 bodies x 25 joints x xyz per frame, labels one-hot
  or integers): every clip goes through the same SPEC section 2
  preprocessing, so it matches data prepared from raw files;
* a pyskl-style pickle ``{'split': {...}, 'annotations': [{'keypoint':
  (M, T, V, 3), 'label', 'frame_dir', ...}]}``: each clip is preprocessed as
  SPEC section 2 (centre, resample to T frames, rotate). A ``classes.txt``
  beside it names the classes.

Every reader checks what it reads and raises :class:`DataError` naming the
file (and the record) and the problem.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from pgfa.data.layouts import get_layout, layout_for_joints
from pgfa.data.preprocess import preprocess_sequence
from pgfa.data.skeletons import SkeletonSet


class DataError(ValueError):
    """Input data that cannot be used; the message names the file and the problem."""


def load_skeletons(spec: str | Path, frames: int = 50, max_bodies: int = 2) -> SkeletonSet:
    """Read any supported input (see module docstring) into a :class:`SkeletonSet`."""
    text = str(spec)
    if text == "synthetic" or text.startswith("synthetic:"):
        return _load_synthetic(text, frames)
    path = Path(text).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        return _load_npy_folder(path)
    if path.suffix in (".pkl", ".pickle"):
        return load_pyskl_pickle(path, frames=frames, max_bodies=max_bodies)
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
    from pgfa.data.synthetic import generate

    options = parse_synthetic_spec(text)
    options.setdefault("frames", frames)
    try:
        return generate(**options)
    except TypeError as err:
        raise DataError(f"{text!r}: {err}") from None


def _check_finite(data: np.ndarray, path: Path) -> None:
    """Raise naming the first sample with NaN/inf; scans in chunks so memory maps stay cheap."""
    chunk = max(1, 2**24 // max(1, int(np.prod(data.shape[1:]))))
    for start in range(0, len(data), chunk):
        block = np.asarray(data[start : start + chunk])
        bad = ~np.isfinite(block).reshape(len(block), -1).all(axis=1)
        if bad.any():
            first = start + int(np.argmax(bad))
            raise DataError(f"{path}: sample {first} contains NaN or infinite coordinates")


def _read_array_pair(data_path: Path, label_path: Path) -> tuple[np.ndarray, np.ndarray]:
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
        labels = labels.argmax(axis=1)
    if labels.ndim != 1 or len(labels) != len(data):
        raise DataError(
            f"{label_path}: {len(labels)} labels of shape {tuple(labels.shape)} for {len(data)} samples in {data_path.name}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.mod(labels, 1) == 0):
            raise DataError(f"{label_path}: labels must be integers")
    labels = labels.astype(np.int64)
    if len(labels) and labels.min() < 0:
        raise DataError(f"{label_path}: negative label {labels.min()}")
    _check_finite(data, data_path)
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
    data, labels = _read_array_pair(data_path, label_path)
    return SkeletonSet(data, labels, layout=_layout_of(data, data_path), class_names=_sibling_classes(data_path),
                       source=str(data_path))


def _load_prepared(folder: Path) -> SkeletonSet:
    """A folder written by ``pgfa prepare``: arrays, per-sample metadata, cross-subject split."""
    manifest = json.loads((folder / "manifest.json").read_text())
    data, labels = _read_array_pair(folder / "data.npy", folder / "label.npy")
    lines = (folder / "samples.tsv").read_text().splitlines()
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:]]
    if len(rows) != len(labels):
        raise DataError(f"{folder}: samples.tsv has {len(rows)} rows for {len(labels)} samples")
    subsets = {}
    if manifest.get("split_column"):  # cross-subject split, as the manifest records it
        column = header.index(manifest["split_column"])
        values = np.array([r[column] for r in rows])
        if "test_videos" in manifest:  # PKU-MMD: the published test videos
            train = ~np.isin(values, manifest["test_videos"])
        else:  # NTU: the training performers
            train = np.isin(values.astype(int), manifest["train_subjects"])
        subsets = {"train": np.flatnonzero(train), "test": np.flatnonzero(~train)}
    from pgfa.text.builtin import builtin_classes

    texts = builtin_classes(manifest["dataset"])
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
    parts = {name: _read_array_pair(p, folder / f"{name}_label.npy") for name, p in pairs.items()}
    shapes = {name: part[0].shape[1:] for name, part in parts.items()}
    if shapes["train"] != shapes["test"]:
        raise DataError(f"{folder}: train and test samples differ in shape: {shapes}")
    data = np.concatenate([parts["train"][0], parts["test"][0]])
    labels = np.concatenate([parts["train"][1], parts["test"][1]])
    n_train = len(parts["train"][1])
    subsets = {"train": np.arange(n_train), "test": np.arange(n_train, len(labels))}
    return SkeletonSet(data, labels, layout=_layout_of(data, folder), class_names=_sibling_classes(pairs["train"]),
                       subsets=subsets, source=str(folder))


def _sibling_classes(path: Path) -> list[str] | None:
    names = path.with_name("classes.txt")
    if names.is_file():
        return [line.split("\t")[0].strip() for line in names.read_text(encoding="utf-8").splitlines() if line.strip()]
    return None


def load_pyskl_pickle(path: str | Path, frames: int = 50, max_bodies: int = 2) -> SkeletonSet:
    """Read a pyskl-style annotation pickle of 3D keypoints and preprocess every clip."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            content = pickle.load(f)
    except Exception as err:
        raise DataError(f"{path}: cannot unpickle ({type(err).__name__}: {err})") from None
    if not isinstance(content, dict) or "annotations" not in content:
        raise DataError(f"{path}: expected a dict with an 'annotations' list (pyskl format)")
    annotations = content["annotations"]
    if not annotations:
        raise DataError(f"{path}: 'annotations' is empty")
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
        kp = np.asarray(ann["keypoint"], dtype=np.float64)
        if kp.ndim != 4 or kp.shape[-1] != 3:
            raise DataError(f"{where}: keypoint must be (M, T, V, 3) 3D coordinates, got shape {kp.shape}")
        if layout is None:
            try:
                layout = layout_for_joints(kp.shape[2])
            except ValueError as err:
                raise DataError(f"{where}: {err}") from None
        elif kp.shape[2] != layout.num_joints:
            raise DataError(f"{where}: {kp.shape[2]} joints, earlier clips have {layout.num_joints}")
        if kp.shape[1] == 0:
            raise DataError(f"{where}: zero frames")
        if not np.isfinite(kp).all():
            raise DataError(f"{where}: NaN or infinite coordinates")
        try:
            clips.append(preprocess_sequence(kp[:max_bodies], layout, frames=frames))
        except ValueError as err:
            raise DataError(f"{where}: {err}") from None
        labels.append(int(ann["label"]))
        ids.append(clip_id)
    bodies = max(c.shape[-1] for c in clips)
    data = np.zeros((len(clips), 3, frames, layout.num_joints, bodies), dtype=np.float32)
    for i, c in enumerate(clips):
        data[i, ..., : c.shape[-1]] = c
    subsets = {}
    split = content.get("split") or {}
    position = {clip_id: i for i, clip_id in enumerate(ids)}
    for name, members in split.items():
        unknown = [m for m in members if m not in position]
        if unknown:
            raise DataError(f"{path}: split {name!r} names {len(unknown)} unknown clips, e.g. {unknown[0]!r}")
        subsets[name] = np.array(sorted(position[m] for m in members), dtype=np.int64)
    return SkeletonSet(
        data, np.array(labels, dtype=np.int64), layout=layout.name, class_names=_sibling_classes(path),
        sample_ids=ids, subsets=subsets, source=str(path),
    )


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
        x, y = content[f"x_{part}"], content[f"y_{part}"]
        if x.ndim != 3 or x.shape[2] != 150:
            raise DataError(f"{path}: x_{part} must be (N, T, 150) (2 bodies x 25 joints x 3), got {x.shape}")
        y = y.argmax(axis=1) if y.ndim == 2 else y
        if len(y) != len(x):
            raise DataError(f"{path}: {len(y)} labels in y_{part} for {len(x)} clips in x_{part}")
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


def load_sequences(paths: list[str | Path], frames: int = 50) -> tuple[list[str], np.ndarray, str]:
    """Unlabelled sequences for prediction: ``(ids, (N, 3, T, V, M) data, layout)``.

    Each path is a raw NTU ``.skeleton`` file, an ``.npy`` array (one
    ``(3, T, V, M)`` sequence or a ``(N, 3, T, V, M)`` batch, already
    preprocessed), a pyskl ``.pkl``, or a folder of such files.
    """
    from pgfa.data.ntu import read_ntu_skeleton

    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix in (".skeleton", ".npy", ".pkl")))
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    if not files:
        raise DataError("no input sequences (.skeleton, .npy or .pkl) found")
    ids, parts, layouts = [], [], set()
    for f in files:
        if f.suffix == ".skeleton":
            array = preprocess_sequence(read_ntu_skeleton(f).keypoints, "ntu25", frames=frames)[None]
            names = [f.stem]
        elif f.suffix == ".pkl":
            s = load_pyskl_pickle(f, frames=frames)
            array, names = s.data, [f"{f.stem}/{i}" for i in (s.sample_ids or range(len(s)))]
        elif f.suffix == ".npy":
            array = np.load(f)
            if array.ndim == 4:
                array = array[None]
            if array.ndim != 5 or array.shape[1] != 3:
                raise DataError(f"{f}: expected (3, T, V, M) or (N, 3, T, V, M), got {array.shape}")
            _check_finite(array, f)
            names = [f.stem] if len(array) == 1 else [f"{f.stem}[{i}]" for i in range(len(array))]
        else:
            raise DataError(f"{f}: unsupported input (give .skeleton, .npy or .pkl)")
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
