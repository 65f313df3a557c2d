"""How well the built-in class descriptions point at their own class name.

For every description of a built-in dataset, its cosine to its own class name
is compared with its cosines to all other class names of the same dataset
(names and descriptions embedded separately with ``embed_texts``):

* pairwise: the fraction of other names that are farther than the own name,
  averaged over the descriptions (the figure tests/test_text.py floors);
* nearest: the fraction of descriptions whose nearest name is their own.

Encoders that are not installed are skipped with a note. ``--misses`` lists,
per dataset and encoder, the descriptions whose nearest name is another one.
Usage: python benchmarks/class_texts.py [--encoders minilm mpnet] [--misses]
"""
from __future__ import annotations

import argparse

import numpy as np

from pgfa.text.builtin import builtin_classes
from pgfa.text.cache import embed_texts
from pgfa.text.encoders import EncoderNotInstalled, resolve_encoder

DATASETS = [
    ("ntu120", "NTU-120"),
    ("pku", "PKU-MMD"),
    ("utd_mhad", "UTD-MHAD"),
    ("nw_ucla", "NW-UCLA"),
    ("msr_action3d", "MSR Action3D"),
]
LABELS = {"minilm": "MiniLM", "mpnet": "MPNet"}


def name_scores(dataset: str, encoder: str) -> tuple[float, float, list[tuple[str, str]]]:
    """(pairwise, nearest, [(class, nearest other name) for each miss])."""
    classes = builtin_classes(dataset)
    names = embed_texts([c.name for c in classes], encoder)
    descriptions = embed_texts([c.description for c in classes], encoder)
    sim = descriptions @ names.T
    own = np.diag(sim)[:, None]
    pairwise = float(((own > sim).sum(axis=1) / (len(classes) - 1)).mean())
    best = sim.argmax(axis=1)
    hits = best == np.arange(len(classes))
    misses = [(classes[i].name, classes[int(best[i])].name) for i in np.flatnonzero(~hits)]
    return pairwise, float(hits.mean()), misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=["minilm", "mpnet"])
    parser.add_argument("--misses", action="store_true", help="list descriptions nearer another class's name")
    args = parser.parse_args()

    encoders = []
    for enc in args.encoders:
        try:
            resolve_encoder(enc)
            encoders.append(enc)
        except EncoderNotInstalled as exc:
            print(f"# skipping {enc}: {str(exc).splitlines()[0]}")

    results = {(d, e): name_scores(d, e) for d, _ in DATASETS for e in encoders}
    header = ["dataset", "classes"]
    for e in encoders:
        label = LABELS.get(e, e)
        header += [f"{label} pairwise", f"{label} nearest"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for d, title in DATASETS:
        row = [title, str(len(builtin_classes(d)))]
        for e in encoders:
            pairwise, nearest, _ = results[(d, e)]
            row += [f"{pairwise:.3f}", f"{nearest:.3f}"]
        print("| " + " | ".join(row) + " |")

    if args.misses:
        for d, title in DATASETS:
            for e in encoders:
                misses = results[(d, e)][2]
                print(f"\n{title} / {LABELS.get(e, e)}: {len(misses)} nearer another name")
                for name, other in misses:
                    print(f"  {name!r} -> {other!r}")


if __name__ == "__main__":
    main()
