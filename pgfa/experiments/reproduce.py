"""``pgfa reproduce``: every split of a paper setting (or N seeded random splits), every seed, one report.

Why a harness: a single split and seed says little (the shared real sets give
a few dozen unseen test samples per split). The paper's claims are about
averages over fixed splits, so pgfa runs them all the same way, keeps every
run folder, and writes ``report.md`` + ``results.json`` with the spread, the
paper's figure beside ours, and which data chose each checkpoint.

The harness is restartable: a run folder that is already trained is resumed
or reused (``pgfa train`` semantics), and a run already evaluated after its
last checkpoint was written is not evaluated again.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pgfa.config import METHODS, TrainConfig
from pgfa.data.formats import load_skeletons
from pgfa.data.release import ReleaseError, release_split_folder
from pgfa.data.skeletons import SkeletonSet
from pgfa.data.split_registry import NAMED_SPLITS, resolve_split
from pgfa.data.splits import random_unseen
from pgfa.evaluation.evaluate import evaluate_run
from pgfa.experiments.alignment_tuning import tune_alignment
from pgfa.experiments.report import write_report
from pgfa.run import BEST, LAST, RunMetrics, read_current_metrics
from pgfa.training.loop import train

__all__ = ["Plan", "make_plan", "plan_and_data", "base_config", "execute", "summarise", "run_folder", "aligned_by_rule",
           "DATASET_HPARAMS", "SETTING_SPLITS", "PAPER_FIGURES"]

# SPEC 5-7: per-dataset learning rate and support factor α (fixed, the paper's values).
DATASET_HPARAMS = {
    "ntu60": {"lr": 0.05, "alpha": 0.9},
    "ntu120": {"lr": 0.005, "alpha": 0.4},
    "pku": {"lr": 0.05, "alpha": 1.0},
}
SETTING_BACKBONE = {"A": "stgcn", "B": "shiftgcn", "one-shot": "stgcn"}
SETTING_SPLITS = {
    ("A", "ntu60"): ["ntu60/split_1", "ntu60/split_2", "ntu60/split_3"],
    ("A", "ntu120"): ["ntu120/split_4", "ntu120/split_5", "ntu120/split_6"],
    ("A", "pku"): ["pku/split_7", "pku/split_8", "pku/split_9"],
    ("B", "ntu60"): ["ntu60/55-5", "ntu60/48-12"],
    ("B", "ntu120"): ["ntu120/110-10", "ntu120/96-24"],
    ("one-shot", "ntu60"): ["ntu60/one-shot"],
    ("one-shot", "ntu120"): ["ntu120/one-shot"],
    ("one-shot", "pku"): ["pku/one-shot"],
}
# Published PGFA top-1 (%) as quoted in SPEC section 9 (abstract / leaderboards).
# Per-split figures are not given there; averages are compared with our mean.
PAPER_FIGURES = {
    ("A", "ntu120"): (71.38, "PGFA, setting A average over the three NTU-120 splits"),
    ("A", "ntu60"): (None, "the PGFA abstract gives only the gain over SMIE: +22.96 points"),
    ("A", "pku"): (None, "the PGFA abstract gives only the gain over SMIE: +18.54 points"),
    ("B", "ntu60/55-5"): (80.26, "PGFA, setting B 55/5"),
    ("B", "ntu60/48-12"): (None, "no PGFA figure quoted; TDSM (ICCV 2025) reports 56.03"),
    ("B", "ntu120/110-10"): (None, "no PGFA figure quoted; TDSM (ICCV 2025) reports 74.15"),
    ("B", "ntu120/96-24"): (59.42, "PGFA, setting B 96/24"),
}


@dataclass
class Plan:
    """What a reproduction runs: splits x methods x seeds, on one base configuration."""

    setting: str  # A | B | one-shot | random
    dataset: str | None  # ntu60 | ntu120 | pku | None (any data)
    base: TrainConfig
    splits: list[tuple[str, list[int]]]  # (name, unseen classes)
    seeds: list[int]
    methods: list[str]
    one_shot: bool = False
    notes: list[str] = field(default_factory=list)
    tune_alignment: int = 0  # development splits per run for 'pgfa tune-alignment' (0: off)
    evaluate_last: bool = True  # also evaluate each run's final checkpoint (reported, never chosen)
    flat_folders: bool = False  # run folders OUT/<split> (one method, one seed) instead of OUT/runs/...
    split_data: dict[str, str] = field(default_factory=dict)  # split -> its own data (a PGFA release tree)
    preset: str | None = None  # --preset: batch size and length resolved per run from its data
    preset_keep: list[str] = field(default_factory=list)  # fields the user gave, which win over the preset

    def folder(self, out: Path, method: str, split_name: str, seed: int) -> Path:
        if self.flat_folders:
            return out / _slug(split_name)
        return run_folder(out, method, split_name, seed)

    def runs(self):
        for method in self.methods:
            for name, unseen in self.splits:
                for seed in self.seeds:
                    yield method, name, unseen, seed


def base_config(setting: str, data: str, dataset: str | None = None, classes: str | None = None,
                overrides: dict | None = None) -> tuple[TrainConfig, list[str]]:
    """The configuration every run of a reproduction starts from, and notes on where its values come from.

    Needs no data, so the data can be loaded with the final configuration
    (its ``frames`` above all; see :func:`plan_and_data`).
    """
    overrides = dict(overrides or {})
    notes = []
    if setting == "random":
        base = TrainConfig(data=data, classes=classes)
        notes.append(f"alpha {base.alpha if 'alpha' not in overrides else overrides['alpha']} fixed before "
                     "training (the paper's NTU-60 value unless overridden); never tuned on unseen data")
    else:
        if dataset not in DATASET_HPARAMS:
            raise ValueError(f"--dataset must be one of {', '.join(DATASET_HPARAMS)} for setting {setting}")
        if (setting, dataset) not in SETTING_SPLITS:
            raise ValueError(f"setting {setting} has no splits for {dataset} (SPEC section 3)")
        base = TrainConfig(data=data, classes=classes or dataset, backbone=SETTING_BACKBONE[setting],
                           **DATASET_HPARAMS[dataset])
        notes.append(f"paper hyperparameters for {dataset}: lr {base.lr}, alpha {base.alpha} (fixed, SPEC 5-7), "
                     f"{base.epochs} epochs, batch {base.batch_size}, backbone {base.backbone}")
    if overrides:
        base = TrainConfig.from_dict({**base.to_dict(), **overrides})
        notes.append("changed from those values: " + ", ".join(f"{k}={v}" for k, v in overrides.items()))
    return base, notes


def release_folders(setting: str, data: str, dataset: str | None) -> dict[str, str]:
    """Each split's folder when ``data`` is a PGFA release tree, else ``{}``.

    The release ships one folder per split (``data/zeroshot/ntu60/split_1`` ...,
    :mod:`pgfa.data.release`); ``--data`` may name ``data/zeroshot`` or
    ``data/zeroshot/<dataset>``. A tree that holds some of the setting's
    splits but not all is an error naming the missing ones, raised before
    anything is trained.
    """
    if setting == "random" or (setting, dataset) not in SETTING_SPLITS or not Path(data).is_dir():
        return {}
    found = {name: release_split_folder(data, name) for name in SETTING_SPLITS[(setting, dataset)]}
    if all(folder is None for folder in found.values()):
        return {}
    missing = [name for name, folder in found.items() if folder is None]
    if missing:
        raise ReleaseError(f"{data}: a PGFA release tree, but the folder of split(s) {', '.join(missing)} is "
                           f"missing (or lacks one of its four .npy files)")
    return {name: str(folder) for name, folder in found.items()}


def make_plan(setting: str, data: str, dataset: str | None = None, classes: str | None = None,
              seeds: list[int] = (0,),
              methods: list[str] = ("pgfa",), unseen_count: int | None = None, n_splits: int = 3,
              num_classes: int | None = None, overrides: dict | None = None, tune_alignment: int = 0,
              split_data: dict[str, str] | None = None, preset: str | None = None) -> Plan:
    """Resolve a setting into concrete splits and a base config.

    ``overrides`` (``epochs``, ``batch_size``, any config field) replace the
    paper's values; the report lists every one of them. ``tune_alignment``
    > 0 also chooses each run's alignment settings on that many development
    splits of its seen classes (:mod:`pgfa.experiments.alignment_tuning`).
    ``split_data`` (:func:`release_folders`) gives each split its own data.
    ``preset`` (``"small"``, :mod:`pgfa.experiments.presets`) sets its options
    on the base config and resolves batch size and length per run from that
    run's data; the fields in ``overrides`` win over it.
    """
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}")
    if setting == "random":
        if unseen_count is None or num_classes is None:
            raise ValueError("random splits need --unseen-count K (and data with a known class count)")
        splits = [(f"random-{i}", random_unseen(num_classes, unseen_count, i)) for i in range(n_splits)]
        notes = [f"{n_splits} random splits of {unseen_count} unseen classes, drawn with split seeds "
                 f"0..{n_splits - 1} (`random_unseen`)"]
    else:
        notes = []
    base, base_notes = base_config(setting, data, dataset, classes, overrides)
    notes += base_notes
    if preset:
        base, preset_note = _preset_base(preset, base, overrides or {})
        notes.append(preset_note)
    if setting != "random":
        splits = [(name, sorted(NAMED_SPLITS[name])) for name in SETTING_SPLITS[(setting, dataset)]]
        if num_classes is not None:
            for name, _ in splits:
                resolve_split(name, num_classes)  # checks the data has the dataset's class count
    if tune_alignment:
        notes.append(f"*aligned, tuned*: alpha and confidence temperature chosen per run by simulated zero-shot on "
                     f"{tune_alignment} development splits of its seen classes (seen-class training samples only)")
    if split_data:
        notes.append("data: the PGFA release's own folder of each split (" +
                     ", ".join(f"{name}: {folder}" for name, folder in split_data.items()) + ")")
    return Plan(setting, dataset, base, splits, list(seeds), list(methods), one_shot=setting == "one-shot",
                notes=notes, tune_alignment=tune_alignment, split_data=dict(split_data or {}), preset=preset,
                preset_keep=sorted(overrides or {}))


def _preset_base(preset: str, base: TrainConfig, overrides: dict) -> tuple[TrainConfig, str]:
    """The base config with the preset's fixed options (the user's overrides kept), and the report's note."""
    from pgfa.experiments.presets import CHOSEN_ON, RULE, preset_options

    options = {k: v for k, v in preset_options(preset).items() if k not in overrides}
    base = TrainConfig.from_dict({**base.to_dict(), **options}, where=f"--preset {preset}")
    kept = f"; given by you and kept: {', '.join(sorted(overrides))}" if overrides else ""
    used = (f"options {', '.join(f'{k}={v}' for k, v in options.items())}" if options
            else "none of its own options used (all given by you)")
    return base, (f"--preset {preset}: {used}; its options were {CHOSEN_ON}; batch size and length resolved per "
                  f"run from its own seen-class training samples ({RULE}){kept}")


