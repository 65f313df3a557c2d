"""``pgfa demo``: the whole pipeline on the built-in synthetic benchmark.

Why three splits: one zero-shot split of five unseen classes is a noisy
measurement. Its result depends on which classes happen to be unseen as much
as on the method, and the paper itself reports averages over three splits
per dataset (SPEC 3, setting A). The demo therefore trains one model per split
and reports each split and their mean, sized to finish within five minutes on
two CPU cores: fewer samples, frames and epochs than a paper run, the paper's
model, loss and alignment rule unchanged. One pgfa option is on: BatchNorm
statistics are re-estimated without dropout before each validation
(:mod:`pgfa.training.batchnorm`), because a model trained this briefly is
otherwise far worse in evaluation mode than its weights allow. The
alignment's α (1.0) was chosen on held-out seen classes (:data:`DEMO_ALPHA`).

The splits were fixed before any model was trained on them: the demo's
original split (kept so that earlier figures stay comparable) and the first
two seeded random draws of ``pgfa reproduce --unseen-count 5`` (split seeds 0
and 1). None was chosen, dropped or replaced because of a result.
"""
from __future__ import annotations

import time
from pathlib import Path

from pgfa.config import TrainConfig
from pgfa.data.synthetic import SUGGESTED_UNSEEN
from pgfa.experiments.reproduce import Plan, execute
from pgfa.io import keep_previous, write_json

__all__ = ["run_demo", "demo_config", "demo_plan", "demo_metrics", "DEMO_SPLITS", "DEMO_ALPHA", "FULL", "QUICK"]

#: (name, unseen classes). ``random-S`` = ``pgfa.data.splits.random_unseen(26, 5, S)``
#: (a test checks that the lists still are those draws).
DEMO_SPLITS: tuple[tuple[str, list[int]], ...] = (
    ("fixed", list(SUGGESTED_UNSEEN)),
    ("random-0", [6, 8, 12, 14, 18]),
    ("random-1", [0, 10, 11, 18, 23]),
)

#: The alignment's support factor. Chosen like any setting of a zero-shot
#: method may be: ``pgfa tune-alignment`` on the seed-0 demo runs held out 5 of
#: each run's 21 seen classes three times (9 development splits, only seen-class
#: training samples) and α 1.0 had the best mean top-1 on the held-out classes
#: (45.9 % against 45.2 % for the paper's NTU-60 value 0.9 and 42.7 % without
#: alignment; docs/RESULTS.md). The rule was written down before that tuning ran.
DEMO_ALPHA = 1.0

# The paper's schedule compressed: warm-up, then one step decay (x0.1) near the
# end, 12 epochs at batch 32, clips resampled to 32 frames instead of 50 (an
# ST-GCN step costs about in proportion to T). Three trainings share the five
# minutes: on the development machine (2 cores) the whole demo took 213-252 s
# in six runs while host load held training throughput at 43-45 samples/s
# (T 50, batch 32), where the earlier 50-frame demo had taken 343 s; at the
# quiet machine's 60 samples/s the 50-frame demo took 246-255 s.
# ``extra_test_per_class`` adds test-performer samples only (training data and
# the trained models are unchanged): 60 test samples per class instead of 20,
# 300 unseen test samples per split, because alignment is transductive (its
# prototypes average test samples) and 20 per class measure top-1 to only
# about +-4 points.
# ``bn_recalibration``: BatchNorm statistics re-estimated on 128 seen-training
# samples with dropout off before each validation (pgfa.training.batchnorm).
# How these were chosen (docs/RESULTS.md, "How the demo's set-up was chosen"):
# the work per demo by wall time; within it, recalibration and then 32 frames
# (against 8 epochs of 50 frames, the same saving) by the selected epoch's
# seen-validation top-1 over the three splits (training seed 0, no unseen
# sample evaluated): 0.35 without recalibration, 0.66 with it; 0.65 with
# 32 frames against 0.56 with 8 epochs.
FULL = {"samples_per_class": 40, "extra_test_per_class": 40, "frames": 32, "epochs": 12, "batch_size": 32, "lr": 0.05,
        "warmup_epochs": 2, "lr_steps": [10], "bn_recalibration": 128}
QUICK = {"samples_per_class": 12, "extra_test_per_class": 0, "frames": 32, "epochs": 2, "batch_size": 32, "lr": 0.05,
         "warmup_epochs": 1, "lr_steps": [50], "bn_recalibration": 32}


def _synthetic_spec(size: dict, seed: int) -> str:
    spec = f"synthetic:samples_per_class={size['samples_per_class']},seed={seed}"
    if size["extra_test_per_class"]:
        spec += f",extra_test_per_class={size['extra_test_per_class']}"
    return spec


