"""The table of ``pgfa`` sub-commands: one line per command.

Why a table: each command lives in its own small module under
``pgfa/cli/`` with two functions,

* ``add_parser(sub)``: add its ``argparse`` sub-parser to ``sub`` (the
  sub-parsers action) and return it;
* ``run(args) -> int``: do the work, print, return the exit code. Errors
  are raised, not printed: :func:`pgfa.cli.main.main` turns a
  :class:`pgfa.errors.PgfaError` (or ``ValueError`` / ``OSError``) into one
  line ``pgfa <cmd>: error: <message>`` with exit code 2.

and adding a command is one registration line here. Modules import their
heavy dependencies (torch, the training loop) inside ``run`` so that
``pgfa --help`` stays fast. The order of the table is the order of
``pgfa --help``.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

from pgfa.cli import evaluate, prepare, predict, reproduce, train
from pgfa.cli import layouts
from pgfa.cli import export_features, import_checkpoint, tune_preset


class Command(NamedTuple):
    name: str
    add_parser: Callable  # (argparse sub-parsers action) -> argparse.ArgumentParser
    run: Callable  # (argparse.Namespace) -> int


COMMANDS: list[Command] = [
    Command("train", train.add_parser, train.run),
    Command("evaluate", evaluate.add_evaluate, evaluate.run_evaluate),
    Command("demo", reproduce.add_demo, reproduce.run_demo),
    Command("classes", prepare.add_classes, prepare.run_classes),
    Command("embed", prepare.add_embed, prepare.run_embed),
    Command("prepare", prepare.add_prepare, prepare.run_prepare),
    Command("predict", predict.add_predict, predict.run_predict),
    Command("show", predict.add_show, predict.run_show),
    Command("reproduce", reproduce.add_reproduce, reproduce.run_reproduce),
    Command("tune-alignment", evaluate.add_tune_alignment, evaluate.run_tune_alignment),
    Command("tune-preset", tune_preset.add_parser, tune_preset.run),
    Command("layouts", layouts.add_parser, layouts.run),
    Command("import-checkpoint", import_checkpoint.add_parser, import_checkpoint.run),
    Command("export-features", export_features.add_parser, export_features.run),
]
