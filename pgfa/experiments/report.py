"""``report.md`` and ``results.json`` of a reproduction (see :mod:`pgfa.experiments.reproduce`).

The report is written for a reader who wants to know, in order: what was run
and how it was selected, what came out (mean ± sd beside the paper's figure),
how the last epoch compares with the selected one, GZSL and one-shot figures
where measured, whether the alignment's premise held, and the pictures.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from pgfa.io import keep_previous, write_json, write_text
from pgfa.viz.plots import plot_alignment_premise, plot_summary

__all__ = ["write_report", "premise_rows"]


def _pct(stats: dict | None) -> str:
    if stats is None:
        return "—"
    if stats["n"] > 1:
        return f"{100 * stats['mean']:.1f} ± {100 * stats['std']:.1f}"
    return f"{100 * stats['mean']:.1f}"


def _p(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _flat_numbers(d: dict, prefix: str = "") -> dict[str, float]:
    """``{"a": {"b": 0.5}}`` -> ``{"a.b": 0.5}`` (numbers only), for compact tables."""
    flat = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat_numbers(value, name + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def premise_rows(records: list[dict]) -> list[dict]:
    """One row per (run, unseen class) with support precision and the two centroid cosines."""
    rows = []
    for r in records:
        for name, d in (r.get("diagnostics") or {}).items():
            if d.get("support_precision") is None or d.get("cos_text_to_centroid") is None:
                continue
            rows.append({"run": r["run"], "class": name, "support_precision": d["support_precision"],
                         "gain": d["cos_prototype_to_centroid"] - d["cos_text_to_centroid"]})
    return rows


def _setup_section(plan, results: dict) -> list[str]:
    title = "pgfa demo" if plan.setting == "demo" else f"pgfa reproduction: setting {plan.setting}"
    lines = [f"# {title}" + (f", {plan.dataset}" if plan.dataset else ""), ""]
    lines += ["## Setup", "",
              f"- data: `{plan.base.data}`",
              f"- methods: {', '.join(plan.methods)}; seeds: {', '.join(map(str, plan.seeds))}",
              f"- splits: " + "; ".join(f"{n} (unseen {', '.join(map(str, u))})" for n, u in plan.splits),
              f"- **selection**: {results['selection']}.",
              "- augmentation of training batches: " + (", ".join(plan.base.augment) if plan.base.augment
                                                         else "none (the paper's training)")]
    lines += [f"- {note}" for note in plan.notes]
    lines += [f"- wall time: {results.get('wall_seconds', 0):.0f} s", ""]
    return lines


def _top1_section(plan, results: dict, tuned: bool) -> list[str]:
    lines = ["## Unseen-class top-1 (%), mean ± sd over seeds", "",
             "Checkpoint chosen on seen-class validation. *none*: text features, no alignment. *aligned, paper "
             "rule*: prototype-guided alignment (SPEC 7); *aligned, guarded rule*: prototypes blended with their "
             "gap-shifted text features by support (`align_rule: guarded`); both at the run's alpha, whichever "
             "rule its config names. *paper*: the published PGFA figure where SPEC section 9 quotes one.", "",
             "| split | method | none | aligned, paper rule | aligned, guarded rule |"
             + (" aligned, tuned |" if tuned else "") + " paper |",
             "|---|---|---|---|---|" + ("---|" if tuned else "") + "---|"]
    paper = results["paper"]

    def row(label: str, method: str, s: dict, fig) -> str:
        cells = [_pct(s["top1"]), _pct(s.get("top1_aligned_paper", s["top1_aligned"])),
                 _pct(s.get("top1_aligned_guarded"))] + ([_pct(s.get("top1_aligned_tuned"))] if tuned else [])
        return f"| {label} | {method} | " + " | ".join(cells) + f" | {fig if fig is not None else '—'} |"

    for name, _ in plan.splits:
        for method in plan.methods:
            lines.append(row(name, method, results["summary"][method]["per_split"][name],
                             paper.get(name, {}).get("top1")))
    for method in plan.methods:
        lines.append(row("**all runs**", method, results["summary"][method]["all"],
                         paper.get("average", {}).get("top1")))
    sources = [f"{k}: {v['source']}" for k, v in paper.items()]
    if sources:
        lines += ["", "Paper figures: " + "; ".join(sources) + ". Their protocols differ in detail "
                  "(full NTU/PKU data, the paper's own text features); compare with care."]
    lines += ["", "![summary](summary.png)", ""]
    return lines


def _runs_section(records: list[dict]) -> list[str]:
    lines = ["## Every run", "",
             "| method | split | seed | top-1 | aligned, paper rule | aligned, guarded rule | top-5 | last epoch | "
             "last, aligned | chance | n test | epoch chosen | support precision | run |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r['method']} | {r['split']} | {r['seed']} | {_p(r['top1'])} | "
                     f"{_p(r.get('top1_aligned_paper', r['top1_aligned']))} | {_p(r.get('top1_aligned_guarded'))} | "
                     f"{_p(r['top5'])} | {_p(r['last_top1'])} | {_p(r['last_top1_aligned'])} | {_p(r['chance'])} | "
                     f"{r['n_test']} | {r['checkpoint_epoch']} | {_p(r['support_precision'])} | `{r['run']}` |")
    rules = sorted({r.get("align_rule") or "paper" for r in records})
    lines += ["", "*last epoch*: the same run evaluated with its final checkpoint instead of the selected one "
              "(reported, never used to choose). *last, aligned* and *support precision*: the rule the runs' "
              f"config names ({', '.join(rules)}).", ""]
    return lines


def _gzsl_cell(g: dict | None, *keys) -> str:
    for key in keys:
        g = (g or {}).get(key)
    if not g:
        return "—"
    return f"{_p(g['seen_acc'])} / {_p(g['unseen_acc'])} / **{_p(g['harmonic_mean'])}**"


def _gzsl_section(records: list[dict]) -> list[str]:
    gzsl = [r for r in records if r.get("gzsl")]
    if not gzsl:
        return []
    lines = ["## Generalized zero-shot (label space seen ∪ unseen)", "",
             "Seen accuracy / unseen accuracy / harmonic mean H (%), over the seen-class test samples and the "
             "unseen test samples. *calibrated*: calibrated stacking, γ subtracted from seen-class scores, "
             "γ chosen on seen-class validation only.", "",
             "| method | split | seed | text | text, calibrated | aligned | aligned, calibrated | γ | AUSUC |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in gzsl:
        g = r["gzsl"]
        gamma = "—" if g.get("gamma") is None else f"{g['gamma']:.3f}"
        ausuc = f"{g['ausuc']:.3f}" if isinstance(g.get("ausuc"), (int, float)) else "—"
        lines.append(f"| {r['method']} | {r['split']} | {r['seed']} | {_gzsl_cell(g, 'text', 'uncalibrated')} | "
                     f"{_gzsl_cell(g, 'text', 'calibrated')} | {_gzsl_cell(g, 'aligned', 'uncalibrated')} | "
                     f"{_gzsl_cell(g, 'aligned', 'calibrated')} | {gamma} | {ausuc} |")
    first = gzsl[0]["gzsl"]
    lines += ["", f"γ rule: {first.get('calibration_rule')}.",
              f"Alignment in GZSL: {first.get('alignment_rule') or 'not applied'}.", ""]
    return lines


def _one_shot_section(records: list[dict]) -> list[str]:
    shots = [r for r in records if r.get("one_shot")]
    if not shots:
        return []
    lines = ["## One-shot", ""]
    keys = sorted({k for r in shots for k in _flat_numbers(r["one_shot"])})
    lines += ["| method | split | seed | " + " | ".join(keys) + " |", "|---" * (len(keys) + 3) + "|"]
    for r in shots:
        flat = _flat_numbers(r["one_shot"])
        lines.append(f"| {r['method']} | {r['split']} | {r['seed']} | "
                     + " | ".join(f"{flat[k]:.3f}" if k in flat else "—" for k in keys) + " |")
    lines.append("")
    return lines


def _premise_section(records: list[dict], premise: list[dict]) -> list[str]:
    lines = ["## Does the alignment's premise hold?", "",
             "The paper argues that a prototype built from confidently pseudo-labelled test samples lies nearer "
             "the class's true feature centroid than its text feature. Checked after prediction with the test "
             "labels (for this report only; never fed back):", ""]
    for r in [r for r in records if r.get("prototypes_nearer") is not None]:
        n_classes = len(r["unseen_classes"])
        lines.append(f"- {r['method']} {r['split']} seed {r['seed']}: prototype nearer for "
                     f"{r['prototypes_nearer']}/{n_classes} classes; support precision {_p(r['support_precision'])} %; "
                     f"top-1 {_p(r['top1'])} → {_p(r['top1_aligned'])} %")
    if premise:
        high = [p for p in premise if p["support_precision"] >= 0.5]
        low = [p for p in premise if p["support_precision"] < 0.5]

        def share(rows):
            return f"{sum(p['gain'] > 0 for p in rows)}/{len(rows)}" if rows else "0/0"

        lines += ["", f"Over all runs, classes whose support set was at least half correct got a prototype nearer "
                  f"the centroid in {share(high)} cases; classes below half in {share(low)}.", "",
                  "![premise](alignment_premise.png)"]
    lines.append("")
    return lines


def _pictures_section(plan, records: list[dict], out: Path) -> list[str]:
    lines = ["## Pictures per run", "",
             "Each run folder holds `confusion.png` / `confusion_aligned.png`, and, where written, per-class "
             "accuracy and a feature map (PCA of the unseen test features with text features and prototypes "
             "marked). First seed of each split:", ""]
    for method in plan.methods:
        for name, _ in plan.splits:
            r = next((r for r in records if r["method"] == method and r["split"] == name), None)
            if r is None:
                continue
            pictures = [p for p in ("confusion_aligned.png", "per_class.png", "feature_map.png")
                        if (out / r["run"] / p).is_file()]
            if pictures:
                lines.append(f"**{method}, {name}, seed {r['seed']}**\n")
                lines += [f"![{p}]({r['run']}/{p})" for p in pictures]
                lines.append("")
    return lines


def write_report(plan, results: dict, out: Path) -> Path:
    """Write ``results.json``, ``report.md`` and the summary plots into ``out``.

    ``plan`` is the :class:`pgfa.experiments.reproduce.Plan` that was run,
    ``results`` what :func:`pgfa.experiments.reproduce.summarise` made of it.
    """
    out = Path(out)
    records = results["runs"]
    for name in ("results.json", "report.md"):
        keep_previous(out / name)
    write_json(out / "results.json", results)
    plot_summary(results, out / "summary.png")
    premise = premise_rows(records)
    if premise:
        plot_alignment_premise(premise, out / "alignment_premise.png")
    tuned = any(r.get("top1_aligned_tuned") is not None for r in records)
    lines = (_setup_section(plan, results) + _top1_section(plan, results, tuned) + _runs_section(records)
             + _gzsl_section(records) + _one_shot_section(records) + _premise_section(records, premise)
             + _pictures_section(plan, records, out))
    lines += ["## Configuration (base; each run sets its unseen classes, seed and method)", "", "```yaml",
              yaml.safe_dump(results["config"], sort_keys=False).rstrip(), "```", ""]
    path = out / "report.md"
    write_text(path, "\n".join(lines))
    return path
