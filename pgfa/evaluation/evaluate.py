"""Evaluate a trained run on its unseen classes, with and without alignment.

Besides zero-shot (ZSL) top-1/top-5 on the unseen classes, ``metrics.json``
gets a ``gzsl`` section when the split has seen-class test samples (see
:func:`gzsl_section`) and, on request, a ``one_shot`` section
(:mod:`pgfa.evaluation.oneshot`). A checkpoint other than ``best.pt`` writes
``metrics_<name>.json`` (e.g. ``metrics_last.json``) so the selected model's
figures are never overwritten by another checkpoint's. The run is read with
:func:`pgfa.run.load_run_model` and scored with :mod:`pgfa.scoring`; the
result is a :class:`pgfa.run.RunMetrics`.
"""
from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import torch

from pgfa.alignment.prototype import ALIGN_RULES, AlignmentResult, align_with_rule
from pgfa.config import TrainConfig
from pgfa.data.skeletons import SkeletonSet
from pgfa.evaluation.diagnostics import alignment_diagnostics
from pgfa.evaluation.gzsl import ausuc, calibrate, gzsl_metrics, select_gamma
from pgfa.evaluation.metrics import confusion_matrix, per_class_accuracy, topk_accuracy
from pgfa.evaluation.oneshot import one_shot_report
from pgfa.run import BEST, RunInputs, RunMetrics, checkpoint_epoch, load_run_model, output_suffix, read_selection, \
    write_metrics
from pgfa.runtime import tune_cpu_allocator
from pgfa.scoring import ClassTask, class_positions, cosine_scores, encode, unit, unseen_task
from pgfa.version import __version__
from pgfa.viz.plots import plot_confusion, plot_feature_map, plot_per_class

__all__ = ["evaluate_run", "gzsl_section", "seen_validation_gamma", "joint_label_space", "GZSL_ALIGNMENT_RULE"]


def _selection_text(selection: dict | None, n_val: int, n_classes: int) -> str:
    if selection is None:
        return "last epoch (no seen-class validation set)"
    if "chosen_by" in selection:  # an imported checkpoint (pgfa.interop): its own provenance, stated as given
        return selection["chosen_by"]
    return (f"seen-class validation: {n_val} held-out training samples of {n_classes} seen classes, "
            f"best top-1 against seen-class texts at epoch {selection['epoch']} "
            f"(val_top1={selection['val_top1']:.4f}); unseen test data never used for selection")


def joint_label_space(split) -> tuple[np.ndarray, np.ndarray]:
    """GZSL label space S ∪ U (sorted class indices) and its seen-class mask."""
    joint = np.union1d(split.seen_classes, split.unseen_classes)
    return joint, np.isin(joint, split.seen_classes)


def seen_validation_gamma(model, inputs: RunInputs, device, max_seen_to_unseen: float = 0.1):
    """Calibrated-stacking γ of a run, from its seen-class validation samples only.

    The validation features are scored against the texts of the joint label
    space (unseen *texts* are part of the task; no unseen *sample* or label is
    read) and γ follows :func:`pgfa.evaluation.gzsl.select_gamma`'s default
    rule (the validation labels are passed too, for the alternative rule).
    ``None`` when the run has no validation samples.
    """
    split = inputs.split
    if len(split.val) == 0:
        return None
    joint, seen_mask = joint_label_space(split)
    feats = encode(model, inputs.skeletons.data, split.val, device)
    scores = cosine_scores(feats, torch.from_numpy(inputs.text_features[joint])).numpy()
    targets = class_positions(joint, inputs.skeletons.labels[split.val])
    return select_gamma(scores, seen_mask, targets, max_seen_to_unseen=max_seen_to_unseen)


GZSL_ALIGNMENT_RULE = (
    "prototype alignment over the joint label space: every test sample (seen and unseen classes together) is "
    "pseudo-labelled by its calibrated text scores (cosine - gamma on seen classes; gamma = 0 for 'uncalibrated'), "
    "each class's prototype is the mean of the floor(alpha*n_k) lowest-entropy samples pseudo-labelled to it (its "
    "text feature when none), and samples are re-classified by cosine to the prototypes minus the same gamma")
