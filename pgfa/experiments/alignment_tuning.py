"""Choose the alignment's settings by simulated zero-shot on the seen classes.

Why: α and the confidence temperature change what alignment does, and the
paper fixes α per dataset without saying how it was chosen. Choosing them on
the unseen test classes would be choosing on the answer. Here they are chosen
the way a zero-shot method may choose anything: some *seen* classes play the
unseen ones.

For each of ``dev_splits`` development splits:

1. ``dev_count`` of the run's seen classes are drawn (seeded) to act as
   unseen classes;
2. a model is trained exactly as the run was (same config), on the run's
   seen-class training samples only: seen-train and seen-validation, never a
   test sample, and never a sample or a text of the run's real unseen classes;
3. the development model labels every sample of the held-out classes, and
   each setting of the grid (α × temperature) is scored on them.

The setting with the best mean top-1 over the splits wins; alignment is only
chosen if it beats no alignment on that mean (ties go to no alignment, then
to the paper's rule). The result is written to ``alignment_selection.json``
in the run folder, with every score, and ``pgfa evaluate RUN
--tuned-alignment`` uses it. The cost is ``dev_splits`` extra trainings.
"""
from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import numpy as np
import torch

from pgfa.alignment.prototype import align_with_rule
from pgfa.data.skeletons import SkeletonSet
from pgfa.run import SELECTION_FILE, load_run_inputs, load_run_model, read_config, read_selection, write_selection
from pgfa.scoring import unseen_task
from pgfa.training.loop import train

__all__ = ["tune_alignment", "read_selection", "SELECTION_FILE", "ALPHAS", "seen_training_set", "development_classes",
           "settings_grid", "score_grid", "setting_key", "rule_key", "split_rule_key", "choose"]

ALPHAS = (0.2, 0.4, 0.6, 0.8, 0.9, 1.0)


def seen_training_set(inputs, source: str) -> SkeletonSet:
    """The run's seen-class training-side samples (seen-train + seen-val), relabelled ``0..S-1``.

    No test subset: within a development split every sample of a held-out
    class is a development test sample.
    """
    split, skeletons = inputs.split, inputs.skeletons
    keep = np.sort(np.concatenate([split.train, split.val]))
    seen = split.seen_classes
    relabel = np.full(skeletons.num_classes, -1, dtype=np.int64)
    relabel[seen] = np.arange(len(seen))
    return SkeletonSet(
        data=np.asarray(skeletons.data[keep]),
        labels=relabel[skeletons.labels[keep]],
        layout=skeletons.layout,
        class_names=[inputs.texts[c].name for c in seen],
        class_descriptions=[inputs.texts[c].description for c in seen],
        sample_ids=[skeletons.sample_ids[i] for i in keep] if skeletons.sample_ids else None,
        source=source,
    )


def development_classes(num_seen: int, count: int, split_index: int) -> list[int]:
    """Held-out classes (positions among the seen classes) of development split ``split_index``."""
    if not 2 <= count <= num_seen - 2:
        raise ValueError(f"dev_count must be between 2 and {num_seen - 2} for {num_seen} seen classes")
    rng = np.random.default_rng([split_index, 7919])
    return sorted(int(c) for c in rng.choice(num_seen, count, replace=False))


def settings_grid(temperatures: tuple[float | None, ...]) -> dict[str, tuple[float, float | None]]:
    """Every setting scored, by key: no alignment (α 0), then each (α, temperature)."""
    grid = {"none": (0.0, None)}
    for temperature in temperatures:
        grid.update({setting_key(alpha, temperature): (alpha, temperature) for alpha in ALPHAS})
    return grid


def score_grid(features: torch.Tensor, text: torch.Tensor, targets: np.ndarray,
               grid: dict[str, tuple[float, float | None]], rules: tuple[str, ...] = ("paper",)) -> dict[str, float]:
    """Top-1 of every setting of ``grid`` under every alignment rule of ``rules``, on one development split.

    The paper's rule keeps the grid's keys; another rule's keys get
    ``,rule=<name>`` (:func:`rule_key`), and it has no ``none`` entry (α 0
    is no alignment under every rule).
    """
    return {rule_key(key, rule): float((align_with_rule(rule, features, text, alpha, temperature=temperature)
                                        .labels.numpy() == targets).mean())
            for rule in rules for key, (alpha, temperature) in grid.items() if rule == "paper" or key != "none"}


