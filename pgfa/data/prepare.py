"""``pgfa prepare ntu|pku``: raw dataset files -> model-ready arrays.

Output folder (written under a temporary name, renamed at the end, never
over an existing folder without ``force``, and even with it only over a
folder this step wrote itself, see :func:`_check_replaceable`):

=================  ==========================================================
``data.npy``       ``(N, 3, T, 25, 2)`` float32, preprocessed as SPEC §2
``label.npy``      ``(N,)`` int64, 0-based action
``samples.tsv``    per sample: name and source metadata (NTU: setup, camera,
                   performer, replication; PKU: video, start, end)
``manifest.json``  source, counts, skipped files and why, parameters, sha256
=================  ==========================================================

The step streams: workers parse files, results come back in file order, and
each clip is appended to the staging folder's ``data.npy`` as it arrives, so
memory does not grow with the number of files (see ``_NpyRows`` for how the
final row count, unknown until the end, gets into the header).

Failures: with ``skip_bad`` every per-file failure (unparsable, unreadable,
a header claiming more frames than the file can hold) is skipped and listed
in the manifest; a staging folder left by a killed earlier run is removed
on the next run to the same output; a full disk removes the staging folder
and raises :class:`~pgfa.data.errors.DiskFullError` saying so.

Published facts shipped as data files in ``pgfa/data/lists``: the NTU RGB+D
60/120 list of samples with missing skeletons (dropped, and named in the
manifest) and PKU-MMD Part I's cross-subject test videos (the manifest
records them; a prepared folder loads with that train/test split).
"""
from __future__ import annotations

import errno
import io
import json
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from pgfa.data.errors import DataError, DiskFullError
from pgfa.data.ntu import read_ntu_skeleton
from pgfa.data.pku import cut_pku_clips, read_pku_labels, read_pku_skeleton
from pgfa.data.preprocess import preprocess_sequence
from pgfa.io import process_alive, sha256_file, usual_permissions

# Cross-subject training performers (SPEC §2 for NTU-60; NTU-120 adds its own
# published list, from the NTU RGB+D 120 paper).
NTU60_TRAIN_SUBJECTS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
NTU120_TRAIN_SUBJECTS = NTU60_TRAIN_SUBJECTS + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
    89, 91, 92, 93, 94, 95, 97, 98, 100, 103,
)


Sample = tuple[np.ndarray, int, dict]  # (clip (3, T, 25, 2), 0-based label, metadata row)

# What a worker reports as one bad file instead of stopping the run (an
# OSError is an unreadable file, a UnicodeError an undecodable one).
_FILE_ERRORS = (DataError, ValueError, OSError, UnicodeError, MemoryError)

#: The files of a prepared folder; ``--force`` replaces only a folder holding nothing else.
PREPARED_FILES = frozenset({"data.npy", "label.npy", "samples.tsv", "manifest.json",
                            "classes.txt"})  # classes.txt: prepare mocap
_STAGING_MARK = ".pgfa-staging"  # in a staging folder: the pid of the process writing it


def _ntu_job(args: tuple[str, int]) -> tuple[str, list[Sample] | str]:
    """Worker: one .skeleton file -> its sample, or an error message naming the file."""
    path, frames = args
    try:
        s = read_ntu_skeleton(path)
        array = preprocess_sequence(s.keypoints, "ntu25", frames=frames)
    except _FILE_ERRORS as err:
        message = str(err) if isinstance(err, ValueError) else f"{type(err).__name__}: {err}"
        return path, message if message.startswith(path) else f"{path}: {message}"
    meta = {"name": Path(path).stem, "setup": s.setup, "camera": s.camera, "performer": s.performer,
            "replication": s.replication}
    return path, [(array, s.action, meta)]


def _pku_job(args: tuple[str, str, int]) -> tuple[str, list[Sample] | str]:
    """Worker: one PKU video + label file -> its clips, or an error message."""
    skeleton_path, label_path, frames = args
    try:
        video = read_pku_skeleton(skeleton_path)
        rows = read_pku_labels(label_path, len(video))
        samples = []
        for i, (row, clip) in enumerate(zip(rows, cut_pku_clips(video, rows))):
            try:
                array = preprocess_sequence(clip, "ntu25", frames=frames)
            except ValueError as err:
                raise DataError(f"{label_path}: row {i + 1}: {err}") from None
            meta = {"name": f"{Path(skeleton_path).stem}_{i:03d}", "video": Path(skeleton_path).stem,
                    "start": row[1], "end": row[2], "confidence": row[3]}
            samples.append((array, row[0], meta))
    except DataError as err:
        return skeleton_path, str(err)
    except _FILE_ERRORS as err:
        return skeleton_path, f"{skeleton_path}: {type(err).__name__}: {err}"
    return skeleton_path, samples


