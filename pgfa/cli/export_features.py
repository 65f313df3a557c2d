"""``pgfa export-features``: a trained run's skeleton features in the SynSE / SA-DVAE file layout.

See :mod:`pgfa.interop.export_features` for the files, the label convention
and what each layer is.
"""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("export-features",
                       help="write a run's features as train/ztest/gtest .npy files (SynSE, SA-DVAE) + .npz",
                       description="Write the features of a trained run for feature-based zero-shot methods: "
                                   "train.npy/train_label.npy (seen train), ztest.npy/z_label.npy (unseen test), "
                                   "gtest.npy/g_label.npy (generalised test), global class ids as labels, the "
                                   "class lists and text features, features.npz and manifest.json. "
                                   "'pgfa train --data features:DIR --backbone identity' reads them back.")
    p.add_argument("run", help="run folder written by 'pgfa train' (or 'pgfa import-checkpoint')")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--format", dest="fmt", choices=("synse", "npz"), default="synse",
                   help="synse: the .npy files, label_splits/ and features.npz (default); npz: features.npz only")
    p.add_argument("--layer", choices=("backbone", "projection"), default="backbone",
                   help="backbone: pooled backbone output, un-normalised (default); projection: unit features "
                        "in the text space, as pgfa.load(RUN).encode_skeletons")
    p.add_argument("--checkpoint", default="best.pt", help="checkpoint in the run folder (default best.pt)")
    p.add_argument("--device", default="auto")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    return p


def run(args: argparse.Namespace) -> int:
    from pgfa.interop.export_features import export_features

    manifest = export_features(args.run, args.out, layer=args.layer, fmt=args.fmt, checkpoint=args.checkpoint,
                               device=args.device, force=args.force)
    shapes = ", ".join(f"{k} {tuple(v)}" for k, v in manifest["shapes"].items() if k in ("train", "ztest", "gtest"))
    print(f"wrote {args.out}: {manifest['layer']} features, {shapes}")
    if "gtest" not in manifest["shapes"]:
        print("no gtest.npy: the run's data has no seen-class test samples")
    return 0
