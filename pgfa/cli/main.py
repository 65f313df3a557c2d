"""``pgfa`` command line: train, evaluate, demo."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pgfa.config import TrainConfig


def _threads() -> None:
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a zero-shot model on the seen classes of a dataset")
    p.add_argument("--data", required=True,
                   help="X_data.npy (+ X_label.npy), a folder with train_/test_ pairs, a pyskl .pkl, or 'synthetic'")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--unseen", help="comma-separated unseen class indices (0-based), e.g. 3,7,11")
    group.add_argument("--unseen-count", type=int, metavar="K",
                       help="draw K unseen classes at random with --split-seed (recorded in config.yaml)")
    group.add_argument("--split", help="a named split (e.g. ntu60/split_1, ntu120/96-24) or a file of unseen indices")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the --unseen-count draw (default 0)")
    p.add_argument("--out", required=True, help="run folder to create (or to resume, with the same options)")
    p.add_argument("--classes", help="class file (one 'name' or 'name<TAB>description' per line) or a built-in dataset name")
    p.add_argument("--text-encoder", default=None, help="minilm (default), mpnet, or a local model folder")
    p.add_argument("--text", dest="text_mode", choices=("name", "description", "both"), default=None,
                   help="which class text to embed (default: description where there is one)")
    p.add_argument("--method", choices=("pgfa", "two-stage"),
                   help="pgfa: end-to-end contrastive (default); two-stage: classifier, then a projection (baseline)")
    p.add_argument("--backbone", help="stgcn (default) or shiftgcn")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--alpha", type=float, help="support factor for alignment at evaluation (fixed now, not tuned)")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 ...")
    p.add_argument("--amp", action="store_true",
                   help="mixed precision on CUDA (bfloat16, else float16 with loss scaling); ignored on CPU")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (the first steps compile it)")
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override any config field (repeatable)")
    p.add_argument("--force", action="store_true", help="delete an existing, different run in --out first")
    p.add_argument("--evaluate", action="store_true", help="evaluate right after training")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="unseen-class accuracy of a trained run, with and without alignment")
    p.add_argument("run", help="run folder written by 'pgfa train'")
    p.add_argument("--no-align", action="store_true", help="skip prototype alignment")
    p.add_argument("--alpha", type=float, help="support factor (default: the run's config)")
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


def _add_tune_alignment(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tune-alignment",
                       help="choose alignment alpha/temperature by simulated zero-shot on the run's seen classes")
    p.add_argument("run", help="run folder written by 'pgfa train'")
    p.add_argument("--dev-splits", type=int, default=3, help="development splits, one extra training each (default 3)")
    p.add_argument("--dev-count", type=int,
                   help="seen classes held out per development split (default: as many as the run's unseen classes)")
    p.add_argument("--device", default="auto")


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train and evaluate on the built-in synthetic benchmark (no download)")
    p.add_argument("--quick", action="store_true", help="a tiny run (under a minute) to check the install")
    p.add_argument("--out", help="run folder (default: a new folder under ./runs)")
    p.add_argument("--seed", type=int, default=0)


def _add_classes(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classes", help="print a built-in dataset's class names and descriptions")
    p.add_argument("dataset", help="ntu60, ntu120, pku, utd_mhad, nw_ucla, msr_action3d or synthetic")


def _add_embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="embed class texts with a frozen sentence encoder into a .npy file")
    p.add_argument("--classes", required=True, help="class file or built-in dataset name")
    p.add_argument("--encoder", default="minilm", help="minilm (default), mpnet, or a local model folder")
    p.add_argument("--text", dest="text_mode", choices=("name", "description", "both"), default="description")
    p.add_argument("--out", required=True, help="output .npy, (K, D) float32 unit rows")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")


def _add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="turn raw dataset files into model-ready arrays")
    p.add_argument("dataset", choices=("ntu", "pku"),
                   help="ntu: NTU RGB+D 60/120 .skeleton files; pku: PKU-MMD skeleton + label files")
    p.add_argument("--raw", required=True, help="ntu: folder searched recursively for .skeleton files; "
                                                "pku: folder of skeleton .txt files")
    p.add_argument("--labels", help="pku: folder of label .txt files (same names as the skeleton files)")
    p.add_argument("--out", required=True, help="output folder (data.npy, label.npy, samples.tsv, manifest.json)")
    p.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1))
    p.add_argument("--version", choices=("ntu60", "ntu120"), help="ntu: default detected from the action ids")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable files and list them in the manifest")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")


def _add_predict(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="rank your own action names for new skeleton sequences")
    p.add_argument("run", help="trained run folder")
    p.add_argument("inputs", nargs="+", help=".skeleton files, .npy arrays, pyskl .pkl files, or folders of them")
    p.add_argument("--classes", required=True,
                   help="class file ('name' or 'name<TAB>description' lines), a built-in dataset, or \"name1,name2,...\"")
    p.add_argument("--align", action="store_true", help="prototype alignment across the given inputs")
    p.add_argument("--alpha", type=float, help="support factor for --align (default: the run's)")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")


def _add_show(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="render a skeleton sequence (PNG strip or GIF), optionally with its prediction")
    p.add_argument("input", help="a .skeleton file, .npy array or pyskl .pkl")
    p.add_argument("--out", required=True, help="output .png (frame strip) or .gif (animation)")
    p.add_argument("--sample", type=int, default=0, help="which sequence of a multi-sequence input (default 0)")
    p.add_argument("--run", help="trained run: label the sequence with its top prediction")
    p.add_argument("--classes", help="with --run: class file, built-in dataset, or \"name1,name2,...\"")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")


def _add_reproduce(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--out", required=True, help="folder for the runs, report.md and results.json")
    p.add_argument("--tune-alignment", type=int, default=0, metavar="N",
                   help="also choose each run's alignment settings on N development splits of its seen classes "
                        "(N extra trainings per run; default 0: off)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgfa", description="Zero-shot skeleton action recognition (PGFA).")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    _add_train(sub)
    _add_evaluate(sub)
    _add_demo(sub)
    _add_classes(sub)
    _add_embed(sub)
    _add_prepare(sub)
    _add_predict(sub)
    _add_show(sub)
    _add_reproduce(sub)
    _add_tune_alignment(sub)
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from pgfa.data.splits import parse_class_list
    from pgfa.training.loop import train

    # Files are recorded by absolute path so 'pgfa evaluate RUN' works from any folder.
    data = str(Path(args.data).resolve()) if Path(args.data).exists() else args.data
    classes = str(Path(args.classes).resolve()) if args.classes and Path(args.classes).is_file() else args.classes
    config = TrainConfig(data=data, classes=classes)
    for field in ("method", "backbone", "text_encoder", "text_mode", "epochs", "batch_size", "lr", "seed", "alpha",
                  "device"):
        value = getattr(args, field)
        if value is not None:
            setattr(config, field, value)
    config.amp = config.amp or args.amp
    config.compile = config.compile or args.compile
    config = config.override(args.set)
    skeletons = None
    if args.unseen is not None:
        config.unseen = parse_class_list(args.unseen)
    else:  # the class count is needed to draw or check the split: load once, hand the data to train
        from pgfa.data.formats import load_skeletons
        from pgfa.data.split_registry import resolve_split
        from pgfa.data.splits import random_unseen

        skeletons = load_skeletons(config.data, frames=config.frames)
        if args.split is not None:
            config.unseen = resolve_split(args.split, skeletons.num_classes)
        else:
            config.unseen = random_unseen(skeletons.num_classes, args.unseen_count, args.split_seed)
        print(f"unseen classes: {','.join(map(str, config.unseen))}")
    run = train(config, args.out, skeletons=skeletons, force=args.force)
    from pgfa.training.distributed import is_main

    if not is_main():  # under torchrun, rank 0 reports (and evaluates) for all processes
        return 0
    print(f"run folder: {run}")
    if args.evaluate:
        from pgfa.evaluation.evaluate import evaluate_run

        print_metrics(evaluate_run(run))
    return 0


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


def _alignment_label(m: dict) -> str:
    temperature = m.get("align_temperature")
    return f"alpha={m['alpha']}" + ("" if temperature is None else f", temperature={temperature:.3g}")


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


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pgfa.evaluation.evaluate import evaluate_run, output_suffix

    metrics = evaluate_run(args.run, align=not args.no_align, alpha=args.alpha, device=args.device,
                           checkpoint=args.checkpoint, one_shot=args.one_shot, one_shot_seed=args.one_shot_seed,
                           one_shot_draws=args.one_shot_draws, tuned_alignment=args.tuned_alignment)
    print_metrics(metrics)
    print(f"written: {Path(args.run) / ('metrics' + output_suffix(args.checkpoint, args.tuned_alignment) + '.json')}")
    return 0


def cmd_tune_alignment(args: argparse.Namespace) -> int:
    from pgfa.evaluation.alignment_tuning import SELECTION_FILE, tune_alignment

    selection = tune_alignment(args.run, dev_splits=args.dev_splits, dev_count=args.dev_count, device=args.device)
    print(f"\nmean top-1 on the held-out seen classes over {len(selection['splits'])} development splits:")
    for key, value in sorted(selection["mean_top1"].items(), key=lambda kv: -kv[1]):
        mark = "  <- chosen" if key == selection["chosen"] else ""
        print(f"  {key:<32} {100 * value:6.1f}%{mark}")
    print(f"written: {Path(args.run) / SELECTION_FILE}; use it with 'pgfa evaluate {args.run} --tuned-alignment'")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pgfa.cli.demo import run_demo

    run_demo(quick=args.quick, out=args.out, seed=args.seed)
    return 0


def cmd_classes(args: argparse.Namespace) -> int:
    from pgfa.text.builtin import builtin_classes

    for i, c in enumerate(builtin_classes(args.dataset)):
        print(f"{i}\t{c.name}\t{c.description}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from pgfa.io import write_npy
    from pgfa.text.cache import embed_texts
    from pgfa.text.classes import resolve_class_texts

    out = Path(args.out)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    texts = resolve_class_texts(args.classes)
    vectors = embed_texts([t.text(args.text_mode) for t in texts], encoder=args.encoder)
    write_npy(out, vectors)
    print(f"{out}: {vectors.shape[0]} classes x {vectors.shape[1]} dims ({args.encoder}, {args.text_mode})")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from pgfa.data.prepare import prepare_ntu, prepare_pku

    if args.dataset == "pku":
        if not args.labels:
            raise ValueError("pgfa prepare pku needs --labels DIR (the label files)")
        manifest = prepare_pku(args.raw, args.labels, args.out, workers=args.workers,
                               skip_bad=args.skip_bad, force=args.force)
    else:
        manifest = prepare_ntu(args.raw, args.out, workers=args.workers, version=args.version,
                               skip_bad=args.skip_bad, force=args.force)
    print(f"{args.out}: {manifest['samples']} samples ({manifest['dataset']}) from {manifest['files_found']} files; "
          f"{len(manifest['skipped'])} skipped")
    for item in manifest["skipped"]:
        print(f"  skipped {item['reason']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    import json

    from pgfa.api import load
    from pgfa.data.formats import load_sequences
    from pgfa.data.layouts import convert_layout

    classes = _class_list(args.classes)
    model = load(args.run)
    ids, data, layout = load_sequences(args.inputs, frames=model.config.frames)
    data = convert_layout(data, layout, model.layout)
    predictions = model.predict(data, classes, align=args.align, alpha=args.alpha, top_k=args.top_k)
    if args.format == "json":
        print(json.dumps([{"input": i, "labels": p.labels, "scores": p.scores} for i, p in zip(ids, predictions)], indent=2))
    elif args.format == "csv":
        print("input,rank,label,score")
        for i, p in zip(ids, predictions):
            for rank, (label, score) in enumerate(zip(p.labels, p.scores), start=1):
                print(f'"{i}",{rank},"{label}",{score}')
    else:
        width = max(len(i) for i in ids)
        for i, p in zip(ids, predictions):
            ranked = "  ".join(f"{label} ({score:.3f})" for label, score in zip(p.labels, p.scores))
            print(f"{i:<{width}}  {ranked}")
    return 0


def _class_list(spec: str):
    from pgfa.text.builtin import BUILTIN_DATASETS
    from pgfa.text.classes import resolve_class_texts

    if Path(spec).is_file() or spec in BUILTIN_DATASETS:
        return resolve_class_texts(spec)
    return [c.strip() for c in spec.split(",") if c.strip()]


def cmd_show(args: argparse.Namespace) -> int:
    from pgfa.data.formats import load_sequences
    from pgfa.evaluation.render import render_sequence

    out = Path(args.out)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    ids, data, layout = load_sequences([args.input])
    if not 0 <= args.sample < len(ids):
        raise ValueError(f"{args.input} holds {len(ids)} sequence(s); --sample {args.sample} is out of range")
    title = ids[args.sample]
    if args.run:
        if not args.classes:
            raise ValueError("--run needs --classes to name the candidate actions")
        from pgfa.api import load
        from pgfa.data.layouts import convert_layout

        model = load(args.run)
        x = convert_layout(data[args.sample : args.sample + 1], layout, model.layout)
        best = model.predict(x, _class_list(args.classes), top_k=1)[0]
        title += f": {best.labels[0]} ({best.scores[0]:.2f})"
    render_sequence(data[args.sample], layout, out, title=title)
    print(f"written: {out}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from pgfa.data.formats import load_skeletons
    from pgfa.data.splits import parse_class_list
    from pgfa.config import parse_assignments
    from pgfa.evaluation.reproduce import execute, make_plan

    if (args.setting is None) == (args.unseen_count is None):
        raise ValueError("give either --setting A|B|one-shot with --dataset, or --unseen-count K for random splits")
    data = str(Path(args.data).resolve()) if Path(args.data).exists() else args.data
    overrides = parse_assignments(args.set)
    for field in ("epochs", "batch_size"):
        if getattr(args, field) is not None:
            overrides[field] = getattr(args, field)
    skeletons = load_skeletons(data)
    classes = args.classes
    if classes and Path(classes).is_file():
        classes = str(Path(classes).resolve())
    plan = make_plan(args.setting or "random", data, dataset=args.dataset, classes=classes,
                     seeds=parse_class_list(args.seeds), methods=[m.strip() for m in args.methods.split(",")],
                     unseen_count=args.unseen_count, n_splits=args.splits, num_classes=skeletons.num_classes,
                     overrides=overrides, tune_alignment=args.tune_alignment)
    results = execute(plan, args.out, skeletons=skeletons)
    for method in plan.methods:
        s = results["summary"][method]["all"]
        aligned = s["top1_aligned"]
        print(f"{method}: top-1 {100 * s['top1']['mean']:.1f} ± {100 * s['top1']['std']:.1f} %"
              + (f", aligned {100 * aligned['mean']:.1f} ± {100 * aligned['std']:.1f} %" if aligned else "")
              + f" over {s['top1']['n']} runs")
    print(f"written: {Path(args.out) / 'report.md'}, {Path(args.out) / 'results.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        import pgfa

        print(pgfa.__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    _threads()
    handlers = {"train": cmd_train, "evaluate": cmd_evaluate, "demo": cmd_demo,
                "classes": cmd_classes, "embed": cmd_embed, "prepare": cmd_prepare, "predict": cmd_predict, "show": cmd_show,
                "reproduce": cmd_reproduce, "tune-alignment": cmd_tune_alignment}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("interrupted; the last finished epoch is saved and the same command resumes it", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as err:
        if os.environ.get("PGFA_DEBUG"):
            raise
        print(f"pgfa {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
