"""``pgfa tune-preset``: choose ``--preset small``'s options by simulated zero-shot on seen classes.

Why: augmentation, richer class texts and a guarded alignment may help a
small dataset or not; choosing them on unseen test classes would be choosing
on the answer. The rule (docs/PRESET_RULE.md, written before any
figure) chooses them the way :mod:`pgfa.experiments.alignment_tuning` does:

* dev data: each set's official *training* samples only (no test sample is
  ever read; a set without an official split uses all its samples and says so);
* one development split per set (seed 0, :func:`development_classes`)
  holding out ``K`` of its classes, as many as the measured splits do;
* every candidate ``augment {none, all} x text_mode {description, ensemble}``
  is trained with the preset's length rule (:mod:`pgfa.experiments.presets`)
  on the other classes, and its held-out top-1 is scored without alignment,
  with the paper's rule (alpha 0.9) and with the guarded rule;
* a *choice* is (augment, text_mode, align_rule in {paper, guarded}); its score
  is the mean dev top-1 over the sets; ties go to the simpler choice (no
  augmentation, then description, then the paper's rule);
* the shipped preset is the winner over all sets; the figures reported for
  set X use the winner over the *other* sets (leave-one-dataset-out).

Outputs in ``--out``: one run folder per set and candidate
(``<set>/<candidate>/``, with ``dev_scores.json`` once scored: such a
candidate is skipped when the command is run again), ``results.json`` and
``results.md``.
"""
from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pgfa.alignment.prototype import align_with_rule
from pgfa.config import AUGMENTATIONS, TrainConfig
from pgfa.data.formats import load_skeletons
from pgfa.data.skeletons import SkeletonSet
from pgfa.experiments.alignment_tuning import development_classes
from pgfa.experiments.presets import apply_preset
from pgfa.io import write_text
from pgfa.run import load_run_model
from pgfa.scoring import unseen_task
from pgfa.training.loop import train

__all__ = ["SetSpec", "parse_set_spec", "AUGMENT_CHOICES", "TEXT_CHOICES", "RULES", "CHOOSABLE_RULES",
           "training_side_set", "candidates", "choice_key", "simplicity", "choose", "leave_one_out",
           "choice_table", "choice_assignments", "tune_preset", "PAPER_ALPHA", "SCORES_FILE"]

AUGMENT_CHOICES = {"none": [], "all": list(AUGMENTATIONS)}
TEXT_CHOICES = ("description", "ensemble")
RULES = ("none", "paper", "guarded")  # scored; "none" is reported, not chosen (no config value means "off")
CHOOSABLE_RULES = ("paper", "guarded")
PAPER_ALPHA = 0.9
SCORES_FILE = "dev_scores.json"
_SIMPLE = {"augment": "none", "text_mode": "description", "align_rule": "paper"}


@dataclass(frozen=True)
class SetSpec:
    """One dataset of the tuning: its data, class texts (file or built-in name) and held-out class count."""

    data: str
    classes: str | None
    holdout: int

    @property
    def name(self) -> str:
        return Path(self.data).stem or str(self.data)


def parse_set_spec(text: str) -> SetSpec:
    """``"DATA,CLASSES,K"`` (CLASSES may be empty: names from the data) -> :class:`SetSpec`."""
    parts = text.rsplit(",", 2)
    if len(parts) != 3:
        raise ValueError(f"--set-spec {text!r}: expected DATA,CLASSES,K, e.g. data/utd_mhad.pkl,utd_mhad,5")
    data, classes, count = (p.strip() for p in parts)
    try:
        holdout = int(count)
    except ValueError:
        raise ValueError(f"--set-spec {text!r}: K must be an integer, got {count!r}") from None
    if not data:
        raise ValueError(f"--set-spec {text!r}: DATA is empty")
    return SetSpec(data, classes or None, holdout)


def training_side_set(skeletons: SkeletonSet, source: str) -> tuple[SkeletonSet, str]:
    """The set's official training samples, all classes, no subsets; and a note saying what was kept.

    Within a development split every sample of a held-out class is then a
    development test sample; the official test samples are never read.
    """
    if "train" in skeletons.subsets:
        keep, note = np.sort(np.asarray(skeletons.subsets["train"])), "official training samples"
    else:
        keep, note = np.arange(len(skeletons.labels)), "all samples (the data has no official train/test split)"
    return SkeletonSet(
        data=np.asarray(skeletons.data[keep]), labels=skeletons.labels[keep], layout=skeletons.layout,
        class_names=skeletons.class_names, class_descriptions=skeletons.class_descriptions,
        sample_ids=[skeletons.sample_ids[i] for i in keep] if skeletons.sample_ids else None,
        source=f"{source}: {note}",
    ), f"{len(keep)} {note}"


