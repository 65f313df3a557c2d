"""benchmarks/scale.py and benchmarks/gpu_check.sh at tiny size: the benchmarks themselves work.

The figures they print are measurements, not asserted here (no timing in tests); what is asserted is
that the folder they write is a valid ``pgfa prepare`` folder, that loading it is memory-mapped, that
the last line has the promised format, and that the GPU check's dry run produces its whole table.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_written_folder_is_a_prepared_folder_and_loads_memory_mapped(tmp_path):
    from scale import write_prepared

    from pgfa.data.formats import load_skeletons

    manifest = write_prepared(tmp_path / "prep", clips=240, frames=20)
    assert manifest["dataset"] == "ntu60" and manifest["samples"] == 240
    skeletons = load_skeletons(tmp_path / "prep")
    assert skeletons.data.shape == (240, 3, 20, 25, 2) and skeletons.data.dtype == np.float32
    assert skeletons.num_classes == 60 and skeletons.layout == "ntu25"
    base = skeletons.data
    while base is not None and not isinstance(base, np.memmap):
        base = getattr(base, "base", None)
    assert base is not None, "the prepared array was copied instead of memory-mapped"
    # centred on the spine-shoulder joint, second body only for two-person actions
    assert np.abs(skeletons.data[:, :, :, 20, 0]).max() < 1e-6
    one_person = skeletons.labels < 49
    assert not skeletons.data[one_person, :, :, :, 1].any() and skeletons.data[~one_person, :, :, :, 1].any()
    assert set(skeletons.subsets) == {"train", "test"}
    assert np.load(tmp_path / "prep" / "text_features.npy").shape == (60, 384)
    assert write_prepared(tmp_path / "ntu120", clips=61, dataset="ntu120")["dataset"] == "ntu120"


def test_scale_runs_and_ends_with_the_promised_line(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--clips", "200", "--frames", "20",
                           "--no-train", "--data-batches", "4", "--dir", str(tmp_path), "--json",
                           str(tmp_path / "figures.json")], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"clips=200 peak_rss_gb=\d+\.\d\d data_samples_per_s=\d+", last), last
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["data_path"]["memory_mapped"] is True
    assert figures["data_path"]["samples"] == 4 * 128
    assert not any(tmp_path.glob("prepared_*"))  # removed without --keep


@pytest.mark.slow
def test_scale_with_train_and_evaluate(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--clips", "400", "--steps", "2",
                           "--data-batches", "4", "--dir", str(tmp_path), "--json", str(tmp_path / "f.json")],
                          capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads((tmp_path / "f.json").read_text())
    assert figures["train"]["rc"] == 0 and figures["evaluate"]["rc"] == 0
    assert figures["peak_rss"] >= figures["train"]["peak_rss"] > 0


def test_gpu_check_dry_run(tmp_path):
    """The whole GPU check on the CPU at tiny sizes: every section present, CUDA-only rows skipped with a note."""
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env={"PYTHON": sys.executable,
                                                                                     "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = json.loads((tmp_path / "gpu_check.json").read_text())
    assert out["dry_run"] is True
    eager = [k for k in out["train"] if k.endswith("/eager")]
    assert len(eager) == 6 and all(out["train"][k]["samples_per_s"] > 0 for k in eager)
    assert all("skipped" in out["train"][k] for k in out["train"] if k.endswith("/compiled"))
    assert all(v["sequences_per_s"] > 0 for v in out["inference"].values())
    assert "skipped" in out["difference"]
    assert out["nccl"]["rc"] == 0
    ntu = out["ntu60"]
    assert ntu["epochs_done"] == 2 and ntu["evaluate_rc"] == 0 and ntu["extrapolated_50_epochs_wall_s"] > 0
    assert "EXTRAPOLATED" in done.stdout and "torchrun smoke" in done.stdout


# ---------------------------------------------------------------- data on the device (pgfa.runtime)


def test_device_batches_on_device_equal_the_host_path():
    import torch

    from pgfa.runtime import DeviceBatches

    rng = np.random.default_rng(0)
    data = rng.standard_normal((50, 3, 4, 25, 2)).astype(np.float32)
    labels = rng.integers(0, 7, 50)
    train = np.sort(rng.choice(50, 30, replace=False))
    host = DeviceBatches(data, labels, train, torch.device("cpu"), mode="never")
    copy = DeviceBatches(data, labels, train, torch.device("cpu"), mode="always", chunk=7)  # several chunks
    auto = DeviceBatches(data, labels, train, torch.device("cpu"), mode="auto")
    assert not host.on_device and copy.on_device and not auto.on_device  # auto copies only to a GPU
    assert copy.nbytes == 30 * 3 * 4 * 25 * 2 * 4
    for idx in (np.sort(train[[3, 0, 29, 11]]), train[:1], train):
        (xa, ya), (xb, yb) = host.batch(idx), copy.batch(idx)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
        assert torch.equal(xa, torch.from_numpy(data[idx])) and torch.equal(ya, torch.from_numpy(labels[idx]))
    outside = np.setdiff1d(np.arange(50), train)[:2]
    with pytest.raises(IndexError, match="not among the training indices"):
        copy.batch(outside)
    with pytest.raises(ValueError, match="data_on_device must be one of"):
        DeviceBatches(data, labels, train, torch.device("cpu"), mode="sometimes")


def test_loss_tally_reads_every_n_steps_and_sums_like_item():
    import torch

    from pgfa.runtime import LossTally

    losses = [torch.tensor(v) for v in (2.0, 1.5, 1.25, 1.0, 0.5)]
    sizes = [4, 4, 4, 4, 2]
    tally = LossTally(torch.device("cpu"), every=2)
    reads = [tally.add(loss, n) for loss, n in zip(losses, sizes)]
    assert [r is not None for r in reads] == [False, True, False, True, False]
    assert reads[1] == pytest.approx((2.0 * 4 + 1.5 * 4) / 8)
    assert tally.mean() == pytest.approx(sum(float(l) * n for l, n in zip(losses, sizes)) / sum(sizes))


def test_set_threads_honours_omp_num_threads(monkeypatch):
    import torch

    from pgfa.runtime import set_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert set_threads() == 1 and torch.get_num_threads() == 1
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert set_threads(processes_per_node=1) == max(1, os.cpu_count() or 1)
        assert set_threads(3) == 3
    finally:
        torch.set_num_threads(before)
