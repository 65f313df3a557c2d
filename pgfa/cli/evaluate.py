"""``pgfa evaluate`` and ``pgfa tune-alignment``, and the printing of a run's metrics."""
from __future__ import annotations

import argparse
from pathlib import Path

from pgfa.config import ALIGNMENTS


def add_evaluate(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("evaluate", help="unseen-class accuracy of a trained run, with and without alignment")
    p.add_argument("run", help="run folder written by 'pgfa train'")
    p.add_argument("--no-align", action="store_true", help="skip prototype alignment")
    p.add_argument("--alpha", type=float, help="support factor (default: the run's config)")
    p.add_argument("--align-rule", choices=ALIGNMENTS,
                   help="alignment rule: paper (SPEC 7) or guarded (prototypes blended by support); an "
                        "evaluation-time setting, no retraining (default: the run's config, align_rule)")
    p.add_argument("--device", default="auto")
    p.add_argument("--checkpoint", default="best.pt",
                   help="checkpoint in the run folder: best.pt (chosen on seen-class validation, default) or "
                        "last.pt; other than best.pt writes metrics_<name>.json")
    p.add_argument("--one-shot", action="store_true",
                   help="also one-shot figures: one seeded exemplar per unseen class, removed from the test set")
    p.add_argument("--one-shot-seed", type=int, default=0, help="seed of the exemplar draw (default 0)")
    p.add_argument("--one-shot-draws", type=int, default=1,
                   help="repeat the exemplar draw with seeds seed, seed+1, ... and average (default 1)")
    p.add_argument("--tuned-alignment", action="store_true",
                   help="alignment settings from 'pgfa tune-alignment RUN' (chosen on seen classes only)")
    return p


def add_tune_alignment(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("tune-alignment",
                       help="choose alignment alpha/temperature by simulated zero-shot on the run's seen classes")
    p.add_argument("run", help="run folder written by 'pgfa train'")
    p.add_argument("--dev-splits", type=int, default=3, help="development splits, one extra training each (default 3)")
    p.add_argument("--dev-count", type=int,
                   help="seen classes held out per development split (default: as many as the run's unseen classes)")
    p.add_argument("--device", default="auto")
    p.add_argument("--compare-rules", action="store_true",
                   help="also score the guarded alignment rule (default: the paper's rule only)")
    return p


def print_metrics(m: dict) -> None:
    rows = [("text features (no alignment)", m["zsl_top1"], m["zsl_top5"])]
    if m.get("zsl_top1_aligned") is not None:
        rows.append((f"prototype alignment ({_alignment_label(m)})", m["zsl_top1_aligned"], m["zsl_top5_aligned"]))
    rows.append(("chance", m["chance_top1"], min(1.0, 5 * m["chance_top1"])))
    print(f"\nunseen classes: {len(m['unseen_classes'])}, test samples: {m['n_test']}")
    print(f"{'method':<36} {'top-1':>7} {'top-5':>7}")
    for name, top1, top5 in rows:
        print(f"{name:<36} {100 * top1:>6.1f}% {100 * top5:>6.1f}%")
    _print_gzsl(m.get("gzsl"), _alignment_label(m))
    _print_one_shot(m.get("one_shot"))
    print(f"checkpoint chosen on: {m['selected_on']}")
    if m.get("zsl_top1_aligned") is not None and m.get("alpha_source"):
        print(f"alignment settings from: {m['alpha_source']}")
    others = {r: v for r, v in (m.get("zsl_top1_aligned_by_rule") or {}).items() if r != m.get("align_rule")}
    if others:
        print("other alignment rules, same settings, top-1: "
              + ", ".join(f"{r} {100 * v:.1f}%" for r, v in others.items()))


def _alignment_label(m: dict) -> str:
    temperature = m.get("align_temperature")
    rule = m.get("align_rule")
    return ("" if rule in (None, "paper") else f"{rule}, ") + f"alpha={m['alpha']}" + ("" if temperature is None else f", temperature={temperature:.3g}")


def _print_gzsl(g: dict | None, alignment: str) -> None:
    """GZSL rows of ``print_metrics``: seen / unseen accuracy and H, uncalibrated and calibrated."""
    if not g:
        return
    gamma = g.get("gamma")
    rows = []
    for key, label in (("text", "text features"), ("aligned", f"prototype alignment ({alignment})")):
        part = g.get(key) or {}
        if part.get("uncalibrated"):
            rows.append((label, part["uncalibrated"]))
        if part.get("calibrated"):
            rows.append((f"{label}, gamma={gamma:.3f}", part["calibrated"]))
    print(f"\ngeneralised zero-shot (label space seen + unseen): {g['n_seen_test']} seen-class and "
          f"{g['n_unseen_test']} unseen-class test samples")
    print(f"{'method':<44} {'seen':>7} {'unseen':>7} {'H':>7}")
    for name, r in rows:
        cells = " ".join(f"{100 * r[k]:>6.1f}%" for k in ("seen_acc", "unseen_acc", "harmonic_mean"))
        print(f"{name:<44} {cells}")
    if g.get("ausuc") is not None:
        print(f"AUSUC of text features over all gamma (no gamma chosen): {g['ausuc']:.3f}")
    print(f"gamma: {g['calibration_rule']}")


def _print_one_shot(s: dict | None) -> None:
    """One-shot rows of ``print_metrics``."""
    if not s:
        return
    draws = f", mean of {s['draws']} draws" if s["draws"] > 1 else ""
    print(f"\none-shot on the unseen classes: one exemplar per class (seed {s['seed']}{draws}), "
          f"{s['n_test']} remaining test samples")
    for key, label in (("exemplar_top1", "exemplar feature"), ("exemplar_text_top1", "exemplar + text feature"),
                       ("text_top1", "text feature only (same samples)")):
        std = f" ± {100 * s[key + '_std']:.1f}" if key + "_std" in s else ""
        print(f"{label:<36} {100 * s[key]:>6.1f}%{std}")


def run_evaluate(args: argparse.Namespace) -> int:
    from pgfa.evaluation.evaluate import evaluate_run, output_suffix

    metrics = evaluate_run(args.run, align=not args.no_align, alpha=args.alpha, device=args.device,
                           checkpoint=args.checkpoint, one_shot=args.one_shot, one_shot_seed=args.one_shot_seed,
                           one_shot_draws=args.one_shot_draws, tuned_alignment=args.tuned_alignment,
                           align_rule=args.align_rule)
    print_metrics(metrics)
    print(f"written: {Path(args.run) / ('metrics' + output_suffix(args.checkpoint, args.tuned_alignment) + '.json')}")
    return 0


def run_tune_alignment(args: argparse.Namespace) -> int:
    from pgfa.experiments.alignment_tuning import SELECTION_FILE, tune_alignment

    selection = tune_alignment(args.run, dev_splits=args.dev_splits, dev_count=args.dev_count, device=args.device,
                               rules=ALIGNMENTS if args.compare_rules else ("paper",))
    print(f"\nmean top-1 on the held-out seen classes over {len(selection['splits'])} development splits:")
    for key, value in sorted(selection["mean_top1"].items(), key=lambda kv: -kv[1]):
        mark = "  <- chosen" if key == selection["chosen"] else ""
        print(f"  {key:<32} {100 * value:6.1f}%{mark}")
    print(f"written: {Path(args.run) / SELECTION_FILE}; use it with 'pgfa evaluate {args.run} --tuned-alignment'")
    return 0