def plan_and_data(setting: str, data: str, overrides: dict | None = None,
                  **plan_options) -> tuple[Plan, SkeletonSet | None]:
    """The plan of ``pgfa reproduce`` and its data, loaded once the base config is final.

    The data is read with the final ``frames`` (and every other override),
    so the runs train on what their ``config.yaml`` records. ``plan_options``
    are :func:`make_plan`'s (``dataset``, ``classes``, ``seeds``, ``methods``,
    ``unseen_count``, ``n_splits``, ``tune_alignment``). On a PGFA release
    tree the data is ``None``: :func:`execute` loads each split's own folder.
    """
    split_data = release_folders(setting, data, plan_options.get("dataset"))
    if split_data:
        return make_plan(setting, data, overrides=overrides, split_data=split_data, **plan_options), None
    base, _ = base_config(setting, data, plan_options.get("dataset"), plan_options.get("classes"), overrides)
    skeletons = load_skeletons(base.data, frames=base.frames)
    plan = make_plan(setting, data, num_classes=skeletons.num_classes, overrides=overrides, **plan_options)
    return plan, skeletons


def _slug(name: str) -> str:
    return name.replace("/", "_")


def run_folder(out: Path, method: str, split_name: str, seed: int) -> Path:
    return out / "runs" / method / _slug(split_name) / f"seed{seed}"