# Jobs go to the workers in tasks of at most _CHUNK jobs, with at most _WINDOW
# tasks per worker submitted and not yet consumed: results held in memory are
# bounded by workers * _WINDOW * _CHUNK jobs' clips, whatever the file count.
_CHUNK = 8
_WINDOW = 4


def _run_chunk(function: Callable, jobs: list) -> list:
    """Worker: run ``function`` over a few jobs (one task, to keep per-task overhead small)."""
    return [function(job) for job in jobs]


def _iter_jobs(function: Callable, jobs: list, workers: int, progress: bool, desc: str) -> Iterator:
    """Yield ``function(job)`` for every job, in job order, as results come in.

    With ``workers > 1`` a process pool runs them; only a window of tasks is
    submitted ahead of the consumer (``ProcessPoolExecutor.map`` would submit
    every job at once and keep every finished result until it is consumed).
    """
    with tqdm(total=len(jobs), desc=desc, disable=not progress) as bar:
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                result = function(job)
                bar.update()
                yield result
            return
        chunk = max(1, min(_CHUNK, len(jobs) // (workers * _WINDOW)))
        pending: deque = deque()
        pool = ProcessPoolExecutor(max_workers=workers)
        try:
            for start in range(0, len(jobs), chunk):
                pending.append(pool.submit(_run_chunk, function, jobs[start:start + chunk]))
                while len(pending) >= workers * _WINDOW or (pending and start + chunk >= len(jobs)):
                    results = pending.popleft().result()
                    bar.update(len(results))
                    yield from results
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)


def _check_bad(bad: list[dict], skip_bad: bool) -> None:
    if bad and not skip_bad:
        raise DataError(f"{len(bad)} bad file(s), first: {bad[0]['reason']} (use --skip-bad to skip and list them)")


def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    """The header ``np.save`` / ``open_memmap`` write for a C-order array of this dtype and shape."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                               "fortran_order": False, "shape": tuple(int(n) for n in shape)})
    return buf.getvalue()


class _NpyRows:
    """Append rows of a fixed shape to a ``.npy`` file whose row count is known only at the end.

    The file starts with the header for zero rows; rows are appended in order
    with plain buffered writes; ``close`` writes the header for the final count
    over the first one. numpy pads every header so that the first axis can
    grow to 21 digits without the header changing length
    (``np.lib.format.GROWTH_AXIS_MAX_DIGITS``, for in-place growth), so
    the final header fits exactly and the file ends up byte for byte what
    ``np.save`` of the whole array would write. If a numpy ever makes the two
    headers differ in length, ``close`` copies the rows behind the right header
    into a new file, chunk by chunk, instead.

    Why appending rather than a memory map of the largest possible count that
    is shrunk at the end: results arrive in final order, so nothing needs to be
    written by index; no upper bound is needed (PKU's clip count is known only
    after its label files are read, and skipped files and other-version clips
    only at the end); there is no truncation step; and written pages are not
    mapped into this process, so its resident memory stays small as well.
    """

    def __init__(self, path: Path, dtype, row_shape: tuple[int, ...], buffering: int = 1 << 20):
        self.path, self.dtype, self.row_shape, self.count = Path(path), np.dtype(dtype), tuple(row_shape), 0
        self._file = open(self.path, "wb", buffering=buffering)
        self._file.write(_npy_header(self.dtype, (0, *self.row_shape)))
        self._header_len = self._file.tell()

    def append(self, row) -> None:
        # broadcast and cast exactly as ``array[i] = row`` would
        row = np.broadcast_to(np.asarray(row), self.row_shape).astype(self.dtype)
        self._file.write(row.tobytes())
        self.count += 1

    def close(self) -> None:
        """Finish the file: the header now gives the number of rows written."""
        if self._file.closed:
            return
        header = _npy_header(self.dtype, (self.count, *self.row_shape))
        if len(header) == self._header_len:
            self._file.seek(0)
            self._file.write(header)
            self._file.close()
            return
        self._file.close()
        copy = self.path.with_name(self.path.name + ".resized")
        with open(self.path, "rb") as src, open(copy, "wb") as dst:
            dst.write(header)
            src.seek(self._header_len)
            shutil.copyfileobj(src, dst, 1 << 24)
        os.replace(copy, self.path)

    def discard(self) -> None:
        self._file.close()


def _disk_full(err: BaseException, out: Path) -> DiskFullError | None:
    """The error to raise instead of ``err`` when ``err`` says the disk is full (ENOSPC), else ``None``."""
    if not isinstance(err, OSError) or err.errno != errno.ENOSPC or isinstance(err, DiskFullError):
        return None
    kept = f"; the existing {out} is unchanged" if out.exists() else ""
    return DiskFullError(f"{out.parent}: the disk is full (no space left on device) while writing {out.name}; "
                         f"the partial output was removed{kept}. Free some space or give another --out")


def _check_replaceable(out: Path, inputs: Sequence[Path]) -> None:
    """Refuse (DataError naming what would be lost) unless ``--force`` may delete ``out``.

    ``out`` may be replaced only when it is a folder ``pgfa prepare`` wrote
    (a pgfa ``manifest.json`` and nothing but :data:`PREPARED_FILES`) and it
    neither is, contains nor lies inside an input folder (``--raw``, ``--labels``).
    """
    target = out.resolve()
    for given in inputs:
        source = Path(given).resolve()
        if target == source or target in source.parents or source in target.parents:
            relation = "is" if target == source else "contains" if target in source.parents else "lies inside"
            raise DataError(f"{out}: --force would delete it, but it {relation} the input {given}; "
                            "give another --out")
    if out.is_symlink() or not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder written by pgfa prepare; --force only replaces "
                        "such a folder; move it away or give another --out")
    try:
        manifest = json.loads((out / "manifest.json").read_text())
        ours = isinstance(manifest, dict) and {"dataset", "samples", "sha256"} <= set(manifest)
    except (OSError, ValueError):
        ours = False
    if not ours:
        raise DataError(f"{out}: has no manifest.json written by pgfa prepare, so it is not pgfa's to replace; "
                        "--force only replaces a prepared folder; move it away or give another --out")
    extra = sorted(p.name for p in out.iterdir() if p.name not in PREPARED_FILES)
    if extra:
        raise DataError(f"{out / extra[0]}: would be lost: --force only replaces a prepared folder holding just "
                        f"{', '.join(sorted(PREPARED_FILES))}; move the file away first")


def remove_stale_staging(out: Path) -> list[Path]:
    """Delete staging folders (``.{out.name}.partial-*``) that a killed earlier run left beside ``out``.

    A staging folder records the pid of the process writing it; one whose
    process still runs is kept, and so is any folder holding files that a
    staging folder never holds. Returns the folders removed.
    """
    removed = []
    for folder in sorted(out.parent.glob(f".{out.name}.partial-*")) if out.parent.is_dir() else []:
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            pid = int((folder / _STAGING_MARK).read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None and pid != os.getpid() and process_alive(pid):
            continue
        names = {p.name for p in folder.iterdir()}
        if names <= PREPARED_FILES | {_STAGING_MARK, "data.npy.resized"}:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class _Staging:
    """The output folder, built under a temporary name beside ``out`` and renamed onto it by ``finish``.

    Used as a context manager: leaving the block without ``finish`` (an error,
    Ctrl-C) deletes the staging folder and any parent folders it created, and
    leaves an existing ``out`` untouched; a full disk is reported as
    :class:`DiskFullError`. ``inputs`` are the folders ``out`` must never
    delete (see :func:`_check_replaceable`).
    """

    def __init__(self, out: Path, frames: int, inputs: Sequence[Path] = ()):
        self.out, self.frames, self.count, self.inputs = out, frames, 0, tuple(inputs)
        self._created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]  # deepest first
        out.parent.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
        self._done = False
        try:
            (self.dir / _STAGING_MARK).write_text(f"{os.getpid()}\n")
            self._data = _NpyRows(self.dir / "data.npy", np.float32, (3, frames, 25, 2))
            self._labels = _NpyRows(self.dir / "label.npy", np.int64, (), buffering=1 << 16)
            self._tsv = open(self.dir / "samples.tsv", "w")
        except BaseException as err:
            self._abort()
            full = _disk_full(err, out)
            if full is not None:
                raise full from err
            raise
        self._columns: list[str] | None = None

    def __enter__(self) -> "_Staging":
        return self

    def __exit__(self, kind, err, traceback) -> None:
        if not self._done:
            self._abort()
            full = _disk_full(err, self.out) if err is not None else None
            if full is not None:
                raise full from err

    def add(self, array: np.ndarray, label: int, meta: dict) -> None:
        if self._columns is None:
            self._columns = list(meta) + ["action"]
            self._tsv.write("\t".join(self._columns) + "\n")
        self._data.append(array)
        self._labels.append(label)
        self._tsv.write("\t".join(str(v) for v in [*meta.values(), label]) + "\n")
        self.count += 1

    def finish(self, manifest: dict) -> dict:
        """Close the files, checksum them, write the manifest, swap the folder in for ``out``."""
        if not self.count:
            raise DataError(f"{manifest['source']}: no usable sample")
        self._data.close()
        self._labels.close()
        self._tsv.close()
        manifest["samples"] = self.count
        manifest["preprocessing"] = {"frames": self.frames, "bodies": "first two per frame, file order (SPEC 2)",
                                     "center": "spine_shoulder (20) per frame", "rotate": "shoulders onto +x per frame"}
        manifest["sha256"] = {name: sha256_file(self.dir / name) for name in ("data.npy", "label.npy", "samples.tsv")}
        (self.dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        (self.dir / _STAGING_MARK).unlink()
        self._swap_in()
        self._done = True
        return manifest

    def _swap_in(self) -> None:
        """Rename the staging folder onto ``out``; an old ``out`` is moved aside first and deleted last."""
        usual_permissions(self.dir)  # mkdtemp made it 0700; the output gets what mkdir would give
        if not (self.out.exists() or self.out.is_symlink()):
            os.replace(self.dir, self.out)
            return
        _check_replaceable(self.out, self.inputs)  # again: it may have changed while we worked
        old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(self.out, old)
        try:
            os.replace(self.dir, self.out)
        except BaseException:
            os.replace(old, self.out)
            raise
        shutil.rmtree(old, ignore_errors=True)

    def _abort(self) -> None:
        for name in ("_data", "_labels"):
            if hasattr(self, name):
                getattr(self, name).discard()
        if hasattr(self, "_tsv"):
            self._tsv.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        for folder in self._created:
            try:
                folder.rmdir()
            except OSError:
                break


def _shipped_list(name: str) -> list[str]:
    """Non-comment lines of a list file in ``pgfa/data/lists``."""
    from importlib import resources

    text = resources.files("pgfa.data").joinpath("lists", name).read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def missing_skeleton_list() -> set[str]:
    """Sample names that NTU RGB+D lists as having missing skeletons (dropped by the reference pipeline).

    The dataset's own list for NTU RGB+D 120: 535 names, of which the 302
    with actions A001-A060 are NTU RGB+D 60's list.
    """
    return set(_shipped_list("ntu_missing_skeletons.txt"))


def pku_cross_subject_test_videos() -> list[str]:
    """PKU-MMD Part I's cross-subject test videos (``0291-L`` ... ``0334-R``); all others train."""
    return _shipped_list("pku_mmd_cross_subject_test.txt")


def _refuse_existing(out: Path, force: bool, inputs: Sequence[Path]) -> None:
    """Refuse an existing ``out`` before any work: without ``force`` always, with it unless pgfa may replace it."""
    if not (out.exists() or out.is_symlink()):
        return
    if not force:
        raise FileExistsError(f"{out} exists; pass --force to replace it (it is kept until the new one is complete)")
    _check_replaceable(out, inputs)


def _good_clips(results, bad: list[dict], skip_bad: bool):
    """Yield the clips of good results; record each bad file in ``bad``.

    Once a file is bad and ``skip_bad`` is off the run is bound to fail, so
    the remaining results are only read to count the bad files.
    """
    for path, result in results:
        if isinstance(result, str):
            bad.append({"file": Path(path).name, "reason": result})
        elif not bad or skip_bad:
            yield from result


def prepare_ntu(raw: str | Path, out: str | Path, workers: int = 2, frames: int = 50,
                version: str | None = None, skip_bad: bool = False, force: bool = False,
                progress: bool = True) -> dict:
    """Read, preprocess and store every NTU ``.skeleton`` file under ``raw``; returns the manifest."""
    raw, out = Path(raw), Path(out)
    _refuse_existing(out, force, [raw])
    remove_stale_staging(out)
    found = sorted(raw.rglob("*.skeleton"))
    if not found:
        raise DataError(f"{raw}: no .skeleton files found")
    listed = missing_skeleton_list()
    files = [f for f in found if f.stem not in listed]
    dropped = sorted(f.stem for f in found if f.stem in listed)
    version = version or None
    bad, detected, other_version = [], "ntu60", 0
    jobs = [(str(f), frames) for f in files]
    with _Staging(out, frames, [raw]) as staging, \
            closing(_iter_jobs(_ntu_job, jobs, workers, progress, "reading .skeleton files")) as results:
        for array, label, meta in _good_clips(results, bad, skip_bad):
            detected = "ntu120" if label >= 60 else detected
            if version in (None, "ntu120") or label < 60:
                staging.add(array, label, meta)
            else:
                other_version += 1
        _check_bad(bad, skip_bad)
        version = version or detected
        manifest = {
            "dataset": version, "detected_version": detected, "source": str(raw.resolve()),
            "files_found": len(found), "skipped": bad, "skipped_other_version": other_version,
            "dropped_missing_skeletons": dropped,
            "missing_skeleton_list": f"NTU RGB+D 120 list shipped with pgfa ({len(listed)} names, NTU-60's included)",
            "split_column": "performer",
            "train_subjects": list(NTU120_TRAIN_SUBJECTS if version == "ntu120" else NTU60_TRAIN_SUBJECTS),
        }
        return staging.finish(manifest)


def prepare_pku(raw: str | Path, labels: str | Path, out: str | Path, workers: int = 2, frames: int = 50,
                skip_bad: bool = False, force: bool = False, progress: bool = True) -> dict:
    """Cut every PKU-MMD video under ``raw`` into clips by its label file in ``labels``."""
    raw, labels, out = Path(raw), Path(labels), Path(out)
    _refuse_existing(out, force, [raw, labels])
    remove_stale_staging(out)
    label_files = sorted(labels.glob("*.txt"))
    if not label_files:
        raise DataError(f"{labels}: no label files (*.txt) found")
    jobs, missing = [], []
    for label_file in label_files:
        video = raw / label_file.name
        (jobs if video.is_file() else missing).append((str(video), str(label_file), frames))
    if missing and not skip_bad:
        raise DataError(f"{missing[0][1]}: no skeleton file {Path(missing[0][0]).name} in {raw} "
                        f"({len(missing)} label file(s) without video; --skip-bad skips them)")
    bad = []
    with _Staging(out, frames, [raw, labels]) as staging, \
            closing(_iter_jobs(_pku_job, jobs, workers, progress, "cutting PKU-MMD videos")) as results:
        videos = set()
        for array, label, meta in _good_clips(results, bad, skip_bad):
            staging.add(array, label, meta)
            videos.add(meta["video"])
        bad += [{"file": Path(m[0]).name, "reason": f"{m[1]}: no skeleton file in {raw}"} for m in missing]
        _check_bad(bad, skip_bad)
        manifest = {"dataset": "pku", "source": str(raw.resolve()), "labels": str(labels.resolve()),
                    "files_found": len(label_files), "skipped": bad,
                    "clip_crop": "centre crop to 300 frames before resampling",
                    **_pku_split_fields(videos)}
        return staging.finish(manifest)


def _pku_split_fields(videos: set[str]) -> dict:
    """Manifest fields for PKU-MMD's cross-subject split, or why there is none.

    The split needs both sides: with videos only from one side (a subset of
    the data, or Part II names that the Part I list does not cover) the
    folder is written without a sample split and the manifest says so.
    """
    test = pku_cross_subject_test_videos()
    n_test = len(videos.intersection(test))
    if 0 < n_test < len(videos):
        return {"split_column": "video", "test_videos": test,
                "split": f"PKU-MMD Part I cross-subject: {n_test} test videos of {len(videos)}"}
    return {"split_column": None,
            "split": f"none: {n_test} of {len(videos)} videos are in the cross-subject test list"}
