"""Class texts of datasets: class files (``--classes FILE``) and the built-in tables.

A class file has one class per line: ``name``, ``name<TAB>description`` or
``name<TAB>description<TAB>text<TAB>text...`` (extra texts of the class, used
by the ``parts`` and ``ensemble`` text modes); line i is class index i
(:func:`read_class_file`).

Built-in class texts: official label maps plus skeleton-focused descriptions.

Zero-shot recognition of an unseen class rests entirely on its text, so every
built-in dataset ships with its class names *and* a description: a short
opening sentence that names the action in plain words (so the description
lands near its own name in the encoder's space), then the body motion (which
joints move, in which direction, how often), written for what a 3D skeleton
can show rather than for objects or appearance.

Why here, in :mod:`pgfa.data`: a dataset's classes are facts about the
dataset, like its published split lists, and both the readers (a prepared
folder names its classes from these tables) and :mod:`pgfa.text` (which
resolves ``--classes ntu60``) need them; with the tables here, ``pgfa.text``
uses ``pgfa.data`` and never the other way round. :mod:`pgfa.text.builtin`
re-exports the two public names.

The files live in ``pgfa/data/lists/classes/<file>.tsv`` (package data), one
class per line as ``name<TAB>description``; line i is class index i, so the
order is the dataset's official label order and must never be re-sorted:

- ``ntu120.tsv``: NTU RGB+D 120 actions A001..A120 in official order, names as
  listed in the dataset README (github.com/shahroudy/NTURGB-D), with typographic
  apostrophes normalised to ``'``. ``ntu60`` is its first 60 rows (NTU RGB+D 60
  is A001..A060).
- ``pku_mmd.tsv``: PKU-MMD (phase 1) action ids 1..51 in official order, i.e.
  zero-shot index 0..50. This official order happens to coincide with
  alphabetical order of the names, so protocols that sort the names agree.
- ``utd_mhad.tsv``, ``nw_ucla.tsv``, ``msr_action3d.tsv``: exactly the lines of
  ``shared/data/<set>/classes.txt`` (the converted real data), in that order, so
  labels in the pickles index these rows directly.

``synthetic`` is not a file: its texts come from the synthetic action
catalogue (:mod:`pgfa.data.synthetic.catalogue`) so the generator and its
class texts cannot drift apart.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from pgfa.data.skeletons import ClassText
from pgfa.data.synthetic.catalogue import synthetic_class_texts
from pgfa.io import read_utf8

__all__ = ["BUILTIN_DATASETS", "ClassText", "builtin_classes", "parse_class_line", "read_class_file"]

BUILTIN_DATASETS = ('ntu60', 'ntu120', 'pku', 'utd_mhad', 'nw_ucla', 'msr_action3d', 'synthetic')

# dataset -> (file in pgfa/data/lists/classes/, number of leading rows to keep or None for all)
_FILES: dict[str, tuple[str, int | None]] = {
    'ntu60': ('ntu120.tsv', 60),
    'ntu120': ('ntu120.tsv', None),
    'pku': ('pku_mmd.tsv', None),
    'utd_mhad': ('utd_mhad.tsv', None),
    'nw_ucla': ('nw_ucla.tsv', None),
    'msr_action3d': ('msr_action3d.tsv', None),
}


@lru_cache(maxsize=None)
def _read_builtin(filename: str) -> tuple[ClassText, ...]:
    """Parse one shipped TSV strictly: these files are ours, so any malformed
    row means a broken install or edit and should fail loudly, not be skipped."""
    text = resources.files('pgfa.data').joinpath('lists', 'classes', filename).read_text(encoding='utf-8')
    rows: list[ClassText] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        parts = line.split('\t')
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ValueError(f'built-in class file {filename}:{lineno}: expected "name<TAB>description"')
        rows.append(ClassText(parts[0].strip(), parts[1].strip()))
    return tuple(rows)


def builtin_classes(dataset: str) -> list[ClassText]:
    """Class texts of a built-in dataset, line i = class index i.

    ``dataset`` is one of :data:`BUILTIN_DATASETS`. Returns a fresh list (the
    ``ClassText`` items are immutable), so callers may slice or reorder it
    without affecting later calls. Raises ``ValueError`` for an unknown name.
    """
    if dataset == 'synthetic':
        return list(synthetic_class_texts())
    if dataset not in _FILES:
        raise ValueError(f'unknown built-in dataset {dataset!r}; known: {", ".join(BUILTIN_DATASETS)}')
    filename, keep = _FILES[dataset]
    rows = _read_builtin(filename)
    return list(rows if keep is None else rows[:keep])


def parse_class_line(line: str) -> ClassText:
    """One class from ``name[<TAB>description[<TAB>text...]]``; ``ValueError`` says what is wrong.

    The description may be empty (``name<TAB><TAB>text`` gives a class with
    extra texts only) but an extra text may not: an empty one is almost always
    a doubled or trailing tab, and silently dropping it would hide that.
    """
    fields = [f.strip() for f in line.split("\t")]
    if not fields[0]:
        raise ValueError("empty class name")
    for number, text in enumerate(fields[2:], start=3):
        if not text:
            raise ValueError(f"tab-separated field {number} is empty (a doubled or trailing tab?); "
                             "expected 'name<TAB>description<TAB>text<TAB>text...'")
    return ClassText(fields[0], fields[1] if len(fields) > 1 else "", tuple(fields[2:]))


def read_class_file(path: str | Path) -> list[ClassText]:
    """Read a class file; raises ``ValueError`` naming the file and line on bad rows."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class file not found: {path}")
    classes: list[ClassText] = []
    for lineno, raw in enumerate(read_utf8(path).splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            classes.append(parse_class_line(raw))
        except ValueError as err:
            raise ValueError(f"{path}:{lineno}: {err}") from None
    if not classes:
        raise ValueError(f"{path}: no classes in file")
    names = [c.name for c in classes]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{path}: duplicated class names: {', '.join(dup)}")
    return classes
