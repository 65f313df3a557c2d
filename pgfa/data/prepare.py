"""``pgfa prepare ntu``: a folder of raw ``.skeleton`` files -> model-ready arrays.

Output folder (written under a temporary name, renamed at the end, never
over an existing folder without ``force``):

=================  ==========================================================
``data.npy``       ``(N, 3, T, 25, 2)`` float32, preprocessed as SPEC §2
``label.npy``      ``(N,)`` int64, 0-based action
``samples.tsv``    per sample: name, setup, camera, performer, replication
``manifest.json``  source, counts, skipped files and why, parameters, sha256
=================  ==========================================================

Not yet here: the official lists of samples with missing skeletons (such
files usually fail preprocessing with "no valid frame" and are skipped with
``skip_bad``), PKU-MMD, and the named zero-shot splits.
"""
from __future__ import annotations

import hashlib
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
from pgfa.data.preprocess import preprocess_sequence

# Cross-subject training performers (SPEC §2 for NTU-60; NTU-120 adds its own
# published list, from the NTU RGB+D 120 paper).
NTU60_TRAIN_SUBJECTS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
NTU120_TRAIN_SUBJECTS = NTU60_TRAIN_SUBJECTS + (
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86,
    89, 91, 92, 93, 94, 95, 97, 98, 100, 103,
)


def _process(args: tuple[str, int]) -> tuple[str, object]:
    """Worker: one file -> (name, (array, meta)) or (name, error message)."""
    path, frames = args
    try:
        sample = read_ntu_skeleton(path)
        array = preprocess_sequence(sample.keypoints, "ntu25", frames=frames)
    except (DataError, ValueError) as err:
        message = str(err)
        return path, message if message.startswith(path) else f"{path}: {message}"
    meta = (sample.action, sample.setup, sample.camera, sample.performer, sample.replication)
    return path, (array, meta)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def prepare_ntu(raw: str | Path, out: str | Path, workers: int = 2, frames: int = 50,
                version: str | None = None, skip_bad: bool = False, force: bool = False,
                progress: bool = True) -> dict:
    """Read, preprocess and store every NTU ``.skeleton`` file under ``raw``; returns the manifest."""
    raw, out = Path(raw), Path(out)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass --force to replace it (it is kept until the new one is complete)")
    files = sorted(raw.rglob("*.skeleton"))
    if not files:
        raise DataError(f"{raw}: no .skeleton files found")
    jobs = [(str(f), frames) for f in files]
    results: list[tuple[str, object]] = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            stream = pool.map(_process, jobs, chunksize=max(1, len(jobs) // (workers * 16)))
            results = list(tqdm(stream, total=len(jobs), desc="reading .skeleton files", disable=not progress))
    else:
        results = [_process(job) for job in tqdm(jobs, desc="reading .skeleton files", disable=not progress)]
    good = [(p, r) for p, r in results if not isinstance(r, str)]
    bad = [{"file": Path(p).name, "reason": r} for p, r in results if isinstance(r, str)]
    if bad and not skip_bad:
        raise DataError(f"{len(bad)} bad file(s), first: {bad[0]['reason']} (use --skip-bad to skip and list them)")
    actions = np.array([r[1][0] for _, r in good], dtype=np.int64)
    detected = "ntu120" if len(actions) and actions.max() >= 60 else "ntu60"
    version = version or detected
    if version == "ntu60":
        keep = [i for i, a in enumerate(actions) if a < 60]
        skipped_out_of_version = len(actions) - len(keep)
        good, actions = [good[i] for i in keep], actions[keep]
    else:
        skipped_out_of_version = 0
    if not good:
        raise DataError(f"{raw}: no usable sample")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        data = np.lib.format.open_memmap(staging / "data.npy", mode="w+", dtype=np.float32,
                                         shape=(len(good), 3, frames, 25, 2))
        for i, (_, (array, _meta)) in enumerate(good):
            data[i] = array
        data.flush()
        del data
        np.save(staging / "label.npy", actions)
        rows = ["name\tsetup\tcamera\tperformer\treplication\taction"]
        rows += [f"{Path(p).stem}\t{m[1]}\t{m[2]}\t{m[3]}\t{m[4]}\t{m[0]}" for p, (_, m) in good]
        (staging / "samples.tsv").write_text("\n".join(rows) + "\n")
        manifest = {
            "dataset": version, "detected_version": detected, "source": str(raw.resolve()),
            "files_found": len(files), "samples": len(good), "skipped": bad,
            "skipped_other_version": skipped_out_of_version,
            "preprocessing": {"frames": frames, "bodies": "first two per frame, file order (SPEC 2)",
                              "center": "spine_shoulder (20) per frame", "rotate": "shoulders onto +x per frame"},
            "train_subjects": list(NTU120_TRAIN_SUBJECTS if version == "ntu120" else NTU60_TRAIN_SUBJECTS),
            "sha256": {name: _sha256(staging / name) for name in ("data.npy", "label.npy", "samples.tsv")},
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest
