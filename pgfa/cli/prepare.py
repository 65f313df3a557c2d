"""``pgfa classes``, ``pgfa embed`` and ``pgfa prepare``: the data and text side, before training."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from pgfa.config import field_choices, field_help


def add_classes(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("classes", help="print a built-in dataset's class names and descriptions")
    p.add_argument("dataset", help="ntu60, ntu120, pku, utd_mhad, nw_ucla, msr_action3d or synthetic")
    return p


def add_embed(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("embed", help="embed class texts with a frozen sentence encoder into a .npy file")
    p.add_argument("--classes", required=True, help="class file or built-in dataset name")
    p.add_argument("--encoder", default="minilm", help="minilm (default), mpnet, or a local model folder")
    p.add_argument("--text", dest="text_mode", choices=field_choices("text_mode"), default="description",
                   help=field_help("text_mode"))  # the same modes and words as ``pgfa train --text``
    p.add_argument("--out", required=True, help="output .npy, (K, D) float32 unit rows")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    return p


def add_prepare(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("prepare", help="turn raw dataset files into model-ready arrays")
    p.add_argument("dataset", choices=("ntu", "pku", "mocap"),
                   help="ntu: NTU RGB+D 60/120 .skeleton files; pku: PKU-MMD skeleton + label files; "
                        "mocap: your own .amc/.bvh/.json/.csv recordings")
    p.add_argument("--raw", required=True, help="ntu: folder searched recursively for .skeleton files; "
                                                "pku: folder of skeleton .txt files")
    p.add_argument("--labels", help="pku: folder of label .txt files (same names as the skeleton files); "
                                    "mocap: a file of '<file><TAB><class>' lines")
    p.add_argument("--out", required=True, help="output folder (data.npy, label.npy, samples.tsv, manifest.json)")
    p.add_argument("--workers", type=int, default=max(1, os.cpu_count() or 1))
    p.add_argument("--version", choices=("ntu60", "ntu120"), help="ntu: default detected from the action ids")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable files and list them in the manifest")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    from pgfa.cli.mocap import add_prepare_options

    add_prepare_options(p)
    return p


def run_classes(args: argparse.Namespace) -> int:
    from pgfa.text.builtin import builtin_classes

    for i, c in enumerate(builtin_classes(args.dataset)):
        print(f"{i}\t{c.name}\t{c.description}")
    return 0


def run_embed(args: argparse.Namespace) -> int:
    from pgfa.io import write_npy
    from pgfa.text.class_embeddings import embed_class_texts
    from pgfa.text.classes import resolve_class_texts

    out = Path(args.out)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out} exists; pass --force to overwrite it")
    texts = resolve_class_texts(args.classes)
    vectors = embed_class_texts(texts, args.text_mode, encoder=args.encoder)
    write_npy(out, vectors)
    print(f"{out}: {vectors.shape[0]} classes x {vectors.shape[1]} dims ({args.encoder}, {args.text_mode})")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from pgfa.data.prepare import prepare_ntu, prepare_pku

    if args.dataset == "mocap":
        from pgfa.cli.mocap import run_prepare_mocap

        return run_prepare_mocap(args)
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
