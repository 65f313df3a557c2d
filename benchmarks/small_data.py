"""Issue 19's table: paper settings vs ``--preset small`` on small real sets, from ``pgfa reproduce`` outputs.

Usage::

    python benchmarks/small_data.py --paper SET=DIR [SET=DIR ...] --preset SET=DIR [SET=DIR ...]

Each DIR is a ``pgfa reproduce --out`` folder (its ``results.json``). Prints,
per set, setting and method, the unseen top-1 (mean ± sd over the runs, %)
with no alignment, the paper's rule and the guarded rule, then the issue's
targets computed from the ``--preset`` folders:

* PGFA minus two-stage, averaged over the sets (target >= 10 points), with no
  alignment and with each alignment rule;
* guarded alignment minus no alignment for PGFA, per set (target: never
  below 0) and averaged (target >= 3 points).

Nothing here chooses anything: it reads figures that were fixed by
docs/PRESET_RULE.md before they existed.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

COLUMNS = (("none", "top1"), ("paper rule", "top1_aligned_paper"), ("guarded rule", "top1_aligned_guarded"))


def _folders(items: list[str]) -> dict[str, Path]:
    pairs = [item.split("=", 1) for item in items]
    if any(len(p) != 2 for p in pairs):
        raise SystemExit("give SET=DIR pairs, e.g. utd_mhad=runs/paper-utd_mhad")
    return {name: Path(folder) for name, folder in pairs}


def runs_of(folder: Path, method: str) -> list[dict]:
    """The finished runs of ``method`` in a reproduce folder (``results.json`` records)."""
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    return [r for r in results["runs"] if r["method"] == method]


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


def targets(folders: dict[str, Path]) -> list[str]:
    """The issue's two targets on the ``--preset`` runs."""
    lines = []
    for label, key in COLUMNS:
        gaps = [values(runs_of(f, "pgfa"), key).mean() - values(runs_of(f, "two-stage"), key).mean()
                for f in folders.values()]
        lines.append(f"- PGFA − two-stage, {label}: " + ", ".join(f"{s} {g:+.1f}" for s, g in zip(folders, gaps))
                     + f"; mean {np.mean(gaps):+.1f} points (target ≥ +10)")
    gains = {s: values(runs_of(f, "pgfa"), "top1_aligned_guarded").mean() - values(runs_of(f, "pgfa"), "top1").mean()
             for s, f in folders.items()}
    lines.append("- PGFA guarded alignment − no alignment: " + ", ".join(f"{s} {g:+.1f}" for s, g in gains.items())
                 + f"; mean {np.mean(list(gains.values())):+.1f} points (target: none below 0, mean ≥ +3)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paper", nargs="+", default=[], metavar="SET=DIR")
    parser.add_argument("--preset", nargs="+", default=[], metavar="SET=DIR")
    args = parser.parse_args()
    settings = {"paper settings": _folders(args.paper), "--preset small": _folders(args.preset)}
    settings = {k: v for k, v in settings.items() if v}
    print("\n".join(table(settings)))
    if args.preset:
        print()
        print("\n".join(targets(_folders(args.preset))))


if __name__ == "__main__":
    main()
