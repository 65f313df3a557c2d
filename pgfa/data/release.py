"""Reader for the PGFA authors' processed zero-shot splits (``data.zip`` of their release).

Layout (from the kaai520/PGFA repository's ``config.py``: ``train_list``,
``train_label``, ``test_list``, ``test_label`` and their ``sota_*`` twins;
the files are written by SMIE's ``split.py``, YujieOuO/SMIE, whose
processing PGFA's README says the release applies)::

    data/zeroshot/<dataset>/split_<k>/        setting A, <dataset> in ntu60, ntu120, pku; k = 1..9
    data/zeroshot/<dataset>/unseen_label_<n>/ setting B, n in 5, 12 (ntu60), 10, 24 (ntu120)
        seen_train_data.npy   (N_s, 3, 50, 25, 2) float32, SMIE preprocessing (SPEC section 2)
        seen_train_label.npy  (N_s,) int, global class ids of the seen classes
        unseen_data.npy       (N_u, 3, 50, 25, 2)
        unseen_label.npy      (N_u,) int, global class ids of the unseen classes
        seen_test_data.npy    (N_t, 3, 50, 25, 2)  optional: SMIE's split.py writes it, PGFA never reads it
        seen_test_label.npy   (N_t,) int, global class ids of the seen classes

Label convention, verified in the code that writes and reads these files
rather than guessed: the labels are *global* 0-based class ids, not positions
among the seen or unseen classes. SMIE's ``split.py`` copies each sample's
label from the cross-subject ``train_label.pkl`` / ``val_label.pkl`` unchanged
(``if train_label[i] not in split_k: seen_train_label.append(train_label[i])``),
and PGFA's ``main.py`` (``Processor.train_epoch``) indexes the table of all
class embeddings with the training labels (``self.full_language[label]``, one
row per class of the dataset) and builds the unseen texts as
``full_language[unseen_label]`` from ``config.py``'s id lists, which are SPEC
section 3's splits. (PGFA's ``tool.py``, where ``get_acc`` compares
predictions with the test labels, is not in the public index we could read.)
:func:`load_release_folder` checks the unseen label set against SPEC 3, and a
mismatch is an error that names both lists.

The seen-train side becomes pgfa's official ``train`` subset (from which the
seen-class validation set is held out as usual) and the unseen side its
``test`` subset. When the folder also holds SMIE's ``seen_test_*`` files,
they join the ``test`` subset, so the run gets seen-class test samples and
GZSL figures; without them a run on the folder has no GZSL figures.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pgfa.data.skeletons import SkeletonSet
from pgfa.data.split_registry import DATASET_CLASSES, NAMED_SPLITS

RELEASE_FILES = ("seen_train_data.npy", "seen_train_label.npy", "unseen_data.npy", "unseen_label.npy")
SEEN_TEST_FILES = ("seen_test_data.npy", "seen_test_label.npy")  # optional (SMIE's split.py writes them)

# setting B folder suffix -> pgfa's name of that split (SPEC section 3)
SETTING_B_NAMES = {5: "ntu60/55-5", 12: "ntu60/48-12", 10: "ntu120/110-10", 24: "ntu120/96-24"}


class ReleaseError(ValueError):
    """A release folder that cannot be used; the message names the folder and the problem."""


@dataclass
class ReleaseSkeletonSet(SkeletonSet):
    """A :class:`SkeletonSet` whose unseen classes are fixed by its files.

    ``fixed_unseen``: the sorted global ids of the unseen classes (the label set
    of ``unseen_label.npy``); ``split_name``: pgfa's name of the split
    (``ntu60/split_1``, ``ntu60/55-5`` ...).
    """

    fixed_unseen: tuple[int, ...] = ()
    split_name: str = ""


def is_release_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder holding the four files of a release split."""
    path = Path(path)
    return path.is_dir() and all((path / name).is_file() for name in RELEASE_FILES)


def is_release_tree(path: str | Path) -> bool:
    """True when ``path`` is ``data/zeroshot`` or ``data/zeroshot/<dataset>``: release split folders lie below it."""
    path = Path(path)
    return path.is_dir() and not is_release_folder(path) and any(
        is_release_folder(p) for p in (*path.glob("*"), *path.glob("*/*")))


