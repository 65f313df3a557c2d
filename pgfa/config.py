"""Run configuration: one dataclass, the single source of a run's settings.

Defaults are the paper's (SPEC sections 5-7, NTU-60 setting A). Each field
carries its help text and, where it has a fixed set of values, its choices
(``dataclasses.field(metadata=...)``); the command line builds its flags from
them, so a field is described once, here.

Values are checked when a :class:`TrainConfig` is built (``__post_init__``):
types (an int field takes an int, not ``2.5``, ``"abc"`` or ``True``; a
float field takes an int or a finite float), ranges (``epochs >= 1``,
``0 <= alpha <= 1``...), names (method, text mode, layout) and, for a config
being made for a new run, the environment: the device exists, the backbone
is registered, the text encoder is a known name or a folder on disk. A
config read back from a run folder (:meth:`TrainConfig.load`) skips the
environment checks: it describes a run that already happened, perhaps on
another machine.

Config files: :func:`read_config_file` reads YAML either flat (``lr: 0.05``;
every ``config.yaml`` pgfa has written is flat) or in sections
(``optimisation: {lr: 0.05}``), or a mix; :data:`SECTIONS` says which field
lives in which section and a key in the wrong section is refused, naming the
file and the right section. (``data`` is both a section and a field: a
mapping under ``data:`` is the section, a string the field.)

What :meth:`TrainConfig.save` writes (``config.yaml`` in a run folder): the
flat form, fields in declaration order, as before. Fields added after the
first release (:data:`ADDED_FIELDS`) are written only when they differ from
their default, so a run that does not use them has a ``config.yaml`` that
older pgfa versions still read; a missing key reads back as its default, so
new code reads every older ``config.yaml``. Sections are for people writing
configs, the flat form is for the run folder: one format to compare on resume.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from pgfa.errors import ConfigError
from pgfa.io import write_text

__all__ = ["TrainConfig", "AUGMENTATIONS", "ALIGNMENTS", "TEXT_MODES", "SECTIONS", "ADDED_FIELDS", "METHODS",
           "ConfigError", "read_config_file",
           "parse_assignments", "check_value", "field_help", "field_choices", "value_choices",
           "environment_checks"]

METHODS = ("pgfa", "two-stage")
TEXT_MODES = ("name", "description", "both", "parts", "templates", "ensemble")
# Skeleton augmentations (pgfa.training.augment); applied to training batches only, none by default.
AUGMENTATIONS = ("rotate", "scale", "shear", "crop", "speed", "noise", "mirror")
ALIGNMENTS = ("paper", "guarded")
BACKBONE_IMPLS = ("auto", "fast", "plain")
DATA_ON_DEVICE = ("auto", "always", "never")

# Environment checks (device, backbone registry, encoder files) are skipped while a run's own
# config.yaml is read back; see the module docstring.
_CHECK_ENVIRONMENT: contextvars.ContextVar[bool] = contextvars.ContextVar("pgfa_config_env", default=True)


def _field(default: Any = dataclasses.MISSING, help: str = "", choices: tuple | None = None,
           factory: Callable[[], Any] | None = None) -> Any:
    """A dataclass field with its CLI help text and choices in ``metadata``."""
    metadata = {"help": help, "choices": choices}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything that defines a training run (and so its checkpoint)."""

    data: str = _field("synthetic", "X_data.npy (+ X_label.npy), a folder with train_/test_ pairs, a pyskl .pkl, "
                                    "or 'synthetic'")
    unseen: list[int] = _field(help="unseen class indices (0-based)", factory=list)
    classes: str | None = _field(None, "class file (one 'name[<TAB>description[<TAB>text...]]' per line) or a built-in "
                                       "dataset name (default: names from the data)")
    text_encoder: str = _field("minilm", "minilm (default), mpnet, a registered encoder, or a local model folder")
    text_mode: str = _field("description", "which class texts to embed: name; description (the name where there is "
                                           "none); both ('name: description'); parts (the description's sentences "
                                           "and a class file's extra texts); templates (the name in 5 prompt "
                                           "templates); ensemble (all of these, each kind weighing the same). "
                                           "Several texts: their embeddings are averaged",
                            TEXT_MODES)
    layout: str | None = _field(None, "convert the data to this joint layout first (kinect_v1_20 -> ntu25)")
    method: str = _field("pgfa", "pgfa: end-to-end contrastive (default); two-stage: classifier, then a "
                                 "projection (SMIE-style baseline)", METHODS)
    backbone: str = _field("stgcn", "stgcn (default), shiftgcn, or another registered backbone")
    dropout: float = _field(0.5, "dropout of the backbone")
    frames: int = _field(50, "frames each sequence is resampled to")
    epochs: int = _field(50, "training epochs")
    batch_size: int = _field(128, "samples per optimiser step (over all processes)")
    lr: float = _field(0.05, "base learning rate (SGD)")
    momentum: float = _field(0.9, "SGD momentum")
    weight_decay: float = _field(5e-4, "SGD weight decay")
    warmup_epochs: int = _field(5, "epochs of linear learning-rate warm-up")
    lr_steps: list[int] = _field(help="epochs at which the learning rate is multiplied by lr_decay",
                                 factory=lambda: [50, 80])
    lr_decay: float = _field(0.1, "learning-rate factor at each of lr_steps")
    logit_scale: float = _field(1 / 0.07, "scale of the cosine logits in the contrastive loss (1 / temperature)")
    val_fraction: float = _field(0.1, "fraction of the seen-class training samples kept for validation")
    # Seen-training samples on which BatchNorm statistics are re-estimated with dropout off
    # before each validation (pgfa.training.batchnorm); 0 = off, the paper's behaviour.
    bn_recalibration: int = _field(0, "re-estimate BatchNorm statistics on this many seen-training samples "
                                      "before each validation (0: off, the paper's behaviour)")
    seed: int = _field(0, "seed of initialisation, batch order and dropout")
    alpha: float = _field(0.9, "support factor of the alignment at evaluation (fixed, never tuned on unseen data)")
    align_temperature: float | None = _field(None, "confidence softmax temperature of the alignment "
                                                   "(default: the paper's rule)")
    device: str = _field("auto", "auto (default), cpu, cuda, cuda:1 ...")
    amp: bool = _field(False, "mixed precision on CUDA (bfloat16, else float16 with loss scaling); ignored on CPU")
    compile: bool = _field(False, "torch.compile the model (the first steps compile it)")
    # Added with issue 15 (ADDED_FIELDS); each default keeps the earlier behaviour.
    max_steps: int | None = _field(None, "stop after this many optimiser steps (default: the epochs decide)")
    backbone_options: dict = _field(help="keyword options for the backbone's constructor", factory=dict)
    backbone_impl: str = _field("auto", "backbone implementation: auto, fast or plain", BACKBONE_IMPLS)
    data_on_device: str = _field("auto", "keep the training arrays on the device: auto, always or never",
                                 DATA_ON_DEVICE)
    text_features: str | None = _field(None, "a .npy of precomputed (K, D) class embeddings, used instead of "
                                             "the text encoder")
    # Added with issue 19 (ADDED_FIELDS); each default keeps the paper's behaviour.
    augment: list[str] = _field(help="skeleton augmentations of training batches: " + ", ".join(AUGMENTATIONS)
                                     + " (default: none, as the paper)", factory=list)
    align_rule: str = _field("paper", "alignment rule at evaluation: paper (SPEC 7) or guarded (blend by support)",
                            ALIGNMENTS)
    steps: int | None = _field(None, "training length in optimiser steps: the epochs are derived from the data "
                                     "(ceil(steps / steps per epoch)) and max_steps = steps; warmup_epochs and "
                                     "lr_steps stay in epochs (default: the epochs decide)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, check_value(f.name, getattr(self, f.name)))
        if _CHECK_ENVIRONMENT.get():
            _check_environment(self)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "config") -> "TrainConfig":
        """Build from flat ``{field: value}``; a bad key or value raises ``ConfigError`` prefixed by ``where``."""
        unknown = sorted(set(values) - set(_hints()))
        if unknown:
            raise ConfigError(f"{where}: unknown config key(s) {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(_hints()))}")
        try:
            return cls(**values)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}", key=err.key) from None

    def save(self, path: str | Path) -> None:
        """Write the flat ``config.yaml`` (see the module docstring for why new fields at default are left out)."""
        values = self.to_dict()
        for f in dataclasses.fields(self):
            if f.name in ADDED_FIELDS:
                default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                if values[f.name] == default:
                    del values[f.name]
        write_text(path, yaml.safe_dump(values, sort_keys=False))

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        """Read a run's ``config.yaml`` (or any config file) without the environment checks."""
        with environment_checks(False):
            return cls.from_dict(read_config_file(path), where=str(path))

    def override(self, assignments: list[str]) -> "TrainConfig":
        """Apply ``key=value`` strings (values parsed as YAML: ``lr=0.01``, ``lr_steps=[30,40]``)."""
        return TrainConfig.from_dict({**self.to_dict(), **parse_assignments(assignments)})


