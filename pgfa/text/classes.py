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
