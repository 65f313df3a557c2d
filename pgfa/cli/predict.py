"""``pgfa predict`` and ``pgfa show``: a trained run applied to new sequences."""
from __future__ import annotations

import argparse
from pathlib import Path

from pgfa.cli.mocap import add_reader_options, reader_options


def add_predict(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("predict", help="rank your own action names for new skeleton sequences")
    p.add_argument("run", help="trained run folder")
    p.add_argument("inputs", nargs="+", help=".skeleton files, .npy arrays, pyskl .pkl files, recordings (.amc, .bvh, "
                                             "Azure Kinect / MediaPipe .json, MediaPipe .csv), or folders of them")
    p.add_argument("--classes", required=True,
                   help="class file ('name' or 'name<TAB>description' lines), a built-in dataset, or \"name1,name2,...\"")
    p.add_argument("--align", action="store_true", help="prototype alignment across the given inputs")
    p.add_argument("--online", action="store_true",
                   help="alignment over the inputs as a stream, in the given order: each is ranked against "
                        "prototypes built from it and the inputs before it only")
    p.add_argument("--alpha", type=float, help="support factor for --align / --online (default: the run's)")
    p.add_argument("--top-k", type=int, default=3)
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    add_reader_options(p)
    return p


def add_show(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("show", help="render a skeleton sequence (PNG strip or GIF), optionally with its prediction")
    p.add_argument("input", help="a .skeleton file, .npy array, pyskl .pkl or recording (.amc, .bvh, .json, .csv)")
    p.add_argument("--out", required=True, help="output .png (frame strip) or .gif (animation)")
    p.add_argument("--sample", type=int, default=0, help="which sequence of a multi-sequence input (default 0)")
    p.add_argument("--run", help="trained run: label the sequence with its top prediction")
    p.add_argument("--classes", help="with --run: class file, built-in dataset, or \"name1,name2,...\"")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    add_reader_options(p)
    return p


def run_predict(args: argparse.Namespace) -> int:
    import json

    from pgfa.api import load
    from pgfa.data.formats import load_sequences
    from pgfa.data.layouts import convert_layout

    classes = _class_list(args.classes)
    model = load(args.run)
    ids, data, layout = load_sequences(args.inputs, frames=model.config.frames, reader_options=reader_options(args))
    data = convert_layout(data, layout, model.layout)
    predictions = model.predict(data, classes, align=args.align, alpha=args.alpha, top_k=args.top_k,
                                online=args.online)
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


def run_show(args: argparse.Namespace) -> int:
    from pgfa.data.formats import load_sequences
    from pgfa.viz.render import render_sequence

    out = Path(args.out)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    ids, data, layout = load_sequences([args.input], reader_options=reader_options(args))
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
