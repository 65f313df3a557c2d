"""All released checkpoints at once: ``ckpts.zip`` + ``data.zip`` -> one run folder each -> one table.

Why: a researcher holding the PGFA release wants the released models' numbers
checked in one go, not one command per split. The reference code names a
checkpoint after its split (``config.py``: ``save_path =
'./output/model/split_{split}_...pt'``; ``test_config.py`` likewise), so
``split_<k>`` in a file name says which split folder
(``data/zeroshot/<dataset>/split_<k>``, found by
:func:`pgfa.data.release.release_split_folder`) and which class embeddings
(``data/language/<dataset>_des_embeddings.npy``, the reference's
``language_path``) belong to it. Each checkpoint then goes through
:func:`pgfa.interop.import_checkpoint.import_checkpoint` into
``OUT/<dataset>-split_<k>``; with evaluation, :func:`release_table` writes
``OUT/table.md``.

What ``ckpts.zip`` holds was not in any source we could read (the PGFA
README lists uploading checkpoints as to-do); files are therefore found by
name anywhere below the given folders, and one whose name has no
``split_<k>`` is refused with the single-checkpoint command as the way out.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from pgfa.data.release import release_split_folder
from pgfa.data.split_registry import NAMED_SPLITS
from pgfa.interop.import_checkpoint import CheckpointImportError, import_checkpoint
from pgfa.io import write_text

_SPLIT_IN_NAME = re.compile(r"(?<![0-9a-z])split_?(\d+)(?![0-9])", re.IGNORECASE)
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".tar")
TABLE_FILE = "table.md"


def checkpoint_files(paths: list[str | Path]) -> list[Path]:
    """The checkpoint files among ``paths``: files as given, folders searched for ``*.pt``/``*.pth``/``*.tar``."""
    found: list[Path] = []
    for path in map(lambda p: Path(p).expanduser(), paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise CheckpointImportError(f"{path}: no such checkpoint file or folder")
    if not found:
        raise CheckpointImportError(f"no checkpoint (*.pt, *.pth, *.tar) in {', '.join(map(str, paths))}")
    return found


def split_of_checkpoint(path: Path) -> str:
    """pgfa's split name for a reference checkpoint file: ``split_2_kl_DA....pt`` -> ``ntu60/split_2``."""
    numbers = {int(m) for m in _SPLIT_IN_NAME.findall(path.name)}
    names = [name for name in NAMED_SPLITS for k in numbers if name.endswith(f"/split_{k}")]
    if len(names) != 1:
        raise CheckpointImportError(
            f"{path}: cannot tell its split from the file name (the reference names checkpoints "
            f"split_<k>_...pt, k = 1..9); import it alone: pgfa import-checkpoint {path} "
            "--data data/zeroshot/<dataset>/split_<k> --text-features ... --out RUN")
    return names[0]


def _text_features_for(language: Path, dataset: str) -> Path:
    """A file as given, or in a folder the reference's ``<dataset>_des_embeddings.npy``."""
    if not language.is_dir():
        return language
    path = language / f"{dataset}_des_embeddings.npy"
    if not path.is_file():
        raise CheckpointImportError(f"{language}: no {path.name} (the reference's language_path for {dataset})")
    return path


def import_release(checkpoints: list[str | Path], root: str | Path, language: str | Path, out: str | Path,
                   force: bool = False, log: Callable[[str], None] = print) -> list[Path]:
    """Import every checkpoint under ``checkpoints`` into ``out/<dataset>-split_<k>``; returns the run folders.

    ``root``: the release tree (``data/zeroshot`` or ``data/zeroshot/<dataset>``);
    ``language``: ``data/language`` (the folder) or one embedding file. Every
    checkpoint's split and split folder are resolved before anything is written.
    """
    root, language, out = Path(root).expanduser(), Path(language).expanduser(), Path(out).expanduser()
    plan = []
    for path in checkpoint_files(checkpoints):
        name = split_of_checkpoint(path)
        folder = release_split_folder(root, name)
        if folder is None:
            raise CheckpointImportError(f"{path} is for {name}, but {root} holds no release folder for it "
                                        f"(expected {root}/{name} or {root}/{name.split('/')[1]})")
        plan.append((path, name, folder, _text_features_for(language, name.split("/")[0])))
    plan.sort(key=lambda item: list(NAMED_SPLITS).index(item[1]))  # table rows in SPEC 3's order
    names = [name for _, name, _, _ in plan]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise CheckpointImportError(f"more than one checkpoint for {', '.join(doubled)}; give one per split")
    return [import_checkpoint(path, str(folder), text, out / name.replace("/", "-"), split=name, force=force,
                              log=log)
            for path, name, folder, text in plan]


def release_table(runs: list[Path], device: str = "auto", out: Path | None = None) -> str:
    """Evaluate each imported run and return (and write to ``out/table.md``) a Markdown table of them."""
    import json

    from pgfa.evaluation.evaluate import evaluate_run

    lines = ["| split | checkpoint | sha256 (first 12) | unseen test samples | top-1 | top-1 aligned (alpha) |",
             "|---|---|---|---:|---:|---:|"]
    for run in runs:
        m = evaluate_run(run, device=device)
        record = json.loads((Path(run) / "imported.json").read_text(encoding="utf-8"))
        aligned = "-" if m.zsl_top1_aligned is None else f"{100 * m.zsl_top1_aligned:.2f}% ({m.alpha})"
        lines.append(f"| {record['split']} | {Path(record['checkpoint']['path']).name} | "
                     f"{record['checkpoint']['sha256'][:12]} | {m.n_test} | {100 * m.zsl_top1:.2f}% | {aligned} |")
    selected = json.loads((Path(runs[0]) / "imported.json").read_text(encoding="utf-8"))["selected_on"]
    text = "\n".join(lines) + (f"\n\nEvery checkpoint was {selected}. Top-1 is over samples (the reference "
                               "prints a mean of per-batch accuracies).\n")
    if out is not None:
        write_text(Path(out) / TABLE_FILE, text)
    return text
