"""One vector per class from all the texts a text mode gives it: the one place for the averaging rule.

A class may have several texts (the sentences of its description, prompt
templates around its name, the extra texts of a class file). Training, predict
and ``pgfa embed`` all turn a class into *one* unit vector the same way, here:

1. every distinct string of every class is embedded once, through the cache
   (:func:`pgfa.text.cache.embed_texts`);
2. within one kind of text (:meth:`ClassText.text_groups`: name, description,
   both, parts, templates), the vectors are averaged and renormalised: the
   kind's *unit mean*;
3. the class vector is the renormalised mean of its kinds' unit means, so in
   ``ensemble`` each kind weighs the same whether it has one string (the
   name) or five (the templates).

A class with a single string (``name``, ``description``, ``both``, or a
one-sentence ``parts``) gets that string's vector untouched, bit for bit, so
runs embedded before several texts existed keep identical text features.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pgfa.data.skeletons import ClassText
from pgfa.text.cache import embed_texts

__all__ = ["embed_class_texts", "class_vector"]


def embed_class_texts(
    classes: list[ClassText],
    mode: str = "description",
    encoder: str = "minilm",
    device: str = "cpu",
    cache: str | Path | None = None,
) -> np.ndarray:
    """``(K, D)`` float32 unit vectors, one per class, for text mode ``mode`` (module docstring for the rule)."""
    if not classes:
        return np.zeros((0, 0), dtype=np.float32)  # as embed_texts([]) gives
    groups = [c.text_groups(mode) for c in classes]
    strings = list(dict.fromkeys(text for kinds in groups for kind in kinds for text in kind))
    vectors = embed_texts(strings, encoder=encoder, cache=cache, device=device)
    row = {text: i for i, text in enumerate(strings)}
    return np.stack([class_vector([vectors[[row[t] for t in kind]] for kind in kinds], c.name)
                     for kinds, c in zip(groups, classes)])


def class_vector(kinds: list[np.ndarray], name: str = "class") -> np.ndarray:
    """The renormalised mean of the kinds' unit means; ``kinds[i]`` is ``(n_i, D)`` unit rows.

    One row in all is returned as it is (no renormalisation that could move a
    bit). A mean of (near) zero length cannot be a direction, so it is an
    error naming the class rather than a vector of NaNs.
    """
    if len(kinds) == 1 and len(kinds[0]) == 1:
        return kinds[0][0].astype(np.float32)
    means = np.stack([_unit(np.asarray(kind, dtype=np.float64).mean(axis=0), name) for kind in kinds])
    return _unit(means.mean(axis=0), name).astype(np.float32)


def _unit(vector: np.ndarray, name: str) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if norm < 1e-8:
        raise ValueError(f"class {name!r}: its text embeddings cancel out (mean of length {norm:.1e}); "
                         "use other texts or a single-text mode")
    return vector / norm
