"""The in-memory forms every reader produces and every consumer takes.

:class:`SkeletonSet` holds the sequences and labels, :class:`ClassText` the
name and description of one class. Both are plain records with no reader
behind them, so the readers, the synthetic generator and :mod:`pgfa.text`
can all use them without importing each other.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from pgfa.data.layouts import convert_layout, get_layout


@dataclass(frozen=True)
class ClassText:
    """Name and (optional) description of one action class."""

    name: str
    description: str = ""

    def text(self, mode: str = "description") -> str:
        """The string to embed: ``name``, ``description`` or ``both``.

        A class without a description falls back to its name.
        """
        if mode == "name" or not self.description:
            return self.name
        if mode == "description":
            return self.description
        if mode == "both":
            return f"{self.name}: {self.description}"
        raise ValueError(f"unknown text mode {mode!r}; use name, description or both")


@dataclass
class SkeletonSet:
    """A labelled set of fixed-length skeleton sequences.

    Attributes:
        data: ``(N, C, T, V, M)`` float32 (coordinates, frames, joints, bodies).
        labels: ``(N,)`` int64 class indices, 0-based.
        layout: name of the joint layout (:mod:`pgfa.data.layouts`).
        class_names: one name per class index, when the source knows them.
        class_descriptions: one description per class index, when known.
        sample_ids: one identifier per sample (file stem, clip id...).
        subsets: official sample split, e.g. ``{"train": idx, "test": idx}``
            (index arrays into ``data``); empty when the source has none.
        source: where the set came from, for error messages and reports.
    """

    data: np.ndarray
    labels: np.ndarray
    layout: str
    class_names: list[str] | None = None
    class_descriptions: list[str] | None = None
    sample_ids: list[str] | None = None
    subsets: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        where = self.source or "skeleton set"
        if self.data.ndim != 5:
            raise ValueError(
                f"{where}: data must have shape (N, C, T, V, M), got {tuple(self.data.shape)}"
            )
        n, c, _, v, _ = self.data.shape
        if c != 3:
            raise ValueError(f"{where}: expected 3 coordinates (x, y, z) on axis 1, got {c}")
        layout = get_layout(self.layout)
        if v != layout.num_joints:
            raise ValueError(
                f"{where}: layout {layout.name} has {layout.num_joints} joints but data has {v}"
            )
        if self.labels.shape != (n,):
            raise ValueError(
                f"{where}: {n} samples but labels have shape {tuple(self.labels.shape)}"
            )
        if self.sample_ids is not None and len(self.sample_ids) != n:
            raise ValueError(f"{where}: {n} samples but {len(self.sample_ids)} sample ids")
        for key, idx in self.subsets.items():
            if len(idx) and (idx.min() < 0 or idx.max() >= n):
                raise ValueError(f"{where}: subset {key!r} indexes outside 0..{n - 1}")

    @property
    def num_classes(self) -> int:
        """Number of classes: from the class names if known, else max label + 1."""
        if self.class_names is not None:
            return len(self.class_names)
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def with_layout(self, layout: str | None) -> "SkeletonSet":
        """This set in another joint layout (see :func:`pgfa.data.layouts.convert_layout`)."""
        if layout is None or layout == self.layout:
            return self
        return dataclasses.replace(self, data=convert_layout(self.data, self.layout, layout), layout=layout)

    def __len__(self) -> int:
        return len(self.labels)
