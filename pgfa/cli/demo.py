"""``pgfa demo``: the whole pipeline on the built-in synthetic benchmark.

Sized to finish within five minutes on two CPU cores: fewer samples and
epochs than a paper run, the paper's model, loss and alignment unchanged.
The unseen classes are fixed in advance (chosen from the class design, never
from results) so every demo run is comparable.
"""
from __future__ import annotations

import time
from pathlib import Path

from pgfa.config import TrainConfig
from pgfa.data.synthetic import SUGGESTED_UNSEEN

# Unseen classes of the demo: each is composed of primitives that seen
# classes also use (see docs/SYNTHETIC.md).
DEMO_UNSEEN: list[int] = list(SUGGESTED_UNSEEN)

# The paper's schedule compressed: warm-up, then one step decay (x0.1) near the end.
# ``extra_test_per_class`` adds test-performer samples only (training data and
# the trained model are unchanged): 100 unseen test samples per class instead
# of 20, because alignment is transductive (its prototypes average test
# samples) and because 20 per class measure top-1 to about +-4 points, the
# size of the effect the demo is meant to show.
FULL = {"samples_per_class": 40, "extra_test_per_class": 80, "epochs": 35, "batch_size": 32, "lr": 0.05, "warmup_epochs": 2, "lr_steps": [28]}
QUICK = {"samples_per_class": 12, "extra_test_per_class": 0, "epochs": 3, "batch_size": 32, "lr": 0.05, "warmup_epochs": 1, "lr_steps": [50]}


def _synthetic_spec(size: dict, seed: int) -> str:
    spec = f"synthetic:samples_per_class={size['samples_per_class']},seed={seed}"
    if size["extra_test_per_class"]:
        spec += f",extra_test_per_class={size['extra_test_per_class']}"
    return spec


def demo_config(quick: bool = False, seed: int = 0) -> TrainConfig:
    size = QUICK if quick else FULL
    return TrainConfig(
        data=_synthetic_spec(size, seed),
        unseen=list(DEMO_UNSEEN),
        epochs=size["epochs"],
        batch_size=size["batch_size"],
        lr=size["lr"],
        warmup_epochs=size["warmup_epochs"],
        lr_steps=list(size["lr_steps"]),
        seed=seed,
        alpha=0.9,
    )


def _fresh_folder(out: str | None) -> Path:
    if out is not None:
        return Path(out)
    base = Path("runs") / "demo"
    candidate, n = base, 1
    while candidate.exists():
        n += 1
        candidate = base.with_name(f"demo-{n}")
    return candidate


def run_demo(quick: bool = False, out: str | None = None, seed: int = 0, progress: bool = True) -> dict:
    """Train and evaluate on the synthetic benchmark; print the result table."""
    from pgfa.cli.main import print_metrics
    from pgfa.evaluation.evaluate import evaluate_run
    from pgfa.training.loop import train

    start = time.time()
    folder = _fresh_folder(out)
    config = demo_config(quick, seed)
    print(f"pgfa demo: synthetic benchmark, unseen classes {config.unseen}, {config.epochs} epochs -> {folder}")
    train(config, folder, progress=progress)
    metrics = evaluate_run(folder)
    print_metrics(metrics)
    print(f"\nrun folder: {folder} (config.yaml, metrics.json, confusion*.png, history.jsonl)")
    print(f"total time: {time.time() - start:.0f} s")
    return metrics
