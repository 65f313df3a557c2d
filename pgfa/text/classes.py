"""Class texts: the name and description of every action class.

:func:`resolve_class_texts` finds the texts of a dataset's classes (a class
file, a built-in dataset or the names the data carries) and checks they fit
the data. The pieces it uses are facts about datasets and live in
:mod:`pgfa.data`, re-exported here: :class:`ClassText` (a plain record of
:mod:`pgfa.data.skeletons`), :func:`read_class_file` and the built-in tables
(:mod:`pgfa.data.class_texts`). ``pgfa.text`` uses ``pgfa.data``, never the
other way round.
"""
from __future__ import annotations

from pathlib import Path

from pgfa.data.class_texts import BUILTIN_DATASETS, builtin_classes, parse_class_line, read_class_file
from pgfa.data.skeletons import ClassText

__all__ = ["ClassText", "parse_class_line", "read_class_file", "resolve_class_texts"]


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
                f"{source} does not name its classes; give --classes FILE (one 'name', "
                "'name<TAB>description' or 'name<TAB>description<TAB>text...' per line, line i = class i)"
            )
        descriptions = data_descriptions or [""] * len(data_names)
        texts = [ClassText(n, d) for n, d in zip(data_names, descriptions)]
        origin = f"class names of {source}"
    elif Path(classes).is_file():
        texts = read_class_file(classes)
        origin = str(classes)
    else:
        if classes not in BUILTIN_DATASETS:
            raise FileNotFoundError(
                f"--classes {classes!r} is neither a file nor a built-in dataset ({', '.join(BUILTIN_DATASETS)})"
            )
        texts = builtin_classes(classes)
        origin = f"built-in texts of {classes}"
    if num_classes is not None and len(texts) != num_classes:
        raise ValueError(f"{origin} has {len(texts)} classes but {source} has {num_classes}")
    return texts
