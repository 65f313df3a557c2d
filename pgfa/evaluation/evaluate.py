"""Evaluate a trained run on its unseen classes, with and without alignment."""
from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import numpy as np
import torch

import pgfa
from pgfa.alignment.prototype import prototype_align
from pgfa.config import TrainConfig
from pgfa.evaluation.diagnostics import alignment_diagnostics
from pgfa.evaluation.metrics import confusion_matrix, per_class_accuracy, topk_accuracy
from pgfa.evaluation.plots import plot_confusion
from pgfa.io import write_json
from pgfa.text.classes import read_class_file
from pgfa.training.checkpoint import load_checkpoint
from pgfa.training.loop import RunInputs, build_run_model, encode, model_signature, pick_device
from pgfa.data.formats import load_skeletons
from pgfa.data.splits import make_zero_shot_split


def load_run_inputs(run: Path, config: TrainConfig) -> RunInputs:
    """Rebuild a run's data, texts and split from its folder (texts and features as saved)."""
    skeletons = load_skeletons(config.data, frames=config.frames)
    skeletons = skeletons.with_layout(config.layout)
    texts = read_class_file(run / "classes.tsv")
    features = np.load(run / "text_features.npy")
    split = make_zero_shot_split(skeletons, config.unseen, config.val_fraction, config.seed)
    saved = json.loads((run / "split.json").read_text())
    if saved["unseen_test"] != split.unseen_test.tolist() or saved["train"] != split.train.tolist():
        raise RuntimeError(
            f"{run}: the data at {config.data} no longer gives the split recorded in split.json "
            "(the data changed since training); evaluation would not be comparable"
        )
    return RunInputs(skeletons, texts, features, split)


def _selection_text(selection: dict | None, n_val: int, n_classes: int) -> str:
    if selection is None:
        return "last epoch (no seen-class validation set)"
    return (f"seen-class validation: {n_val} held-out training samples of {n_classes} seen classes, "
            f"best top-1 against seen-class texts at epoch {selection['epoch']} "
            f"(val_top1={selection['val_top1']:.4f}); unseen test data never used for selection")


def evaluate_run(run: str | Path, align: bool = True, alpha: float | None = None,
                 device: str = "auto", keep_previous: bool = True) -> dict:
    """Compute unseen-class metrics of ``run`` and write ``metrics.json`` and plots into it.

    ``alpha`` defaults to the run config's value (fixed before training, never
    tuned on the test set). An existing ``metrics.json`` is kept as
    ``metrics.<time>.json`` rather than overwritten.
    """
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"{run}: not a pgfa run folder (no config.yaml)")
    config = TrainConfig.load(run / "config.yaml")
    alpha = config.alpha if alpha is None else alpha
    inputs = load_run_inputs(run, config)
    state = load_checkpoint(run / "best.pt", model_signature(config, inputs))
    dev = pick_device(device)
    model = build_run_model(config, inputs).to(dev)
    model.load_state_dict(state["model"])

    split = inputs.split
    unseen = split.unseen_classes
    names = [inputs.texts[c].name for c in unseen]
    position = {int(c): i for i, c in enumerate(unseen)}
    targets = np.array([position[int(y)] for y in inputs.skeletons.labels[split.unseen_test]])
    feats = encode(model, inputs.skeletons.data, split.unseen_test, dev)
    text = torch.from_numpy(inputs.text_features[unseen])
    result = prototype_align(feats, text, alpha if align else 0.0)
    plain_scores = (torch.nn.functional.normalize(feats, dim=-1) @ torch.nn.functional.normalize(text, dim=-1).t()).numpy()
    aligned_scores = result.scores.numpy()

    k = len(unseen)
    plain_cm = confusion_matrix(targets, plain_scores.argmax(1), k)
    aligned_cm = confusion_matrix(targets, aligned_scores.argmax(1), k)
    metrics = {
        "zsl_top1": topk_accuracy(plain_scores, targets, 1),
        "zsl_top1_aligned": topk_accuracy(aligned_scores, targets, 1) if align else None,
        "zsl_top5": topk_accuracy(plain_scores, targets, 5),
        "zsl_top5_aligned": topk_accuracy(aligned_scores, targets, 5) if align else None,
        "chance_top1": 1.0 / k,
        "n_test": int(len(targets)),
        "unseen_classes": [int(c) for c in unseen],
        "unseen_class_names": names,
        "alpha": alpha if align else None,
        "alpha_source": "run config (fixed before training)" if alpha == config.alpha else "evaluate --alpha (user-given)",
        "support_precision": float((result.initial_labels.numpy() == targets)[result.support.numpy()].mean())
        if align and result.support.any() else None,
        "per_class": {
            name: {"n": int(plain_cm[i].sum()), "top1": float(a), "top1_aligned": float(b) if align else None}
            for i, (name, a, b) in enumerate(zip(names, per_class_accuracy(plain_cm), per_class_accuracy(aligned_cm)))
        },
        "alignment_diagnostics": alignment_diagnostics(feats, text, targets, result, names) if align else None,
        "checkpoint": "best.pt",
        "checkpoint_epoch": int(state["epoch"]),
        "selected_on": _selection_text(state.get("selection"), len(split.val), len(split.seen_classes)),
        "sample_split": split.sample_split,
        "seed": config.seed,
        "data": config.data,
        "text_encoder": config.text_encoder,
        "text_mode": config.text_mode,
        "backbone": config.backbone,
        "pgfa_version": pgfa.__version__,
        "evaluated_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    plot_confusion(plain_cm, names, run / "confusion.png", f"unseen classes, text features\ntop-1 {metrics['zsl_top1']:.3f}")
    if align:
        plot_confusion(aligned_cm, names, run / "confusion_aligned.png",
                       f"unseen classes, prototype alignment (α={alpha})\ntop-1 {metrics['zsl_top1_aligned']:.3f}")
    target = run / "metrics.json"
    if target.exists() and keep_previous:
        stamp = datetime.datetime.fromtimestamp(target.stat().st_mtime).strftime("%Y%m%d-%H%M%S")
        shutil.copy2(target, run / f"metrics.{stamp}.json")
    write_json(target, metrics)
    return metrics
