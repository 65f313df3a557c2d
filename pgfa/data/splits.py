"""Zero-shot splits: which classes are unseen, which samples train, validate, test.

Rules (SPEC sections 2-3):

* *seen-train*: samples of seen classes from the official training subset (all
  seen-class samples when the data has no official split);
* *seen validation*: a seeded, per-class fraction of seen-train, held out from
  training; it alone chooses the checkpoint. It never holds an unseen class;
* *unseen test*: samples of unseen classes from the official test subset (all
  unseen-class samples when there is no official split: the model never sees
  any unseen class in training either way);
* *seen test*: seen-class samples of the official test subset (for GZSL).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pgfa.data.skeletons import SkeletonSet


@dataclass
class ZeroShotSplit:
    """Class and sample partition of one zero-shot experiment (indices into the set)."""

    seen_classes: np.ndarray
    unseen_classes: np.ndarray
    train: np.ndarray
    val: np.ndarray
    unseen_test: np.ndarray
    seen_test: np.ndarray
    sample_split: str  # "official" or "none"
    val_seed: int

    def to_json(self) -> dict:
        return {
            "seen_classes": self.seen_classes.tolist(),
            "unseen_classes": self.unseen_classes.tolist(),
            "sample_split": self.sample_split,
            "val_seed": self.val_seed,
            "counts": {k: int(len(getattr(self, k))) for k in ("train", "val", "unseen_test", "seen_test")},
            "train": self.train.tolist(),
            "val": self.val.tolist(),
            "unseen_test": self.unseen_test.tolist(),
            "seen_test": self.seen_test.tolist(),
        }


def parse_class_list(text: str) -> list[int]:
    """``"3,7,11"`` -> ``[3, 7, 11]`` with a clear error on anything else."""
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise ValueError(f"class list {text!r} must be comma-separated integers, e.g. 3,7,11") from None
    if len(set(values)) != len(values):
        raise ValueError(f"class list {text!r} repeats a class")
    return values


def random_unseen(num_classes: int, count: int, seed: int) -> list[int]:
    """Draw ``count`` unseen classes of ``num_classes`` with a seeded generator (sorted)."""
    if not 2 <= count <= num_classes - 2:
        raise ValueError(f"--unseen-count must be between 2 and {num_classes - 2} for {num_classes} classes")
    return sorted(int(c) for c in np.random.default_rng(seed).choice(num_classes, count, replace=False))


def make_zero_shot_split(
    skeletons: SkeletonSet,
    unseen: list[int],
    val_fraction: float = 0.1,
    seed: int = 0,
) -> ZeroShotSplit:
    """Partition ``skeletons`` for a zero-shot run with the given unseen classes."""
    num_classes = skeletons.num_classes
    unseen_arr = np.array(sorted(unseen), dtype=np.int64)
    if len(unseen_arr) < 2:
        raise ValueError("give at least two unseen classes (zero-shot top-1 over one class is meaningless)")
    bad = [int(c) for c in unseen_arr if c < 0 or c >= num_classes]
    if bad:
        raise ValueError(f"unseen class(es) {bad} outside 0..{num_classes - 1} ({skeletons.source or 'data'} has {num_classes} classes)")
    seen_arr = np.setdiff1d(np.arange(num_classes), unseen_arr)
    if len(seen_arr) < 2:
        raise ValueError("at least two seen classes are needed to train")
    labels = skeletons.labels
    is_unseen = np.isin(labels, unseen_arr)
    if "train" in skeletons.subsets and "test" in skeletons.subsets:
        train_pool = np.intersect1d(skeletons.subsets["train"], np.flatnonzero(~is_unseen))
        test_pool = skeletons.subsets["test"]
        unseen_test = np.intersect1d(test_pool, np.flatnonzero(is_unseen))
        seen_test = np.intersect1d(test_pool, np.flatnonzero(~is_unseen))
        sample_split = "official"
    else:
        train_pool = np.flatnonzero(~is_unseen)
        unseen_test = np.flatnonzero(is_unseen)
        seen_test = np.zeros(0, dtype=np.int64)
        sample_split = "none"
    if len(unseen_test) == 0:
        raise ValueError("no test samples of the unseen classes")
    rng = np.random.default_rng(seed)
    val_parts = []
    for c in seen_arr:
        members = train_pool[labels[train_pool] == c]
        n_val = int(round(val_fraction * len(members))) if len(members) >= 2 else 0
        if val_fraction > 0 and len(members) >= 2:
            n_val = max(1, n_val)
        val_parts.append(rng.permutation(members)[:n_val])
    val = np.sort(np.concatenate(val_parts)) if val_parts else np.zeros(0, dtype=np.int64)
    train = np.setdiff1d(train_pool, val)
    return ZeroShotSplit(seen_arr, unseen_arr, train, val.astype(np.int64), unseen_test, seen_test, sample_split, seed)