GZSL_GUARDED_NOTE = ("; guarded rule (align_rule: guarded): support capped at floor(alpha*N/K), each prototype "
                     "blended with its gap-shifted text feature by w_k = min(1, n_k/(N/K))")


def _three(m: dict) -> dict:
    return {"seen_acc": m["seen_acc"], "unseen_acc": m["unseen_acc"], "harmonic_mean": m["harmonic_mean"]}


def gzsl_section(model, inputs: RunInputs, device, unseen_features: torch.Tensor, alpha: float,
                 align: bool, temperature: float | None = None, rule: str = "paper") -> dict:
    """Generalised zero-shot metrics (label space S ∪ U) of a run with seen-class test samples.

    Four figures of (seen accuracy, unseen accuracy, harmonic mean): text
    features or prototype alignment, each uncalibrated and with calibrated
    stacking at the γ chosen on seen-class validation
    (:func:`seen_validation_gamma`); plus the γ-free AUSUC of the text scores.
    ``unseen_features`` are the already encoded unseen-test features (in
    ``split.unseen_test`` order). ``rule`` names the alignment rule
    (:func:`pgfa.alignment.prototype.align_with_rule`).
    """
    split = inputs.split
    joint, seen_mask = joint_label_space(split)
    index = np.concatenate([split.seen_test, split.unseen_test])
    feats = torch.cat([encode(model, inputs.skeletons.data, split.seen_test, device), unseen_features])
    targets = class_positions(joint, inputs.skeletons.labels[index])
    text = torch.from_numpy(inputs.text_features[joint])
    plain = cosine_scores(feats, text).numpy()
    choice = seen_validation_gamma(model, inputs, device)
    gamma = None if choice is None else choice.gamma
    section = {
        "n_seen_test": int(len(split.seen_test)),
        "n_unseen_test": int(len(split.unseen_test)),
        "n_val": int(len(split.val)),
        "gamma": gamma,
        "calibration_rule": choice.rule if choice is not None else "no seen-class validation set: no calibration",
        "val_seen_to_unseen": choice.val_seen_to_unseen if choice is not None else None,
        "text": {
            "uncalibrated": _three(gzsl_metrics(plain, targets, seen_mask)),
            "calibrated": _three(gzsl_metrics(calibrate(plain, seen_mask, gamma), targets, seen_mask))
            if gamma is not None else None,
        },
        **ausuc(plain, targets, seen_mask),
        "aligned": None,
        "alignment_rule": (GZSL_ALIGNMENT_RULE + ("" if rule == "paper" else GZSL_GUARDED_NOTE)) if align else None,
    }
    if align:
        bias = torch.from_numpy(-(gamma or 0.0) * seen_mask.astype(np.float32))
        section["aligned"] = {
            "uncalibrated": _three(gzsl_metrics(
                align_with_rule(rule, feats, text, alpha, temperature=temperature).scores.numpy(), targets,
                seen_mask)),
            "calibrated": _three(gzsl_metrics(
                align_with_rule(rule, feats, text, alpha, bias=bias, temperature=temperature).scores.numpy(),
                targets, seen_mask)) if gamma is not None else None,
        }
    return section


def _alignment_settings(run: Path, config: TrainConfig, alpha: float | None, tuned_alignment: bool,
                        rule: str | None = None) -> tuple[float, float | None, str, str]:
    """``(alpha, temperature, where they come from, rule)`` of an evaluation.

    ``rule`` (``evaluate --align-rule``) overrides the run config's
    ``align_rule``; a tuned selection carries its own (``paper`` for files
    written before rules were compared).
    """
    temperature, alpha_source = config.align_temperature, "run config (fixed before training)"
    if rule is not None and rule not in ALIGN_RULES:
        raise ValueError(f"unknown alignment rule {rule!r}; known: {', '.join(ALIGN_RULES)}")
    if tuned_alignment:
        if alpha is not None or rule is not None:
            raise ValueError("give either --alpha/--align-rule or --tuned-alignment, not both")
        chosen = read_selection(run)
        alpha, temperature, alpha_source = chosen["alpha"], chosen["temperature"], chosen["source"]
        rule = chosen.get("align_rule", "paper")
    elif alpha is not None and alpha != config.alpha:
        alpha_source = "evaluate --alpha (user-given)"
    return (config.alpha if alpha is None else alpha), temperature, alpha_source, rule or config.align_rule


