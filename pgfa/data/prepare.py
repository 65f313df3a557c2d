"""``pgfa prepare ntu|pku``: raw dataset files -> model-ready arrays.

Output folder (written under a temporary name, renamed at the end, never
over an existing folder without ``force``):

=================  ==========================================================
``data.npy``       ``(N, 3, T, 25, 2)`` float32, preprocessed as SPEC §2
``label.npy``      ``(N,)`` int64, 0-based action
``samples.tsv``    per sample: name and source metadata (NTU: setup, camera,
                   performer, replication; PKU: video, start, end)
``manifest.json``  source, counts, skipped files and why, parameters, sha256
=================  ==========================================================

Not yet here: the official lists of NTU samples with missing skeletons (such
files usually fail preprocessing with "no valid frame" and are skipped with
``skip_bad``) and PKU-MMD's published cross-subject video list (a prepared
PKU folder has no sample split yet).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from pgfa.data.formats import DataError
from pgfa.data.ntu import read_ntu_skeleton
from pgfa.data.pku import cut_pku_clips, read_pku_labels, read_pku_skeleton
from pgfa.data.preprocess import preprocess_sequence
from pgfa.io import sha256_file

# Cross-subject training performers (SPEC §2 for NTU-60; NTU-120 adds its own
# published list, from the NTU RGB+D 120 paper).
NTU60_TRAIN_SUBJECTS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
NTU120_TRAIN_SUBJECTS = NTU60_TRAIN_SUBJECTS + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
    89, 91, 92, 93, 94, 95, 97, 98, 100, 103,
)


Sample = tuple[np.ndarray, int, dict]  # (clip (3, T, 25, 2), 0-based label, metadata row)


def _ntu_job(args: tuple[str, int]) -> tuple[str, list[Sample] | str]:
    """Worker: one .skeleton file -> its sample, or an error message naming the file."""
    path, frames = args
    try:
        s = read_ntu_skeleton(path)
        array = preprocess_sequence(s.keypoints, "ntu25", frames=frames)
    except (DataError, ValueError) as err:
        message = str(err)
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
    return skeleton_path, samples


def _run_jobs(function, jobs: list, workers: int, progress: bool, desc: str) -> list:
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            stream = pool.map(function, jobs, chunksize=max(1, len(jobs) // (workers * 16)))
            return list(tqdm(stream, total=len(jobs), desc=desc, disable=not progress))
    return [function(job) for job in tqdm(jobs, desc=desc, disable=not progress)]


def _split_results(results: list, skip_bad: bool) -> tuple[list[Sample], list[dict]]:
    good = [sample for _, r in results if not isinstance(r, str) for sample in r]
    bad = [{"file": Path(p).name, "reason": r} for p, r in results if isinstance(r, str)]
    if bad and not skip_bad:
        raise DataError(f"{len(bad)} bad file(s), first: {bad[0]['reason']} (use --skip-bad to skip and list them)")
    return good, bad



def _write_prepared(out: Path, samples: list[Sample], frames: int, manifest: dict) -> dict:
    """Write the folder under a temporary name, then rename it onto ``out``."""
    if not samples:
        raise DataError(f"{manifest['source']}: no usable sample")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        data = np.lib.format.open_memmap(staging / "data.npy", mode="w+", dtype=np.float32,
                                         shape=(len(samples), 3, frames, 25, 2))
        for i, (array, _, _) in enumerate(samples):
            data[i] = array
        data.flush()
        del data
        np.save(staging / "label.npy", np.array([label for _, label, _ in samples], dtype=np.int64))
        columns = list(samples[0][2]) + ["action"]
        rows = ["\t".join(columns)]
        rows += ["\t".join(str(v) for v in [*meta.values(), label]) for _, label, meta in samples]
        (staging / "samples.tsv").write_text("\n".join(rows) + "\n")
        manifest["samples"] = len(samples)
        manifest["preprocessing"] = {"frames": frames, "bodies": "first two per frame, file order (SPEC 2)",
                                     "center": "spine_shoulder (20) per frame", "rotate": "shoulders onto +x per frame"}
        manifest["sha256"] = {name: sha256_file(staging / name) for name in ("data.npy", "label.npy", "samples.tsv")}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def missing_skeleton_list() -> set[str]:
    """Sample names that NTU RGB+D lists as having missing skeletons (dropped by the reference pipeline).

    The file holds the NTU RGB+D 60 list (302 names, the count the dataset's
    README gives; two public copies agree on them). NTU-120's additional list
    (535 names) is not shipped yet.
    """
    from importlib import resources

    text = resources.files("pgfa.data").joinpath("lists", "ntu60_missing_skeletons.txt").read_text()
    return {line.strip() for line in text.splitlines() if line.strip()}


def _refuse_existing(out: Path, force: bool) -> None:
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass --force to replace it (it is kept until the new one is complete)")


def prepare_ntu(raw: str | Path, out: str | Path, workers: int = 2, frames: int = 50,
                version: str | None = None, skip_bad: bool = False, force: bool = False,
                progress: bool = True) -> dict:
    """Read, preprocess and store every NTU ``.skeleton`` file under ``raw``; returns the manifest."""
    raw, out = Path(raw), Path(out)
    _refuse_existing(out, force)
    found = sorted(raw.rglob("*.skeleton"))
    if not found:
        raise DataError(f"{raw}: no .skeleton files found")
    listed = missing_skeleton_list()
    files = [f for f in found if f.stem not in listed]
    dropped = sorted(f.stem for f in found if f.stem in listed)
    results = _run_jobs(_ntu_job, [(str(f), frames) for f in files], workers, progress, "reading .skeleton files")
    samples, bad = _split_results(results, skip_bad)
    detected = "ntu120" if any(label >= 60 for _, label, _ in samples) else "ntu60"
    version = version or detected
    kept = [s for s in samples if version == "ntu120" or s[1] < 60]
    manifest = {
        "dataset": version, "detected_version": detected, "source": str(raw.resolve()),
        "files_found": len(found), "skipped": bad, "skipped_other_version": len(samples) - len(kept),
        "dropped_missing_skeletons": dropped,
        "missing_skeleton_list": "NTU RGB+D 60 list shipped with pgfa (302 names); NTU-120's additional list is not shipped yet",
        "split_column": "performer",
        "train_subjects": list(NTU120_TRAIN_SUBJECTS if version == "ntu120" else NTU60_TRAIN_SUBJECTS),
    }
    return _write_prepared(out, kept, frames, manifest)


def prepare_pku(raw: str | Path, labels: str | Path, out: str | Path, workers: int = 2, frames: int = 50,
                skip_bad: bool = False, force: bool = False, progress: bool = True) -> dict:
    """Cut every PKU-MMD video under ``raw`` into clips by its label file in ``labels``."""
    raw, labels, out = Path(raw), Path(labels), Path(out)
    _refuse_existing(out, force)
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
    results = _run_jobs(_pku_job, jobs, workers, progress, "cutting PKU-MMD videos")
    results += [(m[0], f"{m[1]}: no skeleton file in {raw}") for m in missing]
    samples, bad = _split_results(results, skip_bad)
    manifest = {"dataset": "pku", "source": str(raw.resolve()), "labels": str(labels.resolve()),
                "files_found": len(label_files), "skipped": bad, "split_column": None,
                "clip_crop": "centre crop to 300 frames before resampling"}
    return _write_prepared(out, samples, frames, manifest)
