"""Issue 19's table: paper settings vs ``--preset small`` on small real sets, from ``pgfa reproduce`` outputs.

Usage::

    python benchmarks/small_data.py --paper SET=DIR [SET=DIR ...] --preset SET=DIR [SET=DIR ...] \
        [--shipped SET=DIR ...]

Each DIR is a ``pgfa reproduce --out`` folder (its ``results.json``). Prints,
per set, setting and method, the unseen top-1 (mean ± sd over the runs, %)
with no alignment, the paper's rule and the guarded rule, then the issue's
targets computed from the ``--preset`` folders:

* PGFA minus two-stage, averaged over the sets (target >= 10 points), with no
  alignment and with each alignment rule, paired by split (a split only one
  method has finished is left out, so a partial measurement stays fair);
* guarded alignment minus no alignment for PGFA, per set (target: never
  below 0) and averaged (target >= 3 points).

``--shipped`` adds docs/PRESET_RULE.md section 4's ablation: the shipped
preset (no ``--set``) on the same splits, and its difference from the
leave-one-out ``--preset`` runs.

Nothing here chooses anything: it reads figures that were fixed by
docs/PRESET_RULE.md before they existed.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pgfa.experiments.reproduce import aligned_by_rule
from pgfa.run import read_metrics

COLUMNS = (("none", "top1"), ("paper rule", "top1_aligned_paper"), ("guarded rule", "top1_aligned_guarded"))


def _folders(items: list[str]) -> dict[str, Path]:
    pairs = [item.split("=", 1) for item in items]
    if any(len(p) != 2 for p in pairs):
        raise SystemExit("give SET=DIR pairs, e.g. utd_mhad=runs/paper-utd_mhad")
    return {name: Path(folder) for name, folder in pairs}


def runs_of(folder: Path, method: str) -> list[dict]:
    """The finished runs of ``method`` in a reproduce folder (``results.json`` records).

    A reproduce that has not finished yet has no ``results.json``; its finished runs are then read from
    their own ``metrics.json`` (``runs/METHOD/SPLIT/seedS/``), so a partial measurement can be reported
    with its true run count.
    """
    results_file = folder / "results.json"
    if results_file.exists():
        results = json.loads(results_file.read_text(encoding="utf-8"))
        return [r for r in results["runs"] if r["method"] == method]
    return [_record_from_metrics(m) for m in sorted((folder / "runs" / method).glob("*/seed*/metrics.json"))]


def _record_from_metrics(path: Path) -> dict:
    """The fields of a ``results.json`` record this table reads, from one run's ``metrics.json``."""
    metrics = read_metrics(path)
    return {"split": path.parent.parent.name, "top1": metrics.zsl_top1, **aligned_by_rule(metrics),
            "support_precision": metrics.support_precision, "checkpoint_epoch": metrics.checkpoint_epoch}


def values(runs: list[dict], key: str) -> np.ndarray:
    """``(n,)`` percentages of ``key`` over runs (the paper's-rule figure of old records is ``top1_aligned``)."""
    fallback = "top1_aligned" if key == "top1_aligned_paper" else key
    return np.array([100 * (r.get(key) if r.get(key) is not None else r[fallback]) for r in runs], dtype=float)


def cell(v: np.ndarray) -> str:
    return f"{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.1f}" if len(v) else "—"


def table(settings: dict[str, dict[str, Path]]) -> list[str]:
    lines = ["| set | setting | method | runs | " + " | ".join(c for c, _ in COLUMNS) + " |",
             "|---|---|---|---|" + "---|" * len(COLUMNS)]
    sets = list(dict.fromkeys(s for folders in settings.values() for s in folders))
    for set_name in sets:
        for setting, folders in settings.items():
            if set_name not in folders:
                continue
            for method in ("pgfa", "two-stage"):
                runs = runs_of(folders[set_name], method)
                lines.append(f"| {set_name} | {setting} | {method} | {len(runs)} | "
                             + " | ".join(cell(values(runs, key)) for _, key in COLUMNS) + " |")
    return lines