def _train_and_evaluate(plan: Plan, config: TrainConfig, folder: Path, skeletons, progress: bool, log):
    """One run of a plan: train (or resume), evaluate what is not evaluated yet, tune if asked."""
    train(config, folder, skeletons=skeletons, progress=progress)
    best = read_current_metrics(folder, BEST) or \
        evaluate_run(folder, one_shot=plan.one_shot, keep_previous=False, skeletons=skeletons)
    last = None
    if plan.evaluate_last:
        last = read_current_metrics(folder, LAST) or \
            evaluate_run(folder, checkpoint=LAST, one_shot=plan.one_shot, keep_previous=False, skeletons=skeletons)
    tuned = None
    if plan.tune_alignment:
        tune_alignment(folder, dev_splits=plan.tune_alignment, progress=progress, log=log)
        tuned = evaluate_run(folder, tuned_alignment=True, keep_previous=False, skeletons=skeletons)
    return best, last, tuned


def execute(plan: Plan, out: str | Path, skeletons=None, progress: bool = True, log=print) -> dict:
    """Train and evaluate every run of ``plan`` under ``out``; write the report; return results.

    ``skeletons`` is the data already loaded with ``plan.base`` (see
    :func:`plan_and_data`); by default it is loaded here.
    """
    out = Path(out)
    if skeletons is None and not plan.split_data:
        skeletons = load_skeletons(plan.base.data, frames=plan.base.frames)
    records, started, loaded, resolutions = [], time.time(), {}, {}
    total = len(list(plan.runs()))
    for i, (method, split_name, unseen, seed) in enumerate(plan.runs(), start=1):
        config = dataclasses.replace(plan.base, unseen=list(unseen), seed=seed, method=method)
        if plan.split_data:  # a release tree: this split's own folder (only the current one kept in memory)
            config = dataclasses.replace(config, data=plan.split_data[split_name])
            if split_name not in loaded:
                loaded = {split_name: load_skeletons(config.data, frames=config.frames)}
            skeletons = loaded[split_name]
        if plan.preset:
            config = _resolve_preset(plan, config, skeletons, split_name, resolutions, log)
        folder = plan.folder(out, method, split_name, seed)
        log(f"[{i}/{total}] {method} {split_name} seed {seed} -> {folder}")
        t0 = time.time()
        best, last, tuned = _train_and_evaluate(plan, config, folder, skeletons, progress, log)
        records.append(_record(method, split_name, unseen, seed, folder, out, best, last, time.time() - t0, tuned))
    if resolutions:
        resolved = "; ".join(f"{split}: {' | '.join(texts)}" for split, texts in resolutions.items())
        plan.notes = [n for n in plan.notes if not n.startswith("--preset resolved")] + [
            f"--preset resolved: {resolved}"]
    results = summarise(plan, records)
    results["wall_seconds"] = round(time.time() - started, 1)
    write_report(plan, results, out)
    return results