# Which section of a config file each field belongs to; every field is in exactly one.
SECTIONS: dict[str, tuple[str, ...]] = {
    "data": ("data", "unseen", "classes", "layout", "frames", "val_fraction"),
    "model": ("method", "backbone", "backbone_options", "backbone_impl", "dropout", "augment"),
    "text": ("text_encoder", "text_mode", "text_features"),
    "optimisation": ("epochs", "max_steps", "steps", "batch_size", "lr", "momentum", "weight_decay", "warmup_epochs",
                     "lr_steps", "lr_decay", "logit_scale", "bn_recalibration", "seed"),
    "alignment": ("alpha", "align_temperature", "align_rule"),
    "runtime": ("device", "amp", "compile", "data_on_device"),
}
SECTION_OF = {name: section for section, names in SECTIONS.items() for name in names}

# Fields newer than the first config.yaml format: written only when not at their default.
ADDED_FIELDS = ("max_steps", "backbone_options", "backbone_impl", "data_on_device", "text_features", "augment",
                "align_rule", "steps")

# field -> (test, what the value must be); applied after the type check.
_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "data": (lambda v: v != "", "a non-empty string"),
    "unseen": (lambda v: all(c >= 0 for c in v), "a list of class indices >= 0"),
    "frames": (lambda v: v >= 1, ">= 1"),
    "epochs": (lambda v: v >= 1, ">= 1"),
    "batch_size": (lambda v: v >= 1, ">= 1"),
    "max_steps": (lambda v: v >= 1, ">= 1 (or null for no step budget)"),
    "steps": (lambda v: v >= 1, ">= 1 (or null: the epochs decide)"),
    "lr": (lambda v: v > 0, "> 0"),
    "momentum": (lambda v: v >= 0, ">= 0"),
    "weight_decay": (lambda v: v >= 0, ">= 0"),
    "warmup_epochs": (lambda v: v >= 0, ">= 0"),
    "lr_steps": (lambda v: all(s >= 0 for s in v), "a list of epochs >= 0"),
    "lr_decay": (lambda v: v > 0, "> 0"),
    "logit_scale": (lambda v: v > 0, "> 0"),
    "dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "val_fraction": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "bn_recalibration": (lambda v: v >= 0, ">= 0"),
    "seed": (lambda v: 0 <= v < 2**32, "in [0, 2**32)"),
    "alpha": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "align_temperature": (lambda v: v > 0, "> 0 (or null for the paper's rule)"),
    "augment": (lambda v: all(a in AUGMENTATIONS for a in v) and len(set(v)) == len(v),
                "a list of distinct names from " + ", ".join(AUGMENTATIONS)),
    "backbone": (lambda v: v != "", "a non-empty string"),
    "text_encoder": (lambda v: v != "", "a non-empty string"),
    "device": (lambda v: v != "", "a non-empty string"),
}


