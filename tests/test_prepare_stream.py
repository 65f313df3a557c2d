"""`pgfa prepare` streams clips to disk: same bytes as an in-memory build, bounded memory, atomic."""
import hashlib
import io
import json
import tracemalloc

import numpy as np
import pytest

from pgfa.data import prepare
from pgfa.io import sha256_file

CLIP_BYTES = 3 * 50 * 25 * 2 * 4


def _skeleton(path, frames):
    """NTU text format; ``frames`` is a list of per-frame lists of (25, 3) arrays."""
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for b, joints in enumerate(bodies):
            out += [f"7205759403793{b} 0 1 1 1 1 0 0.1 0.2 2", "25"]
            out += [f"{x:.6f} {y:.6f} {z:.6f} 1 2 3 4 0 0 0 1 2" for x, y, z in joints]
    path.write_text("\n".join(out) + "\n")


def _ntu_raw(tmp_path, n=14, frames=4, seed=0):
    rng = np.random.default_rng(seed)
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(n):
        bodies = 2 if i % 3 == 0 else 1
        seq = []
        for _ in range(frames):
            body = rng.normal(size=(bodies, 25, 3))
            body[:, 0] += 1.0
            seq.append(list(body))
        # names sort differently from creation order; one NTU-120 action
        action = 61 if i == 5 else 1 + (7 * i) % 60
        _skeleton(raw / f"S001C001P{1 + (5 * i) % 9:03d}R001A{action:03d}.skeleton", seq)
    return raw


def _npy_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _reference(job, jobs):
    """What the in-memory build wrote: every sample of every good job, in job order."""
    samples = [s for j in jobs for _, r in [job(j)] if not isinstance(r, str) for s in r]
    data = _npy_bytes(np.stack([a for a, _, _ in samples]).astype(np.float32))
    labels = _npy_bytes(np.array([label for _, label, _ in samples], dtype=np.int64))
    rows = ["\t".join(list(samples[0][2]) + ["action"])]
    rows += ["\t".join(str(v) for v in [*meta.values(), label]) for _, label, meta in samples]
    return data, labels, "\n".join(rows) + "\n", [label for _, label, _ in samples]


def _check_folder(out, manifest, data, labels, tsv):
    assert (out / "data.npy").read_bytes() == data
    assert (out / "label.npy").read_bytes() == labels
    assert (out / "samples.tsv").read_text() == tsv
    assert manifest == json.loads((out / "manifest.json").read_text())
    for name, content in (("data.npy", data), ("label.npy", labels), ("samples.tsv", tsv.encode())):
        assert manifest["sha256"][name] == hashlib.sha256(content).hexdigest() == sha256_file(out / name)
    assert not list(out.parent.glob(f".{out.name}.partial-*"))


@pytest.mark.parametrize("workers", [1, 2])
def test_ntu_output_is_byte_identical_to_in_memory_build(tmp_path, workers):
    raw = _ntu_raw(tmp_path)
    out = tmp_path / "prepared"
    manifest = prepare.prepare_ntu(raw, out, workers=workers, progress=False)
    jobs = [(str(f), 50) for f in sorted(raw.rglob("*.skeleton"))]
    data, labels, tsv, label_list = _reference(prepare._ntu_job, jobs)
    _check_folder(out, manifest, data, labels, tsv)
    assert manifest["samples"] == 14 and manifest["dataset"] == manifest["detected_version"] == "ntu120"
    assert 60 in label_list

    # --version ntu60 drops the NTU-120 clip while streaming
    manifest = prepare.prepare_ntu(raw, tmp_path / "ntu60", workers=workers, version="ntu60", progress=False)
    assert manifest["samples"] == 13 and manifest["skipped_other_version"] == 1
    kept = np.load(tmp_path / "ntu60" / "label.npy")
    assert kept.tolist() == [label for label in label_list if label < 60]
    full = np.load(out / "data.npy")
    assert np.array_equal(np.load(tmp_path / "ntu60" / "data.npy"), full[np.array(label_list) < 60])


def test_skip_bad_ntu_gives_right_sized_file_and_checksums(tmp_path):
    raw = _ntu_raw(tmp_path, n=9)
    bad = raw / "S001C001P002R001A030.skeleton"  # sorts into the middle
    bad.write_text("3\n1\n")
    out = tmp_path / "prepared"
    manifest = prepare.prepare_ntu(raw, out, workers=2, skip_bad=True, progress=False)
    jobs = [(str(f), 50) for f in sorted(raw.rglob("*.skeleton")) if f != bad]
    data, labels, tsv, label_list = _reference(prepare._ntu_job, jobs)
    _check_folder(out, manifest, data, labels, tsv)
    assert manifest["samples"] == 9 and [s["file"] for s in manifest["skipped"]] == [bad.name]
    array = np.load(out / "data.npy", mmap_mode="r")
    assert array.shape == (9, 3, 50, 25, 2) and array.dtype == np.float32
    assert (out / "data.npy").stat().st_size == array.offset + 9 * CLIP_BYTES
    assert np.load(out / "label.npy").tolist() == label_list