def rule_key(key: str, rule: str) -> str:
    """A grid key under alignment ``rule`` (the paper's rule: the key itself)."""
    return key if rule == "paper" else f"{key},rule={rule}"


def split_rule_key(key: str) -> tuple[str, str]:
    """``(grid key, rule)`` of a :func:`score_grid` key."""
    grid_key, _, rule = key.partition(",rule=")
    return grid_key, rule or "paper"


def setting_key(alpha: float, temperature: float | None) -> str:
    return f"alpha={alpha:g},temperature={'none' if temperature is None else f'{temperature:g}'}"


def choose(per_split: list[dict[str, float]], paper_alpha: float) -> tuple[str, dict[str, float]]:
    """Best mean top-1 over splits; ties: no alignment, then the paper's rule, then the grid order."""
    means = {key: float(np.mean([s[key] for s in per_split])) for key in per_split[0]}
    first = [k for k in ("none", setting_key(paper_alpha, None)) if k in means]
    best = first[0]
    for key in first + [k for k in means if k not in first]:
        if means[key] > means[best] + 1e-12:
            best = key
    return best, means


def tune_alignment(run: str | Path, dev_splits: int = 3, dev_count: int | None = None,
                   device: str = "auto", progress: bool = True, log=print, rules: tuple[str, ...] = ("paper",)
                   ) -> dict:
    """Run the development splits of ``run`` (resumable) and write its ``alignment_selection.json``.

    ``rules`` are the alignment rules compared (default the paper's only;
    ``("paper", "guarded")`` also scores the guarded rule, ties going to the
    paper's); the chosen one is recorded as ``align_rule``.
    """
    run = Path(run)
    config = read_config(run)
    inputs = load_run_inputs(run, config)
    count = dev_count or len(config.unseen)
    seen_set = seen_training_set(inputs, source=f"{run}: seen-class training samples")
    grid = settings_grid((None, 1.0 / config.logit_scale))
    splits, per_split = [], []
    for i in range(dev_splits):
        held_out = development_classes(len(inputs.split.seen_classes), count, i)
        folder = run / "alignment-dev" / f"split-{i}"
        dev_config = dataclasses.replace(config, data=seen_set.source, unseen=held_out, classes=None, layout=None)
        log(f"development split {i + 1}/{dev_splits}: held-out seen classes "
            f"{[seen_set.class_names[c] for c in held_out]} -> {folder}")
        train(dev_config, folder, skeletons=seen_set, progress=progress, log=log)
        _, dev_inputs, _, model, dev = load_run_model(folder, device=device, skeletons=seen_set)
        split = dev_inputs.split
        task = unseen_task(model, dev_inputs, dev)
        scores = score_grid(task.features, task.text, task.targets, grid, rules)
        per_split.append(scores)
        splits.append({"held_out_classes": [int(inputs.split.seen_classes[c]) for c in held_out],
                       "held_out_names": [seen_set.class_names[c] for c in held_out],
                       "n_train": int(len(split.train)), "n_test": int(len(split.unseen_test)), "top1": scores})
    best, means = choose(per_split, config.alpha)
    grid_key, align_rule = split_rule_key(best)
    alpha, temperature = grid[grid_key]
    selection = {
        "alpha": alpha,
        "temperature": temperature,
        "align_rule": align_rule,
        "chosen": best,
        "mean_top1": means,
        "splits": splits,
        "source": (f"simulated zero-shot on seen classes: {dev_splits} development splits, {count} held-out seen "
                   f"classes each, models trained like the run on its seen-class training samples only "
                   f"({SELECTION_FILE}); no unseen-class or test data"),
        "rule": "best mean top-1 over the development splits; ties go to no alignment, then the paper's rule",
        "written_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    write_selection(run, selection)
    return selection
