"""Run configuration: one dataclass, saved as YAML next to every result.

Defaults are the paper's (SPEC sections 5-7, NTU-60 setting A); the CLI
overrides fields by flag or ``key=value``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pgfa.io import write_text


METHODS = ("pgfa", "two-stage")


@dataclass
class TrainConfig:
    """Everything that defines a training run (and so its checkpoint)."""

    data: str = "synthetic"
    unseen: list[int] = field(default_factory=list)
    classes: str | None = None  # class file, built-in dataset name, or None: names from the data
    text_encoder: str = "minilm"
    text_mode: str = "description"  # name | description | both
    layout: str | None = None  # convert the data to this joint layout first (kinect_v1_20 -> ntu25)
    method: str = "pgfa"  # pgfa (end-to-end contrastive) | two-stage (SMIE-style baseline)
    backbone: str = "stgcn"
    dropout: float = 0.5
    frames: int = 50
    epochs: int = 50
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 5
    lr_steps: list[int] = field(default_factory=lambda: [50, 80])
    lr_decay: float = 0.1
    logit_scale: float = 1 / 0.07
    val_fraction: float = 0.1
    # Seen-training samples on which BatchNorm statistics are re-estimated with dropout off
    # before each validation (pgfa.training.batchnorm); 0 = off, the paper's behaviour.
    bn_recalibration: int = 0
    seed: int = 0
    alpha: float = 0.9  # support factor of the alignment; fixed, never tuned on unseen data
    align_temperature: float | None = None  # confidence softmax temperature of the alignment; None = paper's rule
    device: str = "auto"
    amp: bool = False  # mixed precision (bfloat16/float16 autocast) on GPU
    compile: bool = False  # torch.compile the model

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; known: {', '.join(METHODS)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "config") -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{where}: unknown config key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def save(self, path: str | Path) -> None:
        write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f) or {}
        return cls.from_dict(values, where=str(path))

    def override(self, assignments: list[str]) -> "TrainConfig":
        """Apply ``key=value`` strings (values parsed as YAML: ``lr=0.01``, ``lr_steps=[30,40]``)."""
        return TrainConfig.from_dict({**self.to_dict(), **parse_assignments(assignments)})


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """``["lr=0.01", "lr_steps=[30,40]"]`` -> ``{"lr": 0.01, "lr_steps": [30, 40]}``, keys checked."""
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} must look like key=value")
        if key not in known:
            raise ValueError(f"unknown config key {key!r}; known: {', '.join(sorted(known))}")
        values[key] = yaml.safe_load(raw)
    return values