def _pku_video(path, frames, bodies, seed):
    rng = np.random.default_rng(seed)
    data = np.zeros((frames, 2, 25, 3))
    data[:, :bodies] = rng.normal(size=(frames, bodies, 25, 3))
    data[:, :bodies, 0] += 1.0
    path.write_text("\n".join(" ".join(f"{v:.5f}" for v in row) for row in data.reshape(frames, 150)) + "\n")


def test_skip_bad_pku_matches_in_memory_build(tmp_path):
    raw, labels_dir = tmp_path / "skeleton", tmp_path / "label"
    raw.mkdir()
    labels_dir.mkdir()
    for i in range(5):
        _pku_video(raw / f"000{i}-L.txt", 60 + i, 1 + i % 2, seed=i)
        (labels_dir / f"000{i}-L.txt").write_text(f"{1 + i},0,20,1\n{10 + i},21,{50 + i},2\n")
    (labels_dir / "0002-L.txt").write_text("3,0,500,1\n")  # row beyond the video: bad
    (labels_dir / "0009-L.txt").write_text("3,0,5,1\n")  # no video: bad
    out = tmp_path / "prepared"
    manifest = prepare.prepare_pku(raw, labels_dir, out, workers=2, skip_bad=True, progress=False)
    jobs = [(str(raw / f"000{i}-L.txt"), str(labels_dir / f"000{i}-L.txt"), 50) for i in range(5)]
    data, labels, tsv, label_list = _reference(prepare._pku_job, jobs)
    _check_folder(out, manifest, data, labels, tsv)
    assert [s["file"] for s in manifest["skipped"]] == ["0002-L.txt", "0009-L.txt"]
    assert np.load(out / "data.npy").shape == (8, 3, 50, 25, 2) and label_list == [0, 9, 1, 10, 3, 12, 4, 13]