def candidates(augments=tuple(AUGMENT_CHOICES), text_modes=TEXT_CHOICES) -> list[dict]:
    """Every trained candidate, simplest first: ``{"augment": "none"|"all", "text_mode": ...}``."""
    for a in augments:
        if a not in AUGMENT_CHOICES:
            raise ValueError(f"unknown augmentation choice {a!r}; known: {', '.join(AUGMENT_CHOICES)}")
    return [{"augment": a, "text_mode": t} for a in augments for t in text_modes]


def candidate_name(candidate: dict) -> str:
    return f"augment-{candidate['augment']}_text-{candidate['text_mode']}"


def choice_key(choice: dict) -> str:
    return f"augment={choice['augment']},text_mode={choice['text_mode']},align_rule={choice['align_rule']}"


def _parse_key(key: str) -> dict:
    return dict(part.split("=", 1) for part in key.split(","))


def simplicity(key: str) -> tuple:
    """Sort key: fewer non-default options first, then no augmentation, description, paper rule."""
    choice = _parse_key(key)
    flags = tuple(choice[k] != _SIMPLE[k] for k in ("augment", "text_mode", "align_rule"))
    return (sum(flags), flags, key)


def choose(per_set: dict[str, dict[str, float]], sets: list[str]) -> tuple[str | None, dict[str, float]]:
    """Best mean top-1 over ``sets`` of the choices scored on all of them; ties go to the simpler.

    ``per_set``: choice key -> {set name: dev top-1}. Returns (winner or None, means).
    """
    means = {key: float(np.mean([scores[s] for s in sets])) for key, scores in per_set.items()
             if sets and all(scores.get(s) is not None for s in sets)}
    best = None
    for key in sorted(means, key=simplicity):
        if best is None or means[key] > means[best] + 1e-12:
            best = key
    return best, means


def leave_one_out(per_set: dict[str, dict[str, float]], sets: list[str]) -> dict[str, str | None]:
    """For each set X, the winner over the other sets (no data of X chose it); None with one set."""
    return {x: choose(per_set, [s for s in sets if s != x])[0] if len(sets) > 1 else None for x in sets}


def choice_table(scores: dict[str, dict[str, dict[str, float | None]]]) -> dict[str, dict[str, float]]:
    """``{set: {candidate: {rule: top1}}}`` -> ``{choice key: {set: top1}}`` over the choosable rules."""
    table: dict[str, dict[str, float]] = {}
    for set_name, by_candidate in scores.items():
        for name, rules in by_candidate.items():
            candidate = _candidate_of(name)
            for rule in CHOOSABLE_RULES:
                key = choice_key({**candidate, "align_rule": rule})
                table.setdefault(key, {})[set_name] = rules.get(rule)
    return table


def _candidate_of(name: str) -> dict:
    augment, text = name.split("_text-", 1)
    return {"augment": augment.removeprefix("augment-"), "text_mode": text}


def score_run(folder: Path, dev_set: SkeletonSet, device: str) -> dict[str, float | None]:
    """Held-out top-1 of a development run: no alignment, the paper's rule and the guarded rule (alpha 0.9)."""
    _, inputs, _, model, dev = load_run_model(folder, device=device, skeletons=dev_set)
    task = unseen_task(model, inputs, dev)
    alphas = {"none": ("paper", 0.0), "paper": ("paper", PAPER_ALPHA), "guarded": ("guarded", PAPER_ALPHA)}
    return {name: float((align_with_rule(rule, task.features, task.text, alpha).labels.numpy() == task.targets)
                        .mean()) for name, (rule, alpha) in alphas.items()}


def _run_candidate(spec: SetSpec, dev_set: SkeletonSet, held_out: list[int], candidate: dict, folder: Path,
                   overrides: dict, progress: bool, log) -> dict:
    """Train (or reuse) one candidate on one set's development split and score it; its record."""
    done = folder / SCORES_FILE
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    values = {"data": dev_set.source, "classes": spec.classes, "unseen": held_out,
              "augment": AUGMENT_CHOICES[candidate["augment"]], "text_mode": candidate["text_mode"], **overrides}
    base = TrainConfig.from_dict(values, where=f"tune-preset {spec.name}")
    config, resolved = apply_preset("small", base, dev_set, user_fields=set(overrides) | {"augment", "text_mode"})
    log(f"  training -> {folder} (n={resolved['n_train']}, batch {config.batch_size}, {config.epochs} epochs)")
    train(config, folder, skeletons=dev_set, progress=progress, log=log)
    record = {"candidate": candidate, "resolved": resolved, "top1": score_run(folder, dev_set, config.device)}
    write_text(done, json.dumps(record, indent=2))
    return record


def _fmt(value: float | None) -> str:
    return "missing" if value is None else f"{100 * value:.1f}"


