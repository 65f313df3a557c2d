"""Class texts: the name and description of every action class.

A class file has one class per line, either ``name`` or
``name<TAB>description``; line i is class index i.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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


def read_class_file(path: str | Path) -> list[ClassText]:
    """Read a class file; raises ``ValueError`` naming the file and line on bad rows."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class file not found: {path}")
    classes: list[ClassText] = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.split("\t")
        if len(parts) > 2:
            raise ValueError(f"{path}:{lineno}: expected 'name' or 'name<TAB>description', got {len(parts)} tab-separated fields")
        name = parts[0].strip()
        if not name:
            raise ValueError(f"{path}:{lineno}: empty class name")
        classes.append(ClassText(name, parts[1].strip() if len(parts) == 2 else ""))
    if not classes:
        raise ValueError(f"{path}: no classes in file")
    names = [c.name for c in classes]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{path}: duplicated class names: {', '.join(dup)}")
    return classes


def resolve_class_texts(
    classes: str | None,
    data_names: list[str] | None = None,
    data_descriptions: list[str] | None = None,
    num_classes: int | None = None,
    source: str = "data",
) -> list[ClassText]:
    """Find the texts of a dataset's classes and check they fit the data.

    ``classes`` is a class file, a built-in dataset name (``pgfa classes``) or
    ``None`` (use the names/descriptions the data carries). The result must
    have exactly one entry per class of the data.
    """
    if classes is None:
        if data_names is None:
            raise ValueError(
                f"{source} does not name its classes; give --classes FILE (one 'name' or "
                "'name<TAB>description' per line, line i = class i)"
            )
        descriptions = data_descriptions or [""] * len(data_names)
        texts = [ClassText(n, d) for n, d in zip(data_names, descriptions)]
        origin = f"class names of {source}"
    elif Path(classes).is_file():
        texts = read_class_file(classes)
        origin = str(classes)
    else:
        from pgfa.text.builtin import BUILTIN_DATASETS, builtin_classes

        if classes not in BUILTIN_DATASETS:
            raise FileNotFoundError(
                f"--classes {classes!r} is neither a file nor a built-in dataset ({', '.join(BUILTIN_DATASETS)})"
            )
        texts = builtin_classes(classes)
        origin = f"built-in texts of {classes}"
    if num_classes is not None and len(texts) != num_classes:
        raise ValueError(f"{origin} has {len(texts)} classes but {source} has {num_classes}")
    return texts
