"""``pgfa import-checkpoint``: a PGFA reference checkpoint (``ckpts.zip``) -> a pgfa run folder.

See :mod:`pgfa.interop.import_checkpoint` for the key mapping and the checks,
and ``docs/INTEROP.md`` for the three commands from the release to a table.
"""
from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("import-checkpoint",
                       help="turn a PGFA reference checkpoint into a pgfa run folder (then: pgfa evaluate RUN)",
                       description="Import a checkpoint saved by the PGFA reference code "
                                   "({'encoder': ST-GCN, 'adapter': Linear(256->768)}) as a run folder whose "
                                   "best.pt gives the same features. The checkpoint was chosen by its authors on "
                                   "the unseen test classes; the run's reports say so. With --identity instead of "
                                   "a checkpoint: a run that scores precomputed features (--data features:DIR) "
                                   "with an identity projection.")
    p.add_argument("checkpoint", nargs="?", help="the reference .pt file (omit with --identity)")
    p.add_argument("--data", required=True,
                   help="the split's data: a release folder data/zeroshot/<dataset>/split_<k>, any input "
                        "'pgfa train' reads, or features:DIR with --identity")
    p.add_argument("--split", help="the split's name (e.g. ntu60/split_1); optional when --data fixes it")
    p.add_argument("--text-features", required=True,
                   help="(K, D) class embeddings, e.g. the release's data/language/ntu60_des_embeddings.npy")
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument("--alpha", type=float,
                   help="support factor of the alignment (default: 0.9 ntu60, 0.4 ntu120, 1.0 pku, as the reference)")
    p.add_argument("--identity", action="store_true",
                   help="no checkpoint: identity projection on precomputed projection-layer features")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pgfa.interop.import_checkpoint import import_checkpoint, import_identity

    data = args.data if args.data.startswith("features:") else str(Path(args.data).expanduser().resolve())
    text_features = str(Path(args.text_features).expanduser().resolve())
    if args.identity:
        if args.checkpoint:
            raise ValueError("give either a checkpoint or --identity, not both")
        out = import_identity(data, text_features, args.out, split=args.split, alpha=args.alpha, force=args.force)
    else:
        if not args.checkpoint:
            raise ValueError("give the reference checkpoint file (or --identity for precomputed features)")
        out = import_checkpoint(args.checkpoint, data, text_features, args.out, split=args.split, alpha=args.alpha,
                                force=args.force)
    print(f"run folder: {out}\nnext: pgfa evaluate {out}")
    return 0
