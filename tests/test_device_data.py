"""Where training data lives and how it is read (issue 16), checked on the CPU.

* :func:`pgfa.data.formats.read_rows` gives exactly ``data[idx]`` and, for a
  memory-mapped file, leaves no file pages in the process's resident set;
* ``data_on_device: always`` (the training array copied once, batches
  gathered by index) trains bit for bit like ``never`` (read per batch);
* :func:`pgfa.training.epochs.run_epochs` sums tensor losses without reading
  them every step, and still stops on a non-finite loss when it reads.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pgfa.data.formats import DataError, load_skeletons, read_rows

ROOT = Path(__file__).resolve().parents[1]


def _mapped(tmp_path: Path, array: np.ndarray) -> np.ndarray:
    np.save(tmp_path / "a.npy", array)
    return np.load(tmp_path / "a.npy", mmap_mode="r")


def test_read_rows_equals_fancy_indexing_for_maps_views_and_arrays(tmp_path):
    data = np.random.default_rng(0).standard_normal((40, 3, 5, 4, 2)).astype(np.float32)
    mapped = _mapped(tmp_path, data)
    view = np.ascontiguousarray(mapped, dtype=np.float32)  # what the loaders hand on (still the map)
    cases = (np.array([0, 1, 2, 9, 10, 39]), np.array([7, 3, 3, 0]), np.arange(40), np.array([], dtype=np.int64))
    for source in (mapped, view, view[5:], data):
        for idx in cases:
            idx = idx[idx < len(source)]
            rows = read_rows(source, idx)
            assert rows.dtype == np.float32 and rows.flags.c_contiguous
            assert rows.shape == (len(idx), 3, 5, 4, 2) and np.array_equal(rows, np.asarray(source)[idx])
    out = np.empty((3, 3, 5, 4, 2), dtype=np.float32)
    assert read_rows(view, np.array([4, 5, 6]), out=out) is out and np.array_equal(out, data[4:7])
    with pytest.raises(IndexError):
        read_rows(view, np.array([40]))


def _rss_kb() -> int:
    """Resident set in kB (file pages count as RssFile, or RssShmem when the folder is a tmpfs)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_read_rows_leaves_no_file_pages_in_the_resident_set(tmp_path):
    """61 MB read in 8 batches into one buffer: the resident set does not grow; read through the map, it does.

    (How many touched file pages a kernel counts varies: one VM counted a quarter of them, so the
    comparison asks only for a clear growth through the map.)
    """
    mapped = _mapped(tmp_path, np.ones((512, 3, 50, 25, 2), dtype=np.float32) * 0.5)
    out = np.zeros((64, 3, 50, 25, 2), dtype=np.float32)
    before = _rss_kb()
    total = sum(float(read_rows(mapped, np.arange(s, s + 64), out=out).sum()) for s in range(0, 512, 64))
    after_reads = _rss_kb()
    total_mapped = sum(float(np.asarray(mapped[s : s + 64]).sum()) for s in range(0, 512, 64))
    after_map = _rss_kb()
    assert total == total_mapped == 0.5 * mapped.size
    assert after_reads - before < 2_000, (before, after_reads)
    assert after_map - after_reads > 8_000, (after_reads, after_map)  # the comparison is meaningful


def test_sample_check_reads_in_chunks_and_still_names_the_bad_sample(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from scale import write_prepared

    write_prepared(tmp_path / "prep", clips=120, frames=10)
    assert load_skeletons(tmp_path / "prep").data.shape == (120, 3, 10, 25, 2)
    data = np.load(tmp_path / "prep" / "data.npy", mmap_mode="r+")
    data[77, 1, 3, 5, 0] = np.nan
    data.flush()
    del data
    with pytest.raises(DataError, match="sample 77 contains NaN"):
        load_skeletons(tmp_path / "prep")


def _train(tmp_path: Path, name: str, data: str, *settings: str) -> Path:
    from pgfa.cli.main import main

    out = tmp_path / name
    assert main(["train", "--data", data, "--unseen-count", "3", "--out", str(out), "--epochs", "2",
                 "--batch-size", "16", "--device", "cpu", "--set", "warmup_epochs=1", *settings]) == 0
    return out


def _same_run(a: Path, b: Path) -> None:
    for name in ("best.pt", "last.pt"):
        sa, sb = torch.load(a / name, weights_only=False), torch.load(b / name, weights_only=False)
        assert sa["model"].keys() == sb["model"].keys()
        assert all(torch.equal(sa["model"][k], sb["model"][k]) for k in sa["model"]), name
    history, other = ([(r["train_loss"], r.get("val_top1"), r.get("val_loss")) for r in
                        map(json.loads, (run / "history.jsonl").read_text().splitlines())] for run in (a, b))
    assert history == other and len(history) == 2


def test_data_on_device_always_trains_exactly_like_never(tmp_path):
    """Batches gathered from a one-time copy give bit-identical weights, losses and validation."""
    data = "synthetic:samples_per_class=6,seed=0,frames=20"
    never = _train(tmp_path, "never", data, "data_on_device=never")
    always = _train(tmp_path, "always", data, "data_on_device=always")
    _same_run(never, always)


@pytest.mark.slow
def test_data_on_device_always_equals_never_on_a_memory_mapped_folder(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from scale import write_prepared

    write_prepared(tmp_path / "prep", clips=240, frames=10)
    text = f"text_features={tmp_path / 'prep' / 'text_features.npy'}"
    never = _train(tmp_path, "never", str(tmp_path / "prep"), "data_on_device=never", "max_steps=3", text)
    always = _train(tmp_path, "always", str(tmp_path / "prep"), "data_on_device=always", "max_steps=3", text)
    for name in ("best.pt", "last.pt"):
        sa, sb = torch.load(never / name, weights_only=False), torch.load(always / name, weights_only=False)
        assert all(torch.equal(sa["model"][k], sb["model"][k]) for k in sa["model"]), name


class _Trainer:
    """A stand-in method for run_epochs: returns given losses as tensors, reads them every 2 steps."""

    label, device, read_loss_every = "epoch", torch.device("cpu"), 2

    def __init__(self, losses):
        self.losses, self.indices, self.records = list(losses), np.arange(8), []
        self.optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)

    def train_mode(self):
        pass

    def step(self, idx, epoch):
        return torch.tensor(self.losses.pop(0), dtype=torch.float32)

    def end_epoch(self, epoch, record):
        self.records.append(record)


def test_run_epochs_sums_tensor_losses_and_stops_on_a_non_finite_read():
    from pgfa.config import TrainConfig
    from pgfa.training.epochs import run_epochs

    config = TrainConfig(epochs=1, batch_size=2, warmup_epochs=0)
    trainer = _Trainer([1.0, 2.0, 0.5, 0.25])
    assert run_epochs(trainer, config, 0, progress=False) == 1
    assert trainer.records[0]["train_loss"] == (1.0 + 2.0 + 0.5 + 0.25) * 2 / 8
    bad = _Trainer([1.0, float("nan"), 0.5, 0.25])
    with pytest.raises(FloatingPointError, match="loss became nan at epoch 1"):
        run_epochs(bad, config, 0, progress=False)
    assert bad.records == [] and len(bad.losses) == 2  # stopped at the read after step 2, before the epoch's end