def paired_gap(a: list[dict], b: list[dict], key_a: str, key_b: str) -> float | None:
    """Mean of ``a[key_a] - b[key_b]`` over the splits both lists have (points), or None if none.

    Pairing by split keeps a partial measurement fair: a split only one side has finished is left out.
    """
    by_split = {r["split"]: r for r in b}
    common = [r for r in a if r["split"] in by_split]
    if not common:
        return None
    return float(np.mean(values(common, key_a) - values([by_split[r["split"]] for r in common], key_b)))


def _gaps_line(label: str, gaps: dict[str, float | None], target: str) -> str:
    known = [g for g in gaps.values() if g is not None]
    mean = f"{np.mean(known):+.1f}" if known else "n/a"
    return (f"- {label}: " + ", ".join(f"{s} " + (f"{g:+.1f}" if g is not None else "n/a") for s, g in gaps.items())
            + f"; mean {mean} points over {len(known)} set(s) ({target})")


def targets(folders: dict[str, Path]) -> list[str]:
    """The issue's two targets on the ``--preset`` runs, paired by split."""
    lines = []
    for label, key in COLUMNS:
        gaps = {s: paired_gap(runs_of(f, "pgfa"), runs_of(f, "two-stage"), key, key) for s, f in folders.items()}
        lines.append(_gaps_line(f"PGFA − two-stage, {label}", gaps, "target ≥ +10"))
    gains = {s: paired_gap(runs_of(f, "pgfa"), runs_of(f, "pgfa"), "top1_aligned_guarded", "top1")
             for s, f in folders.items()}
    lines.append(_gaps_line("PGFA guarded alignment − no alignment", gains, "target: none below 0, mean ≥ +3"))
    return lines


def setting_gaps(later: dict[str, Path], earlier: dict[str, Path], label: str) -> list[str]:
    """One setting minus another (``label`` names the pair), per method and column, paired by split."""
    both = [name for name in later if name in earlier]
    lines = []
    for method in ("pgfa", "two-stage"):
        for column, key in COLUMNS:
            gaps = {s: paired_gap(runs_of(later[s], method), runs_of(earlier[s], method), key, key) for s in both}
            lines.append(_gaps_line(f"{method} {label}, {column}", gaps, "no target"))
    return lines


def preset_vs_paper(paper: dict[str, Path], preset: dict[str, Path]) -> list[str]:
    """``--preset small`` minus the paper's settings, per method and column, paired by split."""
    return setting_gaps(preset, paper, "--preset small − paper settings")


def save_records(settings: dict[str, dict[str, Path]], path: Path) -> None:
    """Every record the table read, as ``{setting: {set: {method: [record, ...]}}}`` (small; kept in docs)."""
    keep = ("split", "top1", "top1_aligned_paper", "top1_aligned_guarded", "support_precision", "checkpoint_epoch")
    out = {setting: {name: {m: [{k: r.get(k) for k in keep} for r in runs_of(folder, m)] for m in ("pgfa", "two-stage")}
                     for name, folder in folders.items()} for setting, folders in settings.items()}
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paper", nargs="+", default=[], metavar="SET=DIR")
    parser.add_argument("--preset", nargs="+", default=[], metavar="SET=DIR")
    parser.add_argument("--shipped", nargs="+", default=[], metavar="SET=DIR",
                        help="the shipped --preset small without --set (docs/PRESET_RULE.md section 4's ablation)")
    parser.add_argument("--save", type=Path, metavar="FILE", help="also write every run's figures as JSON")
    args = parser.parse_args()
    paper, preset, shipped = _folders(args.paper), _folders(args.preset), _folders(args.shipped)
    settings = {"paper settings": paper, "--preset small": preset, "shipped --preset small": shipped}
    settings = {k: v for k, v in settings.items() if v}
    print("\n".join(table(settings)))
    if preset:
        print()
        print("\n".join(targets(preset)))
    if paper and preset:
        print()
        print("\n".join(preset_vs_paper(paper, preset)))
    if preset and shipped:
        print()
        print("\n".join(setting_gaps(shipped, preset, "shipped preset − leave-one-out preset")))
    if args.save:
        save_records(settings, args.save)


if __name__ == "__main__":
    main()