def _zsl_figures(task: ClassTask, result: AlignmentResult, names: list[str], align: bool) -> dict:
    """Zero-shot top-1/top-5, per class, with and without alignment; plus the two confusion matrices."""
    plain_scores = cosine_scores(task.features, task.text).numpy()
    aligned_scores = result.scores.numpy()
    targets, k = task.targets, len(task.classes)
    plain_cm = confusion_matrix(targets, plain_scores.argmax(1), k)
    aligned_cm = confusion_matrix(targets, aligned_scores.argmax(1), k)
    per_class = {
        name: {"n": int(plain_cm[i].sum()), "top1": float(a), "top1_aligned": float(b) if align else None}
        for i, (name, a, b) in enumerate(zip(names, per_class_accuracy(plain_cm), per_class_accuracy(aligned_cm)))
    }
    return {
        "zsl_top1": topk_accuracy(plain_scores, targets, 1),
        "zsl_top1_aligned": topk_accuracy(aligned_scores, targets, 1) if align else None,
        "zsl_top5": topk_accuracy(plain_scores, targets, 5),
        "zsl_top5_aligned": topk_accuracy(aligned_scores, targets, 5) if align else None,
        "chance_top1": 1.0 / k,
        "n_test": int(len(targets)),
        "per_class": per_class,
        "support_precision": float((result.initial_labels.numpy() == targets)[result.support.numpy()].mean())
        if align and result.support.any() else None,
    }, plain_cm, aligned_cm


def _write_plots(run: Path, suffix: str, metrics: RunMetrics, task: ClassTask, result: AlignmentResult,
                 matrices: tuple[np.ndarray, np.ndarray], align: bool) -> None:
    """Confusion matrices, per-class accuracy and the feature map of one evaluation."""
    names, (plain_cm, aligned_cm) = metrics.unseen_class_names, matrices
    plot_confusion(plain_cm, names, run / f"confusion{suffix}.png",
                   f"unseen classes, text features\ntop-1 {metrics.zsl_top1:.3f}")
    if align:
        plot_confusion(aligned_cm, names, run / f"confusion_aligned{suffix}.png",
                       f"unseen classes, prototype alignment ({metrics.get('align_rule', 'paper')} rule, α={metrics.alpha})\ntop-1 {metrics.zsl_top1_aligned:.3f}")
    per_class = np.array([[v["top1"], v["top1_aligned"] or 0.0] for v in metrics.per_class.values()])
    plot_per_class(names, per_class[:, 0], per_class[:, 1] if align else None, plain_cm.sum(axis=1),
                   run / f"per_class{suffix}.png", f"per-class top-1, {metrics.method}, {metrics.checkpoint}")
    plot_feature_map(unit(task.features).numpy(), task.targets, task.text.numpy(),
                     result.prototypes.numpy() if align else None, names, run / f"feature_map{suffix}.png",
                     f"unseen test features (PCA), {metrics.method}, {metrics.checkpoint}")


def _rule_figures(task: ClassTask, rule: str, alpha: float, temperature: float | None) -> dict:
    """``align_rule`` and the aligned top-1 of every rule (same alpha/temperature), for side-by-side reports."""
    by_rule = {name: topk_accuracy(align_with_rule(name, task.features, task.text, alpha, temperature=temperature)
                                   .scores.numpy(), task.targets, 1) for name in ALIGN_RULES}
    return {"align_rule": rule, "zsl_top1_aligned_by_rule": by_rule}


def _selected_on(state: dict, checkpoint: str, split) -> str:
    if checkpoint == BEST:
        return _selection_text(state.get("selection"), len(split.val), len(split.seen_classes))
    return (f"not selected: {checkpoint}, the model after epoch {checkpoint_epoch(state)} "
            f"({BEST} holds the model chosen on seen-class validation)")


