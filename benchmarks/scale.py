"""NTU-size without NTU: memory and data-path throughput at NTU-60 / NTU-120 scale on this machine.

What it does, in order:

1. writes a prepared folder of ``--clips`` clips (default 56,880 = NTU-60; 114,480 = NTU-120) with the
   same files ``pgfa prepare ntu`` writes (``data.npy`` ``(N, 3, T, 25, 2)`` float32, ``label.npy``,
   ``samples.tsv``, ``manifest.json`` with the cross-subject split and sha256 sums), filled with plausible
   random skeletons: an NTU rest pose centred on the spine-shoulder joint, moved by class-dependent
   smooth motion plus noise, a second body for the two-person classes; and random unit class
   embeddings (``text_features.npy``), so no text encoder is needed (class texts play no part in speed
   or memory);
2. in a fresh process, loads the folder with :func:`pgfa.data.formats.load_skeletons` exactly as
   ``pgfa train`` does, checks that the array is a memory map (``np.load(mmap_mode="r")``, no copy), and
   times the data path: random seen-class batches of 128, read from the file into a batch tensor as the
   training loop does (:func:`pgfa.data.formats.read_rows`: positional reads, not through the map);
3. runs ``pgfa train`` for ``--steps`` optimisation steps (``--set max_steps=N``; setting A: 5 unseen
   classes of NTU-60, 10 of NTU-120; seen-class validation at the end) and ``pgfa evaluate`` on the run,
   each in its own process, and measures each process's peak resident memory.

Peak resident memory is the kernel's high-water mark (``ru_maxrss`` from ``wait4``): it counts the pages
of the memory-mapped file that the process has touched (they are page cache and can be dropped by the
kernel, but they do count) as well as its own (anonymous) memory; both parts are printed separately
(sampled from ``/proc/PID/status`` every 0.1 s). pgfa reads samples with positional reads
(:func:`pgfa.data.formats.read_rows`) rather than through the map, so the mapped part should stay small. The page cache is warm (the folder was just written),
so the data-path figure is for a warm cache; a cold read is bounded by the disk.

The folder is written under ``--dir`` (default: a new temporary directory) and removed at the end unless
``--keep``. The last line is exactly ``clips=N peak_rss_gb=X data_samples_per_s=Y`` (peak over the
loading, train and evaluate processes). ``--json FILE`` writes all figures.

    python benchmarks/scale.py --clips 114480          # NTU-120 size: ~3.4 GB folder, several minutes
    python benchmarks/scale.py --clips 600 --steps 2   # tiny, what the test runs
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NTU60_CLIPS, NTU120_CLIPS = 56_880, 114_480
# Two-person ("mutual") actions of NTU RGB+D 60 / 120 (0-based).
MUTUAL = set(range(49, 60)) | set(range(105, 120))
# NTU-25 rest pose (metres), centred on the spine-shoulder joint (20), shoulders along x.
REST_POSE = np.array([
    [0, -.50, 0], [0, -.25, 0], [0, .08, 0], [0, .25, 0],                       # 0-3 spine base .. head
    [.18, -.02, 0], [.25, -.30, 0], [.27, -.55, 0], [.28, -.62, 0],            # 4-7 left arm
    [-.18, -.02, 0], [-.25, -.30, 0], [-.27, -.55, 0], [-.28, -.62, 0],        # 8-11 right arm
    [.10, -.55, 0], [.11, -.95, 0], [.11, -1.35, 0], [.11, -1.40, .10],        # 12-15 left leg
    [-.10, -.55, 0], [-.11, -.95, 0], [-.11, -1.35, 0], [-.11, -1.40, .10],    # 16-19 right leg
    [0, 0, 0], [.29, -.70, 0], [.25, -.63, .03], [-.29, -.70, 0], [-.25, -.63, .03],  # 20 spine sh., hands
], dtype=np.float32)


# ------------------------------------------------------------------ writing the folder


def _clips(labels: np.ndarray, frames: int, motion: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(n, 3, T, 25, 2)`` float32 clips for ``labels``; ``motion`` is ``(classes, 2, 25, 3)`` amplitudes."""
    n = len(labels)
    t = np.linspace(0, 2 * np.pi, frames, dtype=np.float32)
    freq = (1 + labels % 3).astype(np.float32)[:, None] * rng.uniform(0.8, 1.2, (n, 1)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, (n, 1)).astype(np.float32)
    wave = np.sin(freq * t + phase)[:, :, None, None]  # (n, T, 1, 1)
    out = np.zeros((n, 2, frames, 25, 3), dtype=np.float32)
    scale = rng.uniform(0.9, 1.1, (n, 1, 1, 1)).astype(np.float32)
    for body in (0, 1):
        pose = REST_POSE + (np.float32(1.0) if body else np.float32(0.0)) * np.array([1, 0, 0], np.float32)
        out[:, body] = scale * (pose + motion[labels, body][:, None] * wave)
        out[:, body] += rng.standard_normal((n, frames, 25, 3), dtype=np.float32) * np.float32(0.01)
    out[~np.isin(labels, list(MUTUAL)), 1] = 0  # one-person actions: no second body
    out -= out[:, :1, :, 20:21, :]  # centre every frame on the first body's spine-shoulder joint (SPEC 2)
    out[~np.isin(labels, list(MUTUAL)), 1] = 0
    return np.ascontiguousarray(out.transpose(0, 4, 2, 3, 1))  # (n, 3, T, 25, 2)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def write_prepared(folder: Path, clips: int, frames: int = 50, seed: int = 0, dataset: str | None = None) -> dict:
    """Write a ``pgfa prepare``-format folder of random skeletons; returns its manifest."""
    from pgfa.data.prepare import NTU60_TRAIN_SUBJECTS, NTU120_TRAIN_SUBJECTS

    dataset = dataset or ("ntu60" if clips <= NTU60_CLIPS else "ntu120")
    classes, performers = (60, 40) if dataset == "ntu60" else (120, 106)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = rng.permutation(np.arange(clips) % classes).astype(np.int64)
    motion = rng.uniform(-0.15, 0.15, (classes, 2, 25, 3)).astype(np.float32)
    data = np.lib.format.open_memmap(folder / "data.npy", mode="w+", dtype=np.float32,
                                     shape=(clips, 3, frames, 25, 2))
    chunk = 2048
    for start in range(0, clips, chunk):
        data[start : start + chunk] = _clips(labels[start : start + chunk], frames, motion, rng)
    data.flush()
    del data
    np.save(folder / "label.npy", labels)
    performer = rng.integers(1, performers + 1, clips)
    setup, camera, rep = rng.integers(1, 33, clips), rng.integers(1, 4, clips), rng.integers(1, 3, clips)
    rows = ["name\tsetup\tcamera\tperformer\treplication\taction"]
    rows += [f"S{s:03d}C{c:03d}P{p:03d}R{r:03d}A{a + 1:03d}\t{s}\t{c}\t{p}\t{r}\t{a}"
             for s, c, p, r, a in zip(setup, camera, performer, rep, labels)]
    (folder / "samples.tsv").write_text("\n".join(rows) + "\n")
    manifest = {
        "dataset": dataset, "detected_version": dataset,
        "source": f"benchmarks/scale.py: {clips} random skeletons (seed {seed}), not real data",
        "files_found": clips, "skipped": [], "skipped_other_version": 0, "dropped_missing_skeletons": [],
        "split_column": "performer",
        "train_subjects": list(NTU60_TRAIN_SUBJECTS if dataset == "ntu60" else NTU120_TRAIN_SUBJECTS),
        "samples": clips,
        "preprocessing": {"frames": frames, "bodies": "synthetic", "center": "spine_shoulder (20) per frame",
                          "rotate": "none (rest pose already has the shoulders on x)"},
        "sha256": {name: _sha256(folder / name) for name in ("data.npy", "label.npy", "samples.tsv")},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    text = rng.standard_normal((classes, 384)).astype(np.float32)
    np.save(folder / "text_features.npy", text / np.linalg.norm(text, axis=1, keepdims=True))
    return manifest


# ------------------------------------------------------------------ measuring processes


def _status_kb(pid: int) -> dict:
    """``VmRSS``, ``VmHWM``, ``RssAnon``, ``RssFile`` of a live process, in kB (empty once it has gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0])
    return out


def run_measured(cmd: list[str], log: Path) -> dict:
    """Run ``cmd`` (output to ``log``); its exit status, seconds, peak RSS and peak anonymous/file RSS in bytes.

    ``peak_rss`` is ``ru_maxrss``; ``peak_hwm`` the process's own high-water mark (``VmHWM``, sampled, so
    growth in its last 0.1 s is missed), a check that ``ru_maxrss`` holds nothing inherited.
    """
    peaks = {"RssAnon": 0, "RssFile": 0, "VmHWM": 0}
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                for key, value in _status_kb(proc.pid).items():
                    if key in peaks:
                        peaks[key] = max(peaks[key], value)
                done.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return {"rc": proc.returncode, "seconds": round(time.perf_counter() - start, 2),
            "peak_rss": usage.ru_maxrss * 1024, "peak_anon": peaks["RssAnon"] * 1024,
            "peak_file": peaks["RssFile"] * 1024, "peak_hwm": peaks["VmHWM"] * 1024}


def data_path(folder: str, batches: int, batch_size: int = 128) -> dict:
    """In this process: load the folder as training does, check it is memory-mapped, time batch reads."""
    import mmap

    import torch

    from pgfa.data.formats import load_skeletons, read_rows

    start = time.perf_counter()
    skeletons = load_skeletons(folder)
    load_s = time.perf_counter() - start
    data, base = skeletons.data, skeletons.data
    while base is not None and not isinstance(base, (np.memmap, mmap.mmap)):
        base = getattr(base, "base", None)
    after_load = _status_kb(os.getpid())
    train = np.flatnonzero(skeletons.labels < skeletons.num_classes - 10)  # the seen classes, roughly
    order = np.random.default_rng(0).permutation(train)
    start = time.perf_counter()
    count = 0
    for i in range(batches):
        idx = np.sort(order[np.arange(i * batch_size, (i + 1) * batch_size) % len(order)])  # wraps around
        batch = torch.from_numpy(read_rows(data, idx))  # what the training step does (positional reads)
        count += batch.shape[0]
    seconds = time.perf_counter() - start
    return {"memory_mapped": base is not None, "load_seconds": round(load_s, 2),
            "rss_after_load": after_load.get("VmRSS", 0) * 1024, "anon_after_load": after_load.get("RssAnon", 0) * 1024,
            "file_after_load": after_load.get("RssFile", 0) * 1024, "samples": count,
            "samples_per_s": round(count / seconds, 1), "nbytes": int(data.nbytes)}


# ------------------------------------------------------------------ driver


def _train_command(folder: Path, run: Path, manifest: dict, steps: int, batch_size: int) -> list[str]:
    unseen = 5 if manifest["dataset"] == "ntu60" else 10  # setting A
    return [sys.executable, "-m", "pgfa", "train", "--data", str(folder), "--unseen-count", str(unseen),
            "--out", str(run), "--device", "cpu", "--epochs", "1", "--batch-size", str(batch_size),
            "--set", f"max_steps={steps}", f"text_features={folder / 'text_features.npy'}"]


def _gb(value: float) -> str:
    return f"{value / 1e9:.2f}"


def _report(name: str, m: dict) -> str:
    return (f"{name:<10} rc={m['rc']} {m['seconds']:>8.1f} s   peak RSS {_gb(m['peak_rss'])} GB "
            f"(own high-water mark {_gb(m['peak_hwm'])} GB; anonymous {_gb(m['peak_anon'])} GB, "
            f"mapped file {_gb(m['peak_file'])} GB)")


def measure(folder: Path, args) -> dict:
    """Steps 2 and 3 of the module docstring on an existing folder; returns the figures."""
    manifest = json.loads((folder / "manifest.json").read_text())
    work = folder / "_scale"
    work.mkdir(exist_ok=True)
    figures: dict = {"clips": manifest["samples"], "dataset": manifest["dataset"],
                     "folder_gb": round((folder / "data.npy").stat().st_size / 1e9, 3)}
    probe = [sys.executable, str(Path(__file__).resolve()), "--data-path-only", str(folder),
             "--data-batches", str(args.data_batches), "--json", str(work / "data_path.json")]
    figures["load"] = run_measured(probe, work / "data_path.log")
    if figures["load"]["rc"] != 0:
        raise SystemExit(f"data-path probe failed; see {work / 'data_path.log'}:\n{(work / 'data_path.log').read_text()[-3000:]}")
    figures["data_path"] = json.loads((work / "data_path.json").read_text())
    print(_report("load+read", figures["load"]), flush=True)
    if not args.no_train:
        run = work / "run"
        figures["train"] = run_measured(_train_command(folder, run, manifest, args.steps, args.batch_size),
                                        work / "train.log")
        print(_report("train", figures["train"]), flush=True)
        if figures["train"]["rc"] != 0:
            raise SystemExit(f"pgfa train failed; see {work / 'train.log'}:\n{(work / 'train.log').read_text()[-3000:]}")
        figures["evaluate"] = run_measured([sys.executable, "-m", "pgfa", "evaluate", str(run), "--device", "cpu"],
                                           work / "evaluate.log")
        print(_report("evaluate", figures["evaluate"]), flush=True)
        if figures["evaluate"]["rc"] != 0:
            raise SystemExit(f"pgfa evaluate failed; see {work / 'evaluate.log'}:\n"
                             f"{(work / 'evaluate.log').read_text()[-3000:]}")
        figures["train_steps"] = args.steps
        figures["train_samples_per_s"] = round(args.steps * args.batch_size / figures["train"]["seconds"], 1)
    figures["peak_rss"] = max(figures[k]["peak_rss"] for k in ("load", "train", "evaluate") if k in figures)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=NTU60_CLIPS, help=f"clips (default {NTU60_CLIPS}: NTU-60; "
                        f"{NTU120_CLIPS}: NTU-120)")
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--steps", type=int, default=10, help="optimisation steps of pgfa train (default 10)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--data-batches", type=int, default=300, help="batches read by the data-path timing")
    parser.add_argument("--dir", help="where to write the prepared folder (default: a new temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the prepared folder (and the run) afterwards")
    parser.add_argument("--no-train", action="store_true", help="only write, load and time the data path")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--data-path-only", metavar="FOLDER", help=argparse.SUPPRESS)  # the child process of step 2
    parser.add_argument("--write-only", metavar="FOLDER", help=argparse.SUPPRESS)  # the child process of step 1
    args = parser.parse_args(argv)
    if args.write_only:
        write_prepared(Path(args.write_only), args.clips, args.frames)
        return 0
    if args.data_path_only:
        Path(args.json).write_text(json.dumps(data_path(args.data_path_only, args.data_batches)))
        return 0
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="pgfa-scale-"))
    folder = root / f"prepared_{args.clips}"
    try:
        start = time.perf_counter()
        # In a child process: a process that wrote the file through a memory map has a 3.4 GB high-water mark,
        # and Linux hands a forked child its parent's mark (ru_maxrss survives exec), which would count it in
        # every measured process started from this one.
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--write-only", str(folder), "--clips",
                        str(args.clips), "--frames", str(args.frames)], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        print(f"wrote {folder} ({(folder / 'data.npy').stat().st_size / 1e9:.2f} GB data.npy) in "
              f"{time.perf_counter() - start:.1f} s", flush=True)
        figures = measure(folder, args)
    finally:
        if not args.keep:
            shutil.rmtree(folder if args.dir else root, ignore_errors=True)
    d = figures["data_path"]
    print(f"memory-mapped: {'yes' if d['memory_mapped'] else 'NO (the loader copied the array)'}; after loading: "
          f"anonymous {_gb(d['anon_after_load'])} GB, mapped file {_gb(d['file_after_load'])} GB "
          f"of a {_gb(d['nbytes'])} GB array")
    if "train" in figures:
        print(f"train: {figures['train_steps']} steps of {args.batch_size} in {figures['train']['seconds']} s "
              f"(including start-up, loading and seen validation)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    print(f"clips={figures['clips']} peak_rss_gb={figures['peak_rss'] / 1e9:.2f} "
          f"data_samples_per_s={d['samples_per_s']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
