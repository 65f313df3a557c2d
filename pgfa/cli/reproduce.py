"""``pgfa reproduce`` and ``pgfa demo``: the experiment drivers."""
from __future__ import annotations

import argparse
from pathlib import Path


def add_demo(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="train and evaluate on the built-in synthetic benchmark (no download)")
    p.add_argument("--quick", action="store_true", help="a tiny run (under a minute) to check the install")
    p.add_argument("--out", help="run folder (default: a new folder under ./runs)")
    p.add_argument("--seed", type=int, default=0)
    return p


def add_reproduce(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("reproduce", help="every split of a paper setting (or N random splits) x seeds -> report.md")
    p.add_argument("--setting", choices=("A", "B", "one-shot"), help="a paper setting (SPEC 3); needs --dataset")
    p.add_argument("--dataset", choices=("ntu60", "ntu120", "pku"), help="which dataset --data holds (for --setting)")
    p.add_argument("--data", required=True, help="prepared data (pgfa prepare), or any input 'pgfa train' reads")
    p.add_argument("--unseen-count", type=int, metavar="K", help="instead of --setting: N random splits of K unseen classes")
    p.add_argument("--splits", type=int, default=3, metavar="N", help="number of random splits (default 3)")
    p.add_argument("--seeds", default="0,1,2", help="training seeds (default 0,1,2)")
    p.add_argument("--methods", default="pgfa", help="pgfa, two-stage, or both: pgfa,two-stage")
    p.add_argument("--classes", help="class file or built-in dataset name (random splits; default: from the data)")
    p.add_argument("--epochs", type=int, help="instead of the paper's 50 (say so when you report)")
    p.add_argument("--batch-size", type=int, help="instead of the paper's 128")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override any config field (repeatable)")
    p.add_argument("--preset", choices=("small",),
                   help="small: batch size, epochs, warm-up and lr decay resolved per run from its own seen-class "
                        "training samples, plus the options chosen on seen-class development splits (the report "
                        "says what each run got); --epochs, --batch-size and --set win over the preset")
    p.add_argument("--out", required=True, help="folder for the runs, report.md and results.json")
    p.add_argument("--tune-alignment", type=int, default=0, metavar="N",
                   help="also choose each run's alignment settings on N development splits of its seen classes "
                        "(N extra trainings per run; default 0: off)")
    return p


def run_demo(args: argparse.Namespace) -> int:
    from pgfa.experiments import demo

    demo.run_demo(quick=args.quick, out=args.out, seed=args.seed)
    return 0


def run_reproduce(args: argparse.Namespace) -> int:
    from pgfa.config import TrainConfig, check_value, parse_assignments
    from pgfa.errors import ConfigError
    from pgfa.data.formats import load_skeletons
    from pgfa.data.splits import parse_class_list
    from pgfa.experiments.reproduce import execute, make_plan, release_folders

    if (args.setting is None) == (args.unseen_count is None):
        raise ValueError("give either --setting A|B|one-shot with --dataset, or --unseen-count K for random splits")
    data = str(Path(args.data).resolve()) if Path(args.data).exists() else args.data
    overrides = parse_assignments(args.set)
    for field in ("epochs", "batch_size"):
        if getattr(args, field) is not None:
            try:
                overrides[field] = check_value(field, getattr(args, field))
            except ConfigError as err:
                raise ConfigError(f"--{field.replace('_', '-')} {getattr(args, field)}: {err}", key=field) from None
    # The data is read with the frame count the runs will record (issue 15: it used to be read at the
    # default 50 frames whatever --set frames=N said); checked against the plan below.
    frames = overrides.get("frames", TrainConfig.__dataclass_fields__["frames"].default)
    split_data = release_folders(args.setting or "random", data, args.dataset)  # {} unless a PGFA release tree
    skeletons = None if split_data else load_skeletons(data, frames=frames)
    classes = args.classes
    if classes and Path(classes).is_file():
        classes = str(Path(classes).resolve())
    plan = make_plan(args.setting or "random", data, dataset=args.dataset, classes=classes,
                     seeds=parse_class_list(args.seeds), methods=[m.strip() for m in args.methods.split(",")],
                     unseen_count=args.unseen_count, n_splits=args.splits,
                     num_classes=skeletons.num_classes if skeletons is not None else None,
                     overrides=overrides, tune_alignment=args.tune_alignment, split_data=split_data,
                     preset=getattr(args, "preset", None))
    if skeletons is not None and plan.base.frames != frames:  # a setting that fixes its own frame count
        skeletons = load_skeletons(data, frames=plan.base.frames)
    results = execute(plan, args.out, skeletons=skeletons)
    for method in plan.methods:
        s = results["summary"][method]["all"]
        aligned = s["top1_aligned"]
        print(f"{method}: top-1 {100 * s['top1']['mean']:.1f} ± {100 * s['top1']['std']:.1f} %"
              + (f", aligned {100 * aligned['mean']:.1f} ± {100 * aligned['std']:.1f} %" if aligned else "")
              + f" over {s['top1']['n']} runs")
    print(f"written: {Path(args.out) / 'report.md'}, {Path(args.out) / 'results.json'}")
    return 0