def demo_config(quick: bool = False, seed: int = 0) -> TrainConfig:
    """Base configuration of the demo's runs (each run sets its unseen classes)."""
    size = QUICK if quick else FULL
    return TrainConfig(
        data=_synthetic_spec(size, seed),
        unseen=list(DEMO_SPLITS[0][1]),
        frames=size["frames"],
        epochs=size["epochs"],
        batch_size=size["batch_size"],
        lr=size["lr"],
        warmup_epochs=size["warmup_epochs"],
        lr_steps=list(size["lr_steps"]),
        bn_recalibration=size["bn_recalibration"],
        seed=seed,
        alpha=DEMO_ALPHA,
    )


def demo_plan(quick: bool = False, seed: int = 0) -> Plan:
    size = QUICK if quick else FULL
    notes = ["splits fixed before training: the demo's original split and seeded random draws 0 and 1 "
             "(`random_unseen(26, 5, S)`); none chosen on results",
             f"alpha {DEMO_ALPHA} (the paper's PKU-MMD value), chosen by simulated zero-shot on held-out seen "
             "classes (`pgfa tune-alignment`, 9 development splits); never tuned on unseen data",
             f"BatchNorm statistics re-estimated with dropout off on {size['bn_recalibration']} "
             "seen-training samples before each validation (a pgfa option, chosen on seen validation)",
             f"sized for five minutes on two CPU cores: {'quick check, ' if quick else ''}"
             f"{size['epochs']} epochs per split, clips of {size['frames']} frames"]
    return Plan(setting="demo", dataset=None, base=demo_config(quick, seed),
                splits=[(name, list(unseen)) for name, unseen in DEMO_SPLITS], seeds=[seed], methods=["pgfa"],
                notes=notes, evaluate_last=False, flat_folders=True)


def demo_metrics(results: dict) -> dict:
    """The demo's ``metrics.json``: the keys of a run's metrics, as means over the splits, plus each split."""
    runs = results["runs"]

    def mean(key: str) -> float | None:
        values = [r[key] for r in runs if r[key] is not None]
        return sum(values) / len(values) if values else None

    return {
        "data": results["data"],
        "zsl_top1": mean("top1"),
        "zsl_top1_aligned": mean("top1_aligned"),
        "zsl_top5": mean("top5"),
        "chance_top1": mean("chance"),
        "n_test": sum(r["n_test"] for r in runs),
        "unseen_classes": [r["unseen_classes"] for r in runs],
        "alpha": results["config"]["alpha"],
        "averaged_over": f"{len(runs)} zero-shot splits (unweighted mean of the per-split figures)",
        "selected_on": results["selection"],
        "splits": [{key: r[key] for key in ("split", "unseen_classes", "top1", "top1_aligned", "top5", "chance",
                                            "n_test", "checkpoint_epoch", "support_precision", "run")}
                   for r in runs],
        "wall_seconds": results.get("wall_seconds"),
    }


def print_demo_table(metrics: dict) -> None:
    print(f"\nunseen-class top-1 per split ({metrics['splits'][0]['n_test']} test samples per split, "
          f"alpha={metrics['alpha']}):")
    print(f"{'split':<10} {'unseen classes':<20} {'text':>7} {'aligned':>8} {'chance':>7}")
    for s in metrics["splits"]:
        classes = ",".join(map(str, s["unseen_classes"]))
        print(f"{s['split']:<10} {classes:<20} {100 * s['top1']:>6.1f}% {100 * s['top1_aligned']:>7.1f}% "
              f"{100 * s['chance']:>6.1f}%")
    print(f"{'mean':<31} {100 * metrics['zsl_top1']:>6.1f}% {100 * metrics['zsl_top1_aligned']:>7.1f}% "
          f"{100 * metrics['chance_top1']:>6.1f}%")
    print("text: nearest unseen-class text feature; aligned: prototype-guided alignment (SPEC 7)")
    print(f"checkpoints chosen on: {metrics['selected_on']}")


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
    """Train and evaluate one model per demo split; print the table; write ``metrics.json`` and ``report.md``."""
    start = time.time()
    folder = _fresh_folder(out)
    plan = demo_plan(quick, seed)
    print(f"pgfa demo: synthetic benchmark, {len(plan.splits)} zero-shot splits, {plan.base.epochs} epochs each "
          f"-> {folder}")
    results = execute(plan, folder, progress=progress)
    metrics = demo_metrics(results)
    keep_previous(folder / "metrics.json")
    write_json(folder / "metrics.json", metrics)
    print_demo_table(metrics)
    print(f"\nfolder: {folder} (metrics.json, report.md; one run folder per split with its confusion matrices)")
    print(f"total time: {time.time() - start:.0f} s")
    return metrics
