"""Command-line options for device and motion-capture files: ``pgfa prepare mocap`` and the reader flags.

``pgfa prepare`` (pgfa/cli/prepare.py) adds :func:`add_prepare_options` and
hands ``prepare mocap`` to :func:`run_prepare_mocap`; ``predict`` and
``show`` add :func:`add_reader_options` and pass :func:`reader_options` to
the readers.
"""
from __future__ import annotations

import argparse


def add_reader_options(p: argparse.ArgumentParser) -> None:
    """Flags for .amc / .bvh / .json / .csv recordings (ignored for other inputs)."""
    g = p.add_argument_group("recordings (.amc, .bvh, Azure Kinect / MediaPipe .json, MediaPipe .csv)")
    g.add_argument("--asf", help=".amc: its ASF skeleton (default: HDM_<actor>.asf or <subject>.asf beside it)")
    g.add_argument("--fps", type=float, help="frame rate of the recordings, where the file does not give it "
                                             "(or to override it); resampled to 30 Hz")
    g.add_argument("--units", help=".bvh: auto (default, from the skeleton's size), m, cm, mm, in, "
                                   "or metres per file unit")


def reader_options(args: argparse.Namespace) -> dict:
    """The reader keywords (``asf``, ``rate``, ``units``) the flags set; unset ones are left out."""
    options = {"asf": getattr(args, "asf", None), "rate": getattr(args, "fps", None),
               "units": getattr(args, "units", None)}
    return {k: v for k, v in options.items() if v is not None}


def add_prepare_options(p: argparse.ArgumentParser) -> None:
    """``prepare mocap`` flags (``--raw``, ``--out``, ``--labels``, ``--workers`` come from ``prepare``)."""
    g = p.add_argument_group("mocap: a folder of .amc/.bvh/.json/.csv recordings; --labels FILE is "
                             "'<file><TAB><class>' lines")
    g.add_argument("--label-from-name", metavar="REGEX",
                   help="mocap: class name = first group of REGEX searched in each file name, "
                        "e.g. 'HDM_[a-z]+_(.+)_[0-9]+_120' (HDM05)")
    g.add_argument("--classes", help="mocap: 'name<TAB>description' lines; fixes the class order and gives texts "
                                     "(default order: labels file, else alphabetical)")
    g.add_argument("--frames", type=int, default=50, help="mocap: frames per clip (default 50, SPEC)")
    add_reader_options(p)


def run_prepare_mocap(args: argparse.Namespace) -> int:
    from pgfa.data.prepare_mocap import prepare_mocap

    if (args.labels is None) == (args.label_from_name is None):
        raise ValueError("pgfa prepare mocap needs --labels FILE or --label-from-name REGEX (one of them)")
    manifest = prepare_mocap(args.raw, args.out, labels=args.labels, label_from_name=args.label_from_name,
                             classes=args.classes, frames=args.frames, workers=args.workers,
                             skip_bad=args.skip_bad, force=args.force, **reader_options(args))
    print(f"{args.out}: {manifest['samples']} samples of {len(manifest['classes'])} classes from "
          f"{manifest['files_found']} files; {len(manifest['skipped'])} skipped")
    for item in manifest["skipped"]:
        print(f"  skipped {item['reason']}")
    print(f"classes ({manifest['class_order']} order): {', '.join(manifest['classes'])}")
    return 0