def test_header_of_other_length_is_fixed_by_copying(tmp_path, monkeypatch):
    """The path for a numpy whose headers change length with the row count."""
    real = prepare._npy_header
    monkeypatch.setattr(prepare, "_npy_header",
                        lambda dtype, shape: real(dtype, shape) + (b" " * 64 if shape[0] == 0 else b""))
    rows = np.random.default_rng(0).normal(size=(3, 4, 5))
    writer = prepare._NpyRows(tmp_path / "a.npy", np.float32, (4, 5))
    for row in rows:
        writer.append(row)
    writer.close()
    assert (tmp_path / "a.npy").read_bytes() == _npy_bytes(rows.astype(np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["a.npy"]


def test_failed_prepare_keeps_existing_output_and_leaves_nothing(tmp_path, monkeypatch):
    raw = _ntu_raw(tmp_path, n=6)
    out = tmp_path / "prepared"
    prepare.prepare_ntu(raw, out, workers=1, progress=False)  # --force only ever replaces pgfa's own output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    append, calls = prepare._NpyRows.append, []

    def failing_append(self, row):
        calls.append(1)
        if len(calls) > 5:
            raise OSError("No space left on device")
        append(self, row)

    monkeypatch.setattr(prepare._NpyRows, "append", failing_append)
    with pytest.raises(OSError, match="No space"):
        prepare.prepare_ntu(raw, out, workers=2, force=True, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not list(tmp_path.glob(".prepared.partial-*"))
    calls.clear()
    with pytest.raises(OSError, match="No space"):
        prepare.prepare_ntu(raw, tmp_path / "new" / "deeper" / "prepared", workers=1, progress=False)
    assert not (tmp_path / "new").exists()  # parent folders it made are gone again


def test_memory_does_not_grow_with_the_number_of_files(tmp_path):
    """Python-side peak allocation (numpy's buffers included) for 40 and 100 files: an in-memory
    build grows by one clip (30 kB) per file; streaming stays flat. (Both data.npy files are over
    1 MB, the write buffer and sha256's read block, so those are the same size in both runs.)"""
    body = np.ones((25, 3))
    peaks = {}
    for n in (40, 100):
        raw = tmp_path / f"raw{n}"
        raw.mkdir()
        for i in range(n):
            _skeleton(raw / f"S001C001P001R001A001_{i:03d}.skeleton", [[body + 0.01 * t] for t in range(3)])
        tracemalloc.start()
        try:
            prepare.prepare_ntu(raw, tmp_path / f"out{n}", workers=1, progress=False)
            peaks[n] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks[100] - peaks[40] < 3 * CLIP_BYTES, peaks


def test_skip_bad_skips_unreadable_files_and_absurd_headers(tmp_path):
    raw = _ntu_raw(tmp_path, n=4)
    (raw / "S001C001P001R001A002.skeleton").mkdir()  # cannot be read as a file
    (raw / "S001C001P001R001A003.skeleton").write_text("99999999999999\n0\n")  # claims 10^14 frames
    with pytest.raises(prepare.DataError, match="2 bad file"):
        prepare.prepare_ntu(raw, tmp_path / "out", workers=1, progress=False)
    manifest = prepare.prepare_ntu(raw, tmp_path / "out", workers=2, skip_bad=True, progress=False)
    reasons = {s["file"]: s["reason"] for s in manifest["skipped"]}
    assert manifest["samples"] == 4 and len(reasons) == 2
    assert "IsADirectoryError" in reasons["S001C001P001R001A002.skeleton"]
    assert "header claims 99999999999999 frames but the file has only 3 lines" in reasons[
        "S001C001P001R001A003.skeleton"]


def test_staging_folder_of_a_killed_run_is_removed_on_the_next_run(tmp_path):
    import os
    import subprocess
    import sys

    raw = _ntu_raw(tmp_path, n=3)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = {name: tmp_path / f".prepared.partial-{name}" for name in ("dead", "old", "live", "foreign")}
    for name, folder in stale.items():
        folder.mkdir()
        (folder / "data.npy").write_bytes(b"half written")
    (stale["dead"] / ".pgfa-staging").write_text(dead.stdout)  # its process is gone
    (stale["live"] / ".pgfa-staging").write_text(f"{os.getppid()}\n")  # another run, still going
    (stale["foreign"] / "notes.txt").write_text("not ours")  # never deleted
    prepare.prepare_ntu(raw, tmp_path / "prepared", workers=1, progress=False)
    assert not stale["dead"].exists() and not stale["old"].exists()
    assert stale["live"].is_dir() and (stale["foreign"] / "notes.txt").read_text() == "not ours"
    assert sorted(p.name for p in (tmp_path / "prepared").iterdir()) == [
        "data.npy", "label.npy", "manifest.json", "samples.tsv"]


def test_full_disk_removes_the_staging_folder_and_says_so(tmp_path, monkeypatch):
    import errno

    raw = _ntu_raw(tmp_path, n=6)
    append = prepare._NpyRows.append

    def full_disk(self, row):
        if self.count >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        append(self, row)

    monkeypatch.setattr(prepare._NpyRows, "append", full_disk)
    with pytest.raises(prepare.DiskFullError, match=r"the disk is full .* partial output was removed") as info:
        prepare.prepare_ntu(raw, tmp_path / "prepared", workers=1, progress=False)
    assert info.value.errno == errno.ENOSPC and str(tmp_path) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_force_replaces_only_a_prepared_folder_that_is_no_input(tmp_path):
    raw = _ntu_raw(tmp_path, n=3)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("my own work")
    with pytest.raises(prepare.DataError, match=r"mine: has no manifest.json written by pgfa prepare"):
        prepare.prepare_ntu(raw, mine, workers=1, force=True, progress=False)
    assert (mine / "thesis.tex").read_text() == "my own work"
    for out, relation in ((raw, "is"), (tmp_path, "contains"), (raw / "sub", "lies inside")):
        out.mkdir(exist_ok=True)
        with pytest.raises(prepare.DataError, match=rf"--force would delete it, but it {relation} the input"):
            prepare.prepare_ntu(raw, out, workers=1, force=True, progress=False)
    assert len(list(raw.glob("*.skeleton"))) == 3

    out = tmp_path / "prepared"
    first = prepare.prepare_ntu(raw, out, workers=1, progress=False)
    assert prepare.prepare_ntu(raw, out, workers=1, force=True, progress=False)["sha256"] == first["sha256"]
    assert not list(tmp_path.glob(".prepared.*"))  # no staging or old copy left beside it
    (out / "my_notes.txt").write_text("keep")
    with pytest.raises(prepare.DataError, match=r"prepared/my_notes.txt: would be lost"):
        prepare.prepare_ntu(raw, out, workers=1, force=True, progress=False)
    assert (out / "my_notes.txt").read_text() == "keep" and (out / "manifest.json").is_file()
