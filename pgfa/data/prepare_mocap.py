"""``pgfa prepare mocap``: a folder of your own recordings -> the same prepared folder as ``prepare ntu``.

Every ``.amc``, ``.bvh``, ``.json`` and ``.csv`` file under ``raw`` (searched
recursively; ``.asf`` skeletons are found beside their ``.amc`` files) is read
by :mod:`pgfa.data.recording_io`: converted to the NTU 25-joint layout,
resampled to 30 Hz and preprocessed as SPEC section 2, exactly like a
``.skeleton`` file in ``prepare ntu``. Output: ``data.npy`` ``(N, 3, T, 25,
2)``, ``label.npy``, ``samples.tsv`` (name, file, subject, source frames and
rate, action), ``manifest.json`` and ``classes.txt``.

Labels, one of:

* ``label_from_name``: a regular expression searched in each file's name
  (without suffix); its first group is the class name, e.g.
  ``HDM_[a-z]+_(.+)_[0-9]+_120`` for HDM05's motion field;
* ``labels``: a file of ``<file><TAB><class name>`` lines, the file given by
  its name, its name without suffix, or its path relative to ``raw``.

Class order (label i is line i of ``classes.txt``): the order of a
``classes`` file (``name`` or ``name<TAB>description`` lines; it must name
every class found, and its descriptions are kept for the text encoder), else
the order of first appearance in the ``labels`` file, else alphabetical.
"""
from __future__ import annotations

import re
from contextlib import closing
from pathlib import Path

import numpy as np

from pgfa.data.asf_amc import CMU_NAME, HDM05_NAME
from pgfa.data.class_texts import read_class_file
from pgfa.data.prepare import _check_bad, _good_clips, _iter_jobs, _refuse_existing, _Staging, remove_stale_staging
from pgfa.data.recording import DataError
from pgfa.data.recording_io import RECORDING_SUFFIXES, read_recording, recording_to_layout
from pgfa.data.preprocess import preprocess_sequence

BODIES = 2


def _subject(stem: str) -> str:
    """Actor / subject from an HDM05 (``HDM_bd_...``) or CMU (``07_03``) name, else empty."""
    for pattern in (HDM05_NAME, CMU_NAME):
        match = pattern.match(stem)
        if match:
            return match.group(1)
    return ""


def _mocap_job(args: tuple[str, str, int, int, dict]) -> tuple[str, list | str]:
    """Worker: one recording file -> its sample ``(3, T, 25, 2)``, or an error message naming the file."""
    path, relative, label, frames, options = args
    try:
        recording = read_recording(path, **options)
        keypoints = recording_to_layout(recording, "ntu25")[:BODIES]
        array = preprocess_sequence(keypoints, "ntu25", frames=frames)
    except (DataError, ValueError) as err:
        message = str(err)
        return path, message if message.startswith(path) else f"{path}: {message}"
    padded = np.zeros(array.shape[:-1] + (BODIES,), dtype=np.float32)
    padded[..., : array.shape[-1]] = array  # an absent second body is zeros (SPEC 2), never a copy
    meta = {"name": Path(path).stem, "file": relative, "subject": _subject(Path(path).stem),
            "source_frames": len(recording.times), "source_rate": round(recording.rate, 3)}
    return path, [(padded, label, meta)]


def _labels_from_file(labels: Path) -> list[tuple[str, str]]:
    rows = []
    for number, line in enumerate(labels.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, label = line.partition("\t")
        if not sep or not label.strip():
            raise DataError(f"{labels}:{number}: expected '<file><TAB><class name>', got {line!r}")
        rows.append((name.strip(), label.strip()))
    if not rows:
        raise DataError(f"{labels}: no '<file><TAB><class name>' lines")
    return rows


def assign_labels(files: list[Path], raw: Path, labels: str | Path | None = None,
                  label_from_name: str | None = None) -> tuple[dict[Path, str], list[str]]:
    """Class name per file (files without one are left out) and the classes in order of first appearance."""
    if (labels is None) == (label_from_name is None):
        raise ValueError("give exactly one of --labels FILE or --label-from-name REGEX")
    found: dict[Path, str] = {}
    if label_from_name is not None:
        try:
            pattern = re.compile(label_from_name)
        except re.error as err:
            raise ValueError(f"--label-from-name {label_from_name!r}: not a regular expression ({err})") from None
        if pattern.groups < 1:
            raise ValueError(f"--label-from-name {label_from_name!r}: needs a group (...) around the class name")
        for f in files:
            match = pattern.search(f.stem)
            if match and match.group(1):
                found[f] = match.group(1)
        return found, sorted(set(found.values()))
    rows = _labels_from_file(Path(labels))
    by_key = {}
    for f in files:
        for key in (f.name, f.stem, f.relative_to(raw).as_posix()):
            by_key.setdefault(key, f)
    order: list[str] = []
    for name, label in rows:
        if name not in by_key:
            raise DataError(f"{labels}: {name!r} names no recording file under {raw}")
        found[by_key[name]] = label
        if label not in order:
            order.append(label)
    return found, order


def _class_order(found: dict[Path, str], order: list[str], classes: str | Path | None,
                 alphabetical: bool) -> tuple[list[str], list[str] | None]:
    """``(names, descriptions or None)`` in the folder's class order."""
    if classes is None:
        return (sorted(order) if alphabetical else order), None
    try:
        texts = read_class_file(classes)
    except (OSError, ValueError) as err:
        raise DataError(str(err)) from None
    names = [t.name for t in texts]
    unknown = sorted(set(found.values()) - set(names))
    if unknown:
        raise DataError(f"{classes}: does not name the class(es) {', '.join(unknown)} found in the labels")
    return names, [t.description for t in texts]


def prepare_mocap(raw: str | Path, out: str | Path, labels: str | Path | None = None,
                  label_from_name: str | None = None, classes: str | Path | None = None, frames: int = 50,
                  workers: int = 1, skip_bad: bool = False, force: bool = False, progress: bool = True,
                  **reader_options) -> dict:
    """Read, label, preprocess and store every recording under ``raw``; returns the manifest.

    ``reader_options``: ``asf``, ``rate``, ``units``, ``max_bodies`` (see
    :func:`pgfa.data.recording_io.read_recording`), applied to every file.
    """
    raw, out = Path(raw), Path(out)
    if not raw.is_dir():
        raise DataError(f"{raw}: no such folder")
    _refuse_existing(out, force, [raw])
    remove_stale_staging(out)
    exclude = {Path(p).resolve() for p in (labels, classes) if p is not None and Path(p).is_file()}
    files = sorted(f for f in raw.rglob("*") if f.suffix.lower() in RECORDING_SUFFIXES and f.is_file()
                   and f.resolve() not in exclude)
    if not files:
        raise DataError(f"{raw}: no recording files ({', '.join(RECORDING_SUFFIXES)}) found")
    found, order = assign_labels(files, raw, labels, label_from_name)
    names, descriptions = _class_order(found, order, classes, alphabetical=labels is None)
    index = {name: i for i, name in enumerate(names)}
    bad = [{"file": f.name, "reason": f"{f}: no class name (label rule does not match)"} for f in files
           if f not in found]
    jobs = [(str(f), f.relative_to(raw).as_posix(), index[found[f]], frames, dict(reader_options))
            for f in files if f in found]
    with _Staging(out, frames, [raw]) as staging, \
            closing(_iter_jobs(_mocap_job, jobs, workers, progress, "reading recordings")) as results:
        for array, label, meta in _good_clips(results, bad, skip_bad):
            staging.add(array, label, meta)
        _check_bad(bad, skip_bad)
        lines = [f"{n}\t{d}" if descriptions and d else n for n, d in zip(names, descriptions or names)]
        (staging.dir / "classes.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        manifest = {
            "dataset": "mocap", "source": str(raw.resolve()), "files_found": len(files), "skipped": bad,
            "classes": names, "label_rule": (f"--label-from-name {label_from_name}" if label_from_name
                                             else f"--labels {Path(labels).resolve()}"),
            "class_order": "classes file" if classes else ("labels file" if labels else "alphabetical"),
            "reader_options": {k: str(v) for k, v in reader_options.items() if v is not None},
            "frame_rate": "each file resampled to 30 Hz (NTU) before preprocessing",
            "layout": "ntu25 from each source layout (pgfa layouts), metres, y up",
            "split_column": None,
        }
        return staging.finish(manifest)
