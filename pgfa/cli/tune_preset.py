"""``pgfa tune-preset``: choose ``--preset small``'s options on seen-class development splits.

The rule is docs/PRESET_RULE.md (:mod:`pgfa.experiments.preset_tuning`).
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "tune-preset",
        help="choose --preset small's augmentation, class texts and alignment rule on seen-class development "
             "splits of several datasets (official training samples only; docs/PRESET_RULE.md)")
    p.add_argument("--set-spec", dest="specs", action="append", required=True, metavar="DATA,CLASSES,K",
                   help="a dataset, its class texts (file or built-in name; empty: from the data) and how many "
                        "classes a development split holds out, e.g. data/utd_mhad.pkl,utd_mhad,5 (repeatable)")
    p.add_argument("--out", required=True, help="folder for the development runs, results.json and results.md "
                                                "(finished candidates are reused when run again)")
    p.add_argument("--augment", default="none,all", help="augmentation choices to train (default none,all)")
    p.add_argument("--text-modes", default="description,ensemble",
                   help="text modes to train (default description,ensemble)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override a config field of every development run (e.g. frames=32; reported)")
    return p


def run(args: argparse.Namespace) -> int:
    from pgfa.config import parse_assignments
    from pgfa.experiments.preset_tuning import parse_set_spec, tune_preset

    specs = [parse_set_spec(text) for text in args.specs]
    for spec in specs:
        if not Path(spec.data).exists():
            raise FileNotFoundError(f"--set-spec {spec.data}: no such data file or folder")
    results = tune_preset(specs, args.out, augments=tuple(_names(args.augment)),
                          text_modes=tuple(_names(args.text_modes)), overrides=parse_assignments(args.set))
    print(f"winner over all sets: {results['winner']}")
    for name, winner in results["leave_one_out"].items():
        print(f"for {name}'s figures (chosen on the other sets): {winner}")
    print(f"written: {Path(args.out) / 'results.md'}, {Path(args.out) / 'results.json'}")
    return 0


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