def evaluate_run(run: str | Path, align: bool = True, alpha: float | None = None,
                 device: str = "auto", keep_previous: bool = True, checkpoint: str = BEST,
                 one_shot: bool = False, one_shot_seed: int = 0, one_shot_draws: int = 1,
                 tuned_alignment: bool = False, skeletons: SkeletonSet | None = None,
                 align_rule: str | None = None) -> RunMetrics:
    """Compute unseen-class metrics of ``run`` and write ``metrics.json`` and plots into it.

    ``alpha`` defaults to the run config's value (fixed before training, never
    tuned on the test set). An existing ``metrics.json`` is kept as
    ``metrics.<time>.json`` rather than overwritten. ``checkpoint`` names the
    checkpoint file in the run (``best.pt``, chosen on seen-class validation,
    or ``last.pt``); another than ``best.pt`` writes ``metrics_<stem>.json``
    and ``confusion*_<stem>.png`` instead. A ``gzsl`` section is added when
    the split has seen-class test samples, a ``one_shot`` section when
    ``one_shot`` is set (exemplars drawn with ``one_shot_seed``, repeated
    ``one_shot_draws`` times). ``tuned_alignment`` takes α and the
    confidence temperature from the run's ``alignment_selection.json``
    (written by :func:`pgfa.experiments.alignment_tuning.tune_alignment`,
    chosen on seen-class training data only) instead of the config, and
    writes ``metrics_tuned.json`` (and ``*_tuned.png``) beside the figures of
    the configured rule. ``skeletons`` is the run's data already in memory
    (it is still checked against the split the run recorded). ``align_rule``
    (``paper`` or ``guarded``; default the run config's) picks the rule of
    the aligned figures, an evaluation-time setting (no retraining);
    ``metrics.json`` records it as ``align_rule`` and, whatever it is, the
    aligned top-1 of every rule as ``zsl_top1_aligned_by_rule``.
    """
    run = Path(run)
    config, inputs, state, model, dev = load_run_model(run, checkpoint, device, skeletons)
    if dev.type == "cpu":
        tune_cpu_allocator()  # encoding tens of thousands of clips reuses its batch buffers (see its docstring)
    alpha, temperature, alpha_source, rule = _alignment_settings(run, config, alpha, tuned_alignment, align_rule)
    split = inputs.split
    task = unseen_task(model, inputs, dev)
    result = align_with_rule(rule, task.features, task.text, alpha if align else 0.0, temperature=temperature)
    names = [inputs.texts[c].name for c in task.classes]
    figures, plain_cm, aligned_cm = _zsl_figures(task, result, names, align)
    metrics = RunMetrics(
        **{k: figures[k] for k in ("zsl_top1", "zsl_top1_aligned", "zsl_top5", "zsl_top5_aligned", "chance_top1",
                                   "n_test")},
        unseen_classes=[int(c) for c in task.classes], unseen_class_names=names,
        alpha=alpha if align else None, alpha_source=alpha_source,
        align_temperature=temperature if align else None, support_precision=figures["support_precision"],
        per_class=figures["per_class"],
        alignment_diagnostics=alignment_diagnostics(task.features, task.text, task.targets, result, names)
        if align else None,
        gzsl=gzsl_section(model, inputs, dev, task.features, alpha, align, temperature, rule)
        if len(split.seen_test) else None,
        one_shot=one_shot_report(task.features, task.targets, task.text, task.indices, task.classes,
                                 inputs.skeletons.sample_ids, seed=one_shot_seed, draws=one_shot_draws)
        if one_shot else None,
        checkpoint=checkpoint, checkpoint_epoch=checkpoint_epoch(state),
        selected_on=_selected_on(state, checkpoint, split), sample_split=split.sample_split, seed=config.seed,
        data=config.data, text_encoder=config.text_encoder, text_mode=config.text_mode, backbone=config.backbone,
        method=config.method, pgfa_version=__version__,
        evaluated_at=datetime.datetime.now().isoformat(timespec="seconds"),
        extra=_rule_figures(task, rule, alpha, temperature) if align else {},
    )
    _write_plots(run, output_suffix(checkpoint, tuned_alignment), metrics, task, result, (plain_cm, aligned_cm), align)
    write_metrics(run, metrics, tuned_alignment, keep_previous)
    return metrics
