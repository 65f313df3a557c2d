"""``pgfa train``: the configuration from a file, flags and ``--set``, then the training.

The flags come from :class:`pgfa.config.TrainConfig` itself: every field
with a single value (a string, number or boolean) has a flag ``--<field>``
(underscores as dashes; ``text_mode`` keeps its short name ``--text``) whose
type, choices and help text are the field's. Lists and mappings
(``lr_steps``, ``backbone_options``) are set in the config file or with
``--set``; ``unseen`` has its own three flags (``--unseen``,
``--unseen-count``, ``--split``).

Precedence, lowest first: the field defaults, ``--config FILE.yaml``, the
flags, ``--set key=value``. Every value is checked as it is read (an error
names the file, flag or assignment that gave it), and the final
configuration once more as a whole before anything is written, so a refused
command leaves no run folder behind and the corrected command starts clean.
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from pgfa.config import SECTIONS, TrainConfig, check_value, value_choices, field_help, parse_assignments, \
    read_config_file
from pgfa.errors import ConfigError

# Fields whose flag is not simply ``--<field-with-dashes>``.
FLAG_NAMES = {"text_mode": ("--text", "--text-mode")}
# Fields set by dedicated flags (or only in a file / with --set).
NO_FLAG = ("unseen",)


def _scalar_type(name: str) -> type | None:
    """The flag type of a config field: str, int, float or bool; None for lists and mappings."""
    hint = typing.get_type_hints(TrainConfig)[name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else None
    return hint if hint in (str, int, float, bool) else None


def flag_fields() -> list[tuple[str, tuple[str, ...], type]]:
    """``(field, option strings, type)`` of every config field that has a flag, in field order."""
    out = []
    for f in dataclasses.fields(TrainConfig):
        kind = _scalar_type(f.name)
        if kind is None or f.name in NO_FLAG:
            continue
        out.append((f.name, FLAG_NAMES.get(f.name, ("--" + f.name.replace("_", "-"),)), kind))
    return out


def _default_text(f: dataclasses.Field) -> str:
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    return "" if "default" in f.metadata.get("help", "") else f" (default: {default})"


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for section, names in SECTIONS.items():
        group = p.add_argument_group(f"{section} (config section '{section}')")
        for name, options, kind in flag_fields():
            if name not in names:
                continue
            help_text = field_help(name) + _default_text(fields[name])
            if kind is bool:
                group.add_argument(*options, dest=name, action=argparse.BooleanOptionalAction, default=None,
                                   help=help_text)
            else:
                metavar = None if value_choices(name) else name.upper()
                group.add_argument(*options, dest=name, type=kind, choices=value_choices(name), default=None,
                                   metavar=metavar, help=help_text)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a zero-shot model on the seen classes of a dataset",
                       description="Train a zero-shot model. Settings, lowest precedence first: defaults, "
                                   "--config FILE.yaml, the flags below, --set KEY=VALUE.")
    p.add_argument("--config", metavar="FILE.yaml",
                   help="settings from a YAML file, flat (key: value, like a run's config.yaml) or in sections "
                        f"({', '.join(SECTIONS)}); flags and --set apply on top")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--unseen", help="comma-separated unseen class indices (0-based), e.g. 3,7,11")
    group.add_argument("--unseen-count", type=int, metavar="K",
                       help="draw K unseen classes at random with --split-seed (recorded in config.yaml)")
    group.add_argument("--split", help="a named split (e.g. ntu60/split_1, ntu120/96-24) or a file of unseen indices")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the --unseen-count draw (default 0)")
    p.add_argument("--out", required=True, help="run folder to create (or to resume, with the same options)")
    _add_config_flags(p)
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                   help="override any config field (repeatable; values are YAML: lr_steps=[30,40])")
    p.add_argument("--preset", choices=("small",),
                   help="small: batch size, epochs, warm-up and lr decay from the data's size (seen-class "
                        "training samples), plus the options chosen on seen-class development splits; for "
                        "datasets of a few hundred to a few thousand clips. Anything given in --config, a flag "
                        "or --set wins over the preset")
    p.add_argument("--force", action="store_true", help="delete an existing, different run in --out first")
    p.add_argument("--evaluate", action="store_true", help="evaluate right after training")
    return p


def _absolute(path: str, folder_ok: bool) -> str:
    """Files are recorded by absolute path so 'pgfa evaluate RUN' works from any folder."""
    found = Path(path).exists() if folder_ok else Path(path).is_file()
    return str(Path(path).resolve()) if found else path


def gather_values(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """The config values from file < flags < ``--set``, each checked; and where each came from.

    Returns ``(values, source)``: ``values`` maps field -> value, ``source`` field -> the file, flag or
    assignment that set it (for error messages).
    """
    values, source = {}, {}
    if args.config:
        values = read_config_file(args.config)
        source = dict.fromkeys(values, str(args.config))
    for name, options, _ in flag_fields():
        value = getattr(args, name, None)
        if value is None:
            continue
        label = f"{options[0]} {value}" if not isinstance(value, bool) else options[0]
        try:
            values[name] = check_value(name, value)
        except ConfigError as err:
            raise ConfigError(f"{label}: {err}", key=name) from None
        source[name] = options[0]
    if args.unseen is not None:
        from pgfa.data.splits import parse_class_list

        values["unseen"], source["unseen"] = check_value("unseen", parse_class_list(args.unseen)), "--unseen"
    overrides = parse_assignments(args.set)
    values.update(overrides)
    source.update({k: "--set" for k in overrides})
    for name, folder_ok in (("data", True), ("classes", False), ("text_features", False)):
        if isinstance(values.get(name), str):  # a class file, not a built-in name that is also a folder
            values[name] = _absolute(values[name], folder_ok)
    return values, source


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The final, checked config of ``pgfa train`` (``unseen`` still empty when a split is to be drawn)."""
    values, source = gather_values(args)
    if "data" not in values:
        raise ConfigError("--data is required (or give data: in the --config file)")
    drawn = args.unseen_count is not None or args.split is not None
    if drawn and source.get("unseen") == "--set":
        raise ConfigError("give the unseen classes once: --set unseen=... or --unseen-count / --split")
    if drawn:
        values["unseen"] = []
    elif not values.get("unseen"):
        from pgfa.data.release import data_fixed_unseen

        values["unseen"] = data_fixed_unseen(values["data"])  # a release / feature folder fixes its split
    if not drawn and not values.get("unseen"):
        raise ConfigError("give the unseen classes: --unseen, --unseen-count or --split "
                          "(or unseen: in the --config file)")
    try:
        return TrainConfig(**values)
    except ConfigError as err:
        where = source.get(err.key)
        raise ConfigError(f"{where}: {err}" if where else str(err), key=err.key) from None