def _resolve_preset(plan: Plan, config: TrainConfig, skeletons, split_name: str, resolutions: dict,
                    log) -> TrainConfig:
    """One run's config with the preset's batch size and length for its data (added to ``resolutions``)."""
    from pgfa.experiments.presets import apply_preset, describe

    config, resolved = apply_preset(plan.preset, config, skeletons, user_fields=plan.preset_keep)
    text = f"n={resolved['n_train']} -> " + describe(resolved).split(": ", 1)[1]
    seen = resolutions.setdefault(split_name, [])
    if text not in seen:  # the seeds of a split usually resolve alike
        seen.append(text)
        log(describe(resolved))
    return config


def _record(method, split_name, unseen, seed, folder: Path, out: Path, best: RunMetrics, last: RunMetrics | None,
            seconds, tuned: RunMetrics | None = None) -> dict:
    """One run's entry of ``results.json`` (what the report reads), from its metrics."""
    diag = best.alignment_diagnostics or {}
    return {
        "method": method, "split": split_name, "unseen_classes": list(map(int, unseen)), "seed": seed,
        "run": str(folder.relative_to(out)),
        "top1": best.zsl_top1, "top1_aligned": best.zsl_top1_aligned,
        **aligned_by_rule(best),
        "top5": best.zsl_top5, "chance": best.chance_top1, "n_test": best.n_test,
        "last_top1": last.zsl_top1 if last else None,
        "last_top1_aligned": last.zsl_top1_aligned if last else None,
        "top1_aligned_tuned": tuned.zsl_top1_aligned if tuned else None,
        "tuned_alignment": {"alpha": tuned.alpha, "temperature": tuned.align_temperature} if tuned else None,
        "checkpoint_epoch": best.checkpoint_epoch, "selected_on": best.selected_on,
        "support_precision": best.support_precision,
        "prototypes_nearer": diag.get("classes_with_prototype_nearer_than_text"),
        "diagnostics": diag.get("per_class"),
        "gzsl": best.gzsl, "one_shot": best.one_shot,
        "seconds": round(seconds, 1),
    }