def _hints() -> dict[str, Any]:
    if not hasattr(_hints, "cache"):
        _hints.cache = typing.get_type_hints(TrainConfig)
    return _hints.cache


def _field_of(name: str) -> dataclasses.Field:
    return {f.name: f for f in dataclasses.fields(TrainConfig)}[name]


def field_help(name: str) -> str:
    """The help text of a config field (what the CLI shows for its flag)."""
    return _field_of(name).metadata.get("help", "")


def field_choices(name: str) -> tuple | None:
    """The fixed set of values of a config field, or None when it has none."""
    return _field_of(name).metadata.get("choices")


def value_choices(name: str) -> tuple | None:
    """Every value a field may take when that set is fixed (its ``choices``, or the known joint layouts)."""
    if name == "layout":
        from pgfa.data.layouts import LAYOUTS

        return tuple(sorted(LAYOUTS))
    return field_choices(name)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """``value`` as type ``hint`` (int -> float allowed), or ``ConfigError`` naming the field."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    origin = typing.get_origin(hint) or hint
    if origin is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be true or false, got {value!r}", key=name)
    if origin is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{name} must be an integer, got {value!r}", key=name)
    if origin is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise ConfigError(f"{name} must be a finite number, got {value!r}", key=name)
    if origin is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{name} must be a string, got {value!r}", key=name)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, e.g. [1, 2], got {value!r}", key=name)
        return [_coerce(f"{name}[{i}]", item, args[0]) for i, item in enumerate(value)] if args else list(value)
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{name} must be a mapping of option names to values, got {value!r}", key=name)
        return dict(value)
    raise TypeError(f"config field {name}: unsupported type {hint!r}")  # a pgfa bug, not a user error


def check_value(name: str, value: Any) -> Any:
    """One field's value checked (type, range, fixed choices) and coerced; raises ``ConfigError``.

    Does not look at the environment (device, registries, files): see :class:`TrainConfig`.
    """
    hints = _hints()
    if name not in hints:
        raise ConfigError(f"unknown config key {name!r}; known: {', '.join(sorted(hints))}", key=name)
    value = _coerce(name, value, hints[name])
    if value is None:
        return None
    if name in _RANGES and not _RANGES[name][0](value):
        raise ConfigError(f"{name} must be {_RANGES[name][1]}, got {value!r}", key=name)
    choices = value_choices(name)
    if choices is not None and value not in choices:
        raise ConfigError(f"unknown {name} {value!r}; known: {', '.join(choices)}", key=name)
    return value


def _known_backbones() -> set[str]:
    """Registered backbone names (importing pgfa.models registers the built-in ones)."""
    from pgfa.models.registry import BACKBONES  # no pgfa.models module imports pgfa.config: no cycle

    return set(BACKBONES)


def _text_encoder_problem(name: str) -> str | None:
    """Why ``name`` is not a usable text encoder, or None (installation is checked when it is loaded)."""
    from pgfa.text.encoders import TEXT_ENCODERS  # the registry; pgfa.text does not import pgfa.config

    if name in TEXT_ENCODERS or Path(name).expanduser().is_dir():
        return None
    return (f"text_encoder {name!r} is neither a registered encoder ({', '.join(sorted(TEXT_ENCODERS))}) "
            "nor a model folder on disk")


def _check_environment(config: TrainConfig) -> None:
    """The checks that depend on this machine: device, registered backbone, encoder, files."""
    backbones = _known_backbones()
    if config.backbone not in backbones:
        raise ConfigError(f"unknown backbone {config.backbone!r}; known backbones: {', '.join(sorted(backbones))}",
                          key="backbone")
    problem = _text_encoder_problem(config.text_encoder)
    if problem:
        raise ConfigError(problem, key="text_encoder")
    if config.text_features is not None and not Path(config.text_features).is_file():
        raise ConfigError(f"text_features: {config.text_features}: no such file", key="text_features")
    if config.device not in ("auto", "cpu"):
        import torch

        from pgfa.runtime import pick_device

        try:
            torch.device(config.device)
        except (RuntimeError, ValueError):
            raise ConfigError(f"device {config.device!r} is not a device name; use auto, cpu, cuda, cuda:N or mps",
                              key="device") from None
        try:
            pick_device(config.device)
        except (RuntimeError, ValueError) as err:
            raise ConfigError(str(err), key="device") from None


@contextlib.contextmanager
def environment_checks(enabled: bool):
    """Within this block, configs are built with (or without) the environment checks."""
    token = _CHECK_ENVIRONMENT.set(enabled)
    try:
        yield
    finally:
        _CHECK_ENVIRONMENT.reset(token)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML config file (flat or in :data:`SECTIONS`) as flat ``{field: value}``, each value checked.

    Raises ``ConfigError`` naming the file for a missing or unreadable file, bad YAML (with its line), a key
    that is no field, a key in the wrong section, a key given twice, or a bad value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: cannot read the config file ({err})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{line}: {getattr(err, 'problem', None) or err}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to values, not {type(raw).__name__}")
    return _flatten(raw, str(path))


def _flatten(raw: dict, where: str) -> dict[str, Any]:
    values: dict[str, Any] = {}

    def put(key: Any, value: Any, label: str) -> None:
        if key in values:
            raise ConfigError(f"{where}: {key} is given twice", key=key)
        try:
            values[key] = check_value(key, value)
        except ConfigError as err:
            raise ConfigError(f"{where}: {label}: {err}" if label != key else f"{where}: {err}", key=key) from None

    for key, value in raw.items():
        if key in SECTIONS and isinstance(value, dict):
            for inner, inner_value in value.items():
                home = SECTION_OF.get(inner)
                if home is None:
                    raise ConfigError(f"{where}: unknown key {inner!r} in section {key}; its keys: "
                                      f"{', '.join(SECTIONS[key])}", key=inner)
                if home != key:
                    raise ConfigError(f"{where}: {inner} belongs in section {home}, not {key}", key=inner)
                put(inner, inner_value, f"{key}.{inner}")
        elif key in SECTIONS and key != "data":
            raise ConfigError(f"{where}: section {key} must be a mapping of keys to values, got {value!r}")
        elif key in SECTION_OF:
            put(key, value, key)
        else:
            raise ConfigError(f"{where}: unknown config key {key!r}; sections: {', '.join(SECTIONS)}; "
                              f"keys: {', '.join(sorted(SECTION_OF))}", key=key)
    return values


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """``["lr=0.01", "lr_steps=[30,40]"]`` -> ``{"lr": 0.01, "lr_steps": [30, 40]}``, keys and values checked.

    A value is parsed as YAML; a bad key or value raises ``ConfigError`` naming the assignment.
    """
    known = _hints()
    values = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r} must look like key=value")
        if key not in known:
            raise ConfigError(f"unknown config key {key!r}; known: {', '.join(sorted(known))}", key=key)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item}: the value is not valid YAML", key=key) from None
        try:
            values[key] = check_value(key, value)
        except ConfigError as err:
            raise ConfigError(f"--set {item}: {err}", key=key) from None
    return values