def run(args: argparse.Namespace) -> int:
    from pgfa.training.distributed import is_main
    from pgfa.training.loop import train

    config = build_config(args)
    skeletons = None
    if args.unseen_count is not None or args.split is not None:
        # The class count is needed to draw or check the split: load once (with the final config), hand it on.
        from pgfa.data.formats import load_skeletons
        from pgfa.data.split_registry import resolve_split
        from pgfa.data.splits import random_unseen

        skeletons = load_skeletons(config.data, frames=config.frames)
        if args.split is not None:
            unseen = resolve_split(args.split, skeletons.num_classes)
        else:
            unseen = random_unseen(skeletons.num_classes, args.unseen_count, args.split_seed)
        config = dataclasses.replace(config, unseen=list(unseen))
        print(f"unseen classes: {','.join(map(str, config.unseen))}")
    if getattr(args, "preset", None):
        config, skeletons = _apply_preset(args, config, skeletons)
    run_folder = train(config, args.out, skeletons=skeletons, force=args.force)
    if not is_main():  # under torchrun, rank 0 reports (and evaluates) for all processes
        return 0
    print(f"run folder: {run_folder}")
    if args.evaluate:
        from pgfa.cli.evaluate import print_metrics
        from pgfa.evaluation.evaluate import evaluate_run

        print_metrics(evaluate_run(run_folder))
    return 0


def _apply_preset(args: argparse.Namespace, config: TrainConfig, skeletons):
    """``config`` with ``--preset``'s values for its data (the user's own values kept), and the data loaded."""
    from pgfa.data.formats import load_skeletons
    from pgfa.experiments.presets import apply_preset, describe
    from pgfa.training.distributed import is_main

    if skeletons is None:
        skeletons = load_skeletons(config.data, frames=config.frames)
    _, source = gather_values(args)
    user = set(source) | {"unseen"}
    config, resolved = apply_preset(args.preset, config, skeletons, user_fields=user)
    if is_main():
        kept = sorted(set(source) & {"batch_size", "epochs", "steps", "lr", "warmup_epochs", "lr_steps", "augment",
                                     "text_mode", "align_rule"})
        print(describe(resolved) + (f" (yours kept: {', '.join(kept)})" if kept else ""))
    return config, skeletons