def aligned_by_rule(best: RunMetrics) -> dict:
    """The run's aligned top-1 under the paper's and the guarded rule, whichever its config chose.

    Metrics written before the guarded rule (no ``zsl_top1_aligned_by_rule``) were the paper's rule.
    """
    by_rule = best.get("zsl_top1_aligned_by_rule") or {"paper": best.zsl_top1_aligned}
    return {"align_rule": best.get("align_rule", "paper"), "top1_aligned_paper": by_rule.get("paper"),
            "top1_aligned_guarded": by_rule.get("guarded")}


def _stats(values: list[float | None]) -> dict | None:
    values = [v for v in values if v is not None]
    if not values:
        return None
    arr = np.array(values, dtype=float)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, "n": len(arr)}


SUMMARY_KEYS = ("top1", "top1_aligned", "last_top1", "last_top1_aligned", "top1_aligned_tuned",
                "top1_aligned_paper", "top1_aligned_guarded")


def summarise(plan: Plan, records: list[dict]) -> dict:
    """Mean ± sample sd over seeds per (method, split), and over all runs per method."""
    summary = {}
    for method in plan.methods:
        mine = [r for r in records if r["method"] == method]
        per_split = {name: {k: _stats([r[k] for r in mine if r["split"] == name]) for k in SUMMARY_KEYS}
                     for name, _ in plan.splits}
        summary[method] = {"per_split": per_split, "all": {k: _stats([r[k] for r in mine]) for k in SUMMARY_KEYS}}
    paper = {}
    for name, _ in plan.splits:
        if (plan.setting, name) in PAPER_FIGURES:
            paper[name] = PAPER_FIGURES[(plan.setting, name)]
    if (plan.setting, plan.dataset) in PAPER_FIGURES:
        paper["average"] = PAPER_FIGURES[(plan.setting, plan.dataset)]
    return {
        "setting": plan.setting, "dataset": plan.dataset, "data": plan.base.data,
        "methods": plan.methods, "seeds": plan.seeds,
        "splits": [{"name": n, "unseen_classes": u} for n, u in plan.splits],
        "config": plan.base.to_dict(), "notes": plan.notes,
        "selection": "checkpoints chosen on seen-class validation (a seeded per-class fraction of the seen "
                     "training samples, scored against seen-class texts); alpha fixed before training; "
                     "unseen test data chose nothing",
        "paper": {k: {"top1": v[0], "source": v[1]} for k, v in paper.items()},
        "summary": summary, "runs": records,
    }
