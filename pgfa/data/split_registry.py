"""Named zero-shot splits of the literature (SPEC section 3), by name.

``dataset/name`` -> unseen class indices (0-based). Setting A splits are the
three random splits per dataset used by SMIE and PGFA; setting B the fixed
lists of the SynSE/PURLS line of work; the one-shot sets the novel classes of
the one-shot setting.
"""
from __future__ import annotations

from pathlib import Path

NAMED_SPLITS: dict[str, tuple[int, ...]] = {
    # setting A
    "ntu60/split_1": (4, 19, 31, 47, 51),
    "ntu60/split_2": (12, 29, 32, 44, 59),
    "ntu60/split_3": (7, 20, 28, 39, 58),
    "ntu120/split_4": (3, 18, 26, 38, 41, 60, 87, 99, 102, 110),
    "ntu120/split_5": (5, 12, 14, 15, 17, 42, 67, 82, 100, 119),
    "ntu120/split_6": (6, 20, 27, 33, 42, 55, 71, 97, 104, 118),
    "pku/split_7": (1, 9, 20, 34, 50),
    "pku/split_8": (3, 14, 29, 31, 49),
    "pku/split_9": (2, 15, 39, 41, 43),
    # setting B
    "ntu60/55-5": (10, 11, 19, 26, 56),
    "ntu60/48-12": (3, 5, 9, 12, 15, 40, 42, 47, 51, 56, 58, 59),
    "ntu120/110-10": (4, 13, 37, 43, 49, 65, 88, 95, 99, 106),
    "ntu120/96-24": (5, 9, 11, 16, 18, 20, 22, 29, 35, 39, 45, 49, 59, 68, 70, 81, 84, 87, 93, 94, 104, 113,
                     114, 119),
    # one-shot novel classes
    "ntu60/one-shot": tuple(range(0, 60, 6)),
    "ntu120/one-shot": tuple(range(0, 120, 6)),
    "pku/one-shot": (10, 30, 40, 0, 5, 35, 45, 15, 20, 25),
}

DATASET_CLASSES = {"ntu60": 60, "ntu120": 120, "pku": 51}


def resolve_split(name_or_file: str, num_classes: int | None = None) -> list[int]:
    """Unseen classes of a named split, or of a file listing them (commas or whitespace).

    With ``num_classes`` given, a named split must belong to a dataset of that size.
    """
    if name_or_file in NAMED_SPLITS:
        dataset = name_or_file.split("/")[0]
        if num_classes is not None and num_classes != DATASET_CLASSES[dataset]:
            raise ValueError(f"split {name_or_file} is for {dataset} ({DATASET_CLASSES[dataset]} classes), "
                             f"but the data has {num_classes} classes")
        return sorted(NAMED_SPLITS[name_or_file])
    path = Path(name_or_file)
    if path.is_file():
        text = path.read_text().replace(",", " ").split()
        try:
            values = sorted(int(v) for v in text)
        except ValueError:
            raise ValueError(f"{path}: a split file lists unseen class indices (integers)") from None
        if len(set(values)) != len(values):
            raise ValueError(f"{path}: a class is listed twice")
        return values
    raise ValueError(f"unknown split {name_or_file!r}: not a file, and not one of {', '.join(NAMED_SPLITS)}")