def tune_preset(specs: list[SetSpec], out: str | Path, augments=tuple(AUGMENT_CHOICES), text_modes=TEXT_CHOICES,
                overrides: dict | None = None, progress: bool = True, log=print) -> dict:
    """Train and score every candidate on every set's development split; write results.json/.md; results."""
    out, overrides = Path(out), dict(overrides or {})
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"two --set-spec entries share the name {[n for n in names if names.count(n) > 1][0]!r}")
    cands = candidates(augments, text_modes)
    sets, scores = [], {}
    for spec in specs:
        skeletons = load_skeletons(spec.data, frames=overrides.get("frames", 50))
        dev_set, note = training_side_set(skeletons, spec.data)
        held_out = development_classes(skeletons.num_classes, spec.holdout, 0)
        sets.append({"name": spec.name, "data": spec.data, "classes": spec.classes, "holdout": spec.holdout,
                     "held_out_classes": held_out, "dev_samples": note})
        scores[spec.name] = {}
        for i, candidate in enumerate(cands, start=1):
            log(f"[{spec.name} {i}/{len(cands)}] {candidate_name(candidate)}: held-out classes {held_out}")
            record = _run_candidate(spec, dev_set, held_out, candidate, out / spec.name / candidate_name(candidate),
                                    overrides, progress, log)
            scores[spec.name][candidate_name(candidate)] = record["top1"]
            sets[-1].setdefault("resolved", {})[candidate_name(candidate)] = record["resolved"]
            log(f"  top-1 " + ", ".join(f"{rule} {_fmt(record['top1'].get(rule))}" for rule in RULES))
    results = _summary(sets, scores, overrides)
    write_text(out / "results.json", json.dumps(results, indent=2))
    write_text(out / "results.md", results_markdown(results))
    return results


def _summary(sets: list[dict], scores: dict, overrides: dict) -> dict:
    names = [s["name"] for s in sets]
    table = choice_table(scores)
    winner, means = choose(table, names)
    return {
        "rule": "docs/PRESET_RULE.md: mean dev top-1 over the sets (with the choice's alignment rule); "
                "ties -> no augmentation, description, paper rule; reported figures for set X use the "
                "leave-one-dataset-out winner",
        "sets": sets, "scores": scores, "choices": table, "mean_top1": means,
        "winner": winner, "leave_one_out": leave_one_out(table, names), "overrides": overrides,
        "source": "seen-class development splits of each set's training samples; no unseen class, no test sample",
        "written_at": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def results_markdown(results: dict) -> str:
    """The tables of ``results.md``: every candidate x rule per set, then every choice's mean, the winners."""
    names = [s["name"] for s in results["sets"]]
    lines = ["# tune-preset: options of --preset small on seen-class development splits", "",
             f"Rule: {results['rule']}.", "", "Sets: " + "; ".join(
                 f"{s['name']} ({s['data']}, {s['dev_samples']}, held-out classes {s['held_out_classes']})"
                 for s in results["sets"]), "",
             "| candidate | " + " | ".join(f"{n} {r}" for n in names for r in RULES) + " |",
             "|---|" + "---|" * (len(names) * len(RULES))]
    candidates_seen = list(dict.fromkeys(c for n in names for c in results["scores"][n]))
    for c in candidates_seen:
        cells = [_fmt(results["scores"][n].get(c, {}).get(r)) for n in names for r in RULES]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    lines += ["", "| choice | mean | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for key in sorted(results["choices"], key=simplicity):
        mean = results["mean_top1"].get(key)
        lines.append(f"| {key} | {_fmt(mean)} | "
                     + " | ".join(_fmt(results["choices"][key].get(n)) for n in names) + " |")
    lines += ["", f"**Winner over all sets (shipped preset):** {results['winner']}", ""]
    lines += [f"- figures for {x} use the winner over the other sets: {w}" for x, w in results["leave_one_out"].items()]
    return "\n".join(lines) + "\n"


def choice_assignments(key: str) -> list[str]:
    """A choice key as ``--set`` assignments, e.g. ``["augment=[rotate,...]", "text_mode=ensemble", ...]``."""
    choice = _parse_key(key)
    return [f"augment=[{','.join(AUGMENT_CHOICES[choice['augment']])}]", f"text_mode={choice['text_mode']}",
            f"align_rule={choice['align_rule']}"]


if __name__ == "__main__":  # python -m pgfa.experiments.preset_tuning RESULTS.json SET: that set's --set values
    import sys

    winners = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))["leave_one_out"]
    if winners.get(sys.argv[2]) is None:
        raise SystemExit(f"{sys.argv[1]}: no leave-one-dataset-out winner for {sys.argv[2]!r}")
    print(" ".join(choice_assignments(winners[sys.argv[2]])))
