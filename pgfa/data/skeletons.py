"""The in-memory forms every reader produces and every consumer takes.

:class:`SkeletonSet` holds the sequences and labels, :class:`ClassText` the
texts of one class (name, description, extra texts) and which strings each
text mode embeds. Both are plain records with no reader behind them, so the
readers, the synthetic generator and :mod:`pgfa.text` can all use them
without importing each other.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

import numpy as np

from pgfa.data.layouts import convert_layout, get_layout


#: The prompt templates of the ``templates`` text mode. Built-in class names
#: are verb phrases ("drink water", "pick up with one hand") or noun phrases
#: ("high arm wave", "hand waving"), so every template puts the name after a
#: colon or "known as", where both read as a label rather than as grammar.
TEXT_TEMPLATES: tuple[str, ...] = (
    "a person performing the action: {name}",
    "a 3D skeleton sequence of the action: {name}",
    "human action: {name}",
    "someone is doing this: {name}",
    "the body movement known as {name}",
)

#: The kinds of text a class has, in the order ``ensemble`` lists them.
TEXT_KINDS: tuple[str, ...] = ("name", "description", "both", "parts", "templates")

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class ClassText:
    """Name, (optional) description and (optional) extra texts of one action class.

    ``extra`` holds the texts after the description on a class-file line
    (``name<TAB>description<TAB>extra1<TAB>extra2...``); they join the
    ``parts`` (and so the ``ensemble``) texts.
    """

    name: str
    description: str = ""
    extra: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", tuple(self.extra))  # a list given by a caller stays hashable

    def text(self, mode: str = "description") -> str:
        """The one string of a single-string mode: ``name``, ``description`` or ``both``.

        A class without a description falls back to its name.
        """
        if mode == "name" or (mode in ("description", "both") and not self.description):
            return self.name
        if mode == "description":
            return self.description
        if mode == "both":
            return f"{self.name}: {self.description}"
        raise ValueError(f"text mode {mode!r} has no single string; use name, description or both "
                         "(ClassText.text_groups gives every mode's strings)")

    def text_groups(self, mode: str = "description") -> list[list[str]]:
        """The strings to embed for ``mode``, one list per kind of text.

        - ``name``, ``description``, ``both``: ``[[text(mode)]]``;
        - ``parts``: ``[sentences of the description + extra texts]``, or
          ``[[name]]`` when the class has neither;
        - ``templates``: ``[the name in each of TEXT_TEMPLATES]``;
        - ``ensemble``: one list per kind of :data:`TEXT_KINDS`, a kind that
          gives the same strings as an earlier one counted once (for a class
          without a description, name, description, both and parts are all
          ``[name]``, and the name should not count four times).

        How the vectors are averaged (each kind weighs the same, whatever its
        number of strings) is :func:`pgfa.text.class_embeddings.embed_class_texts`.
        """
        if mode in ("name", "description", "both"):
            return [[self.text(mode)]]
        if mode == "parts":
            sentences = [s for s in _SENTENCE_END.split(self.description.strip()) if s]
            return [sentences + list(self.extra) or [self.name]]
        if mode == "templates":
            return [[template.format(name=self.name) for template in TEXT_TEMPLATES]]
        if mode == "ensemble":
            groups: list[list[str]] = []
            for kind in TEXT_KINDS:
                group = self.text_groups(kind)[0]
                if group not in groups:
                    groups.append(group)
            return groups
        raise ValueError(f"unknown text mode {mode!r}; use {', '.join(TEXT_KINDS)} or ensemble")

    def texts(self, mode: str = "description") -> list[str]:
        """Every string ``mode`` embeds for this class, kinds in order (see :meth:`text_groups`)."""
        return [text for group in self.text_groups(mode) for text in group]


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