def release_split_name(folder: str | Path) -> str:
    """pgfa's split name of a release folder: ``.../ntu60/split_1`` -> ``ntu60/split_1``.

    Raises :class:`ReleaseError` when the folder or its parent is not named as
    in the release (the dataset is needed for the class texts and the check).
    """
    folder = Path(folder)
    dataset = folder.resolve().parent.name
    if dataset not in DATASET_CLASSES:
        raise ReleaseError(f"{folder}: a release split folder lies in data/zeroshot/<dataset>/ with <dataset> one of "
                           f"{', '.join(DATASET_CLASSES)}; its parent is {dataset!r}")
    match_a = re.fullmatch(r"split_(\d+)", folder.resolve().name)
    match_b = re.fullmatch(r"unseen_label_(\d+)", folder.resolve().name)
    if match_a:
        name = f"{dataset}/split_{match_a.group(1)}"
    elif match_b and int(match_b.group(1)) in SETTING_B_NAMES:
        name = SETTING_B_NAMES[int(match_b.group(1))]
    else:
        raise ReleaseError(f"{folder}: expected a folder named split_<k> (setting A) or unseen_label_<n> with n in "
                           f"{', '.join(map(str, SETTING_B_NAMES))} (setting B)")
    if name not in NAMED_SPLITS or not name.startswith(dataset + "/"):
        raise ReleaseError(f"{folder}: {folder.name} is not a split of {dataset} (SPEC section 3 has no {name})")
    return name


def _read(path: Path, labels: bool) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode=None if labels else "r", allow_pickle=False)
    except Exception as err:  # numpy raises several types for corrupt files
        raise ReleaseError(f"{path}: cannot read as .npy ({err})") from None
    if labels:
        if array.ndim == 2:  # one-hot rows
            array = array.argmax(axis=1)
        if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or np.all(np.mod(array, 1) == 0)):
            raise ReleaseError(f"{path}: expected integer class ids of shape (N,), got {array.dtype} {array.shape}")
        return array.astype(np.int64)
    if array.ndim != 5 or array.shape[1] != 3:
        raise ReleaseError(f"{path}: expected skeletons of shape (N, 3, T, V, M), got {tuple(array.shape)}")
    return array


def release_unseen(folder: str | Path) -> list[int]:
    """The unseen classes of a release folder (label set of ``unseen_label.npy``), checked against SPEC 3.

    Cheap: reads only the label file. Raises :class:`ReleaseError` naming both
    lists when they differ from the split the folder's name stands for.
    """
    folder = Path(folder)
    name = release_split_name(folder)
    found = sorted(int(c) for c in np.unique(_read(folder / "unseen_label.npy", labels=True)))
    expected = sorted(NAMED_SPLITS[name])
    if found != expected:
        raise ReleaseError(f"{folder / 'unseen_label.npy'}: unseen classes {found} differ from SPEC section 3's "
                           f"{name} {expected}; the folder does not hold the split its name says")
    return found


