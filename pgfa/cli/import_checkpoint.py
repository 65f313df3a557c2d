"""``pgfa import-checkpoint``: a PGFA reference checkpoint (``ckpts.zip``) -> a pgfa run folder.

See :mod:`pgfa.interop.import_checkpoint` for the key mapping and the checks,
:mod:`pgfa.interop.release_table` for many checkpoints at once (``--data`` a
release tree), and ``docs/INTEROP.md`` for the commands from the release to a table.
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
    p.add_argument("checkpoint", nargs="*",
                   help="the reference .pt file (omit with --identity); with --data a release tree: any number "
                        "of checkpoint files or folders, each file named split_<k>... as the reference saves them")
    p.add_argument("--data", required=True,
                   help="the split's data: a release folder data/zeroshot/<dataset>/split_<k>, any input "
                        "'pgfa train' reads, or features:DIR with --identity; or the release tree "
                        "data/zeroshot to import every checkpoint given into OUT/<dataset>-split_<k>")
    p.add_argument("--split", help="the split's name (e.g. ntu60/split_1); optional when --data fixes it")
    p.add_argument("--text-features", required=True,
                   help="(K, D) class embeddings, e.g. the release's data/language/ntu60_des_embeddings.npy; "
                        "with a release tree also the folder data/language (<dataset>_des_embeddings.npy each)")
    p.add_argument("--out", required=True, help="run folder to create (with a release tree: their parent)")
    p.add_argument("--evaluate", action="store_true",
                   help="evaluate each imported run and print a table (with a release tree: OUT/table.md too)")
    p.add_argument("--device", default="auto", help="device for --evaluate")
    p.add_argument("--alpha", type=float,
                   help="support factor of the alignment (default: 0.9 ntu60, 0.4 ntu120, 1.0 pku, as the reference)")
    p.add_argument("--identity", action="store_true",
                   help="no checkpoint: identity projection on precomputed projection-layer features")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pgfa.data.release import is_release_tree
    from pgfa.interop.import_checkpoint import import_checkpoint, import_identity
    from pgfa.interop.release_table import import_release, release_table

    data = args.data if args.data.startswith("features:") else str(Path(args.data).expanduser().resolve())
    text_features = str(Path(args.text_features).expanduser().resolve())
    tree = not data.startswith("features:") and is_release_tree(data)
    if args.identity and args.evaluate:
        raise ValueError("--evaluate is for imported checkpoints; run 'pgfa evaluate RUN' on an --identity run")
    if args.identity:
        if args.checkpoint:
            raise ValueError("give either a checkpoint or --identity, not both")
        runs = [import_identity(data, text_features, args.out, split=args.split, alpha=args.alpha, force=args.force)]
    elif not args.checkpoint:
        raise ValueError("give the reference checkpoint file (or --identity for precomputed features)")
    elif tree:
        if args.split or args.alpha is not None:
            raise ValueError("--split and --alpha apply to one checkpoint; a release tree takes each split from "
                             "its checkpoint's file name and the reference's alpha of its dataset")
        runs = import_release(args.checkpoint, data, text_features, args.out, force=args.force)
    elif len(args.checkpoint) > 1:
        raise ValueError(f"{len(args.checkpoint)} checkpoints for one split folder; give one, or the release "
                         "tree (data/zeroshot) as --data to import several")
    else:
        runs = [import_checkpoint(args.checkpoint[0], data, text_features, args.out, split=args.split,
                                  alpha=args.alpha, force=args.force)]
    if args.evaluate:
        print(release_table(runs, device=args.device, out=Path(args.out) if tree else None))
    print("run folder" + ("s" if len(runs) > 1 else "") + ": " + ", ".join(map(str, runs)))
    print(f"next: pgfa evaluate {runs[0]}" + (" (and the others)" if len(runs) > 1 else ""))
    return 0