def _read_pair(folder: Path, data_name: str, label_name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(samples (N, 3, T, V, M), labels (N,))`` of one side of a release folder, their counts checked."""
    x, y = _read(folder / data_name, False), _read(folder / label_name, True)
    if len(x) != len(y):
        raise ReleaseError(f"{folder}: {data_name} has {len(x)} samples but {label_name} {len(y)} labels")
    return x, y


def _sides(folder: Path, unseen: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seen-train, unseen and (when present) seen-test ``(x, y)`` pairs, checked against each other.

    A seen side holding an unseen class, or sides of different sample shape,
    are errors naming the file.
    """
    sides = [_read_pair(folder, *RELEASE_FILES[:2]), _read_pair(folder, *RELEASE_FILES[2:])]
    present = [(folder / name).is_file() for name in SEEN_TEST_FILES]
    if any(present) and not all(present):
        raise ReleaseError(f"{folder}: {SEEN_TEST_FILES[present.index(True)]} has no "
                           f"{SEEN_TEST_FILES[present.index(False)]} beside it")
    if all(present):
        sides.append(_read_pair(folder, *SEEN_TEST_FILES))
    for (x, y), label_file in zip(sides, (RELEASE_FILES[1], RELEASE_FILES[3], SEEN_TEST_FILES[1])):
        if x.shape[1:] != sides[0][0].shape[1:]:
            raise ReleaseError(f"{folder}: samples differ in shape ({tuple(sides[0][0].shape[1:])} in "
                               f"{RELEASE_FILES[0]} vs {tuple(x.shape[1:])} beside {label_file})")
        leaked = sorted(set(np.unique(y).tolist()) & set(unseen))
        if label_file != RELEASE_FILES[3] and leaked:
            raise ReleaseError(f"{folder / label_file}: seen-class labels include unseen classes {leaked}")
    return sides


def load_release_folder(folder: str | Path) -> ReleaseSkeletonSet:
    """Read a release split folder into a :class:`ReleaseSkeletonSet`.

    ``data``: seen-train, unseen, then (if present) seen-test samples,
    ``(N, 3, T, V, M)`` float32; ``labels``: global class ids; ``subsets``:
    ``train`` = the seen-train rows, ``test`` = the unseen and seen-test rows;
    class names and descriptions are pgfa's built-in texts of the dataset
    (class ids index them directly).
    """
    from pgfa.data.class_texts import builtin_classes
    from pgfa.data.layouts import layout_for_joints

    folder = Path(folder)
    missing = [name for name in RELEASE_FILES if not (folder / name).is_file()]
    if missing:
        raise ReleaseError(f"{folder}: not a release split folder, missing {', '.join(missing)}")
    name = release_split_name(folder)
    unseen = release_unseen(folder)
    sides = _sides(folder, unseen)
    dataset = name.split("/")[0]
    num_classes = DATASET_CLASSES[dataset]
    labels = np.concatenate([y for _, y in sides])
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if len(bad):
        raise ReleaseError(f"{folder}: class id {int(bad[0])} outside 0..{num_classes - 1} of {dataset}")
    data = np.concatenate([np.asarray(x, dtype=np.float32) for x, _ in sides])
    if not np.isfinite(data).all():
        raise ReleaseError(f"{folder}: samples contain NaN or infinite coordinates")
    texts = builtin_classes(dataset)
    n_seen = len(sides[0][1])
    return ReleaseSkeletonSet(
        data, labels, layout=layout_for_joints(data.shape[3]).name,
        class_names=[t.name for t in texts], class_descriptions=[t.description for t in texts],
        subsets={"train": np.arange(n_seen), "test": np.arange(n_seen, len(data))},
        source=str(folder), fixed_unseen=tuple(unseen), split_name=name)


def check_fixed_unseen(skeletons: SkeletonSet, unseen: list[int]) -> None:
    """Refuse a run whose unseen classes differ from those its data fixes.

    A release folder (or a feature folder, :mod:`pgfa.data.features`) holds
    one split: its "test" side *is* the unseen classes. Any other choice would
    quietly test on a mix, so this raises naming both lists. Sets without
    fixed unseen classes pass unchanged.
    """
    fixed = getattr(skeletons, "fixed_unseen", None)
    if fixed and sorted(int(c) for c in unseen) != sorted(fixed):
        raise ReleaseError(f"{skeletons.source}: the data fixes the unseen classes {sorted(fixed)}, but the run asks "
                           f"for {sorted(int(c) for c in unseen)}; drop --unseen/--split or give the same classes")


def data_fixed_unseen(spec: str) -> list[int] | None:
    """Unseen classes fixed by a ``--data`` value (release or feature folder), else ``None``.

    For the CLI: a run on such data needs no ``--unseen``/``--split``.
    """
    text = str(spec)
    if text.startswith("features:"):
        from pgfa.data.features import feature_folder_unseen

        return feature_folder_unseen(text[len("features:"):])
    if is_release_folder(text):
        return release_unseen(text)
    return None


def release_split_folder(root: str | Path, split_name: str) -> Path | None:
    """The release folder of a named split under ``root``, or ``None`` when ``root`` is no release tree.

    ``root`` may be ``data/zeroshot`` or ``data/zeroshot/<dataset>``;
    ``split_name`` is pgfa's name (``ntu60/split_1``, ``ntu60/55-5``). For
    ``pgfa reproduce``, whose splits each live in their own release folder.
    """
    root = Path(root).expanduser()
    dataset, _, rest = split_name.partition("/")
    suffix = {v: k for k, v in SETTING_B_NAMES.items()}.get(split_name)
    leaf = f"unseen_label_{suffix}" if suffix is not None else rest
    for candidate in (root / dataset / leaf, root / leaf if root.name == dataset else None):
        if candidate is not None and is_release_folder(candidate):
            return candidate
    return None
