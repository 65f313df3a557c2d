"""One-shot evaluation: one labelled exemplar per novel class (SPEC section 3, one-shot setting).

Protocol (pgfa's; the one-shot class sets are SPEC 3's, e.g. ``--split ntu60/one-shot``):

* the *novel* classes are the run's unseen classes, so the model was trained
  on the other classes only, exactly as for zero-shot;
* for every novel class one exemplar is drawn, with a seeded generator
  (``numpy.random.default_rng(seed)``, classes in ascending order), from that
  class's test samples; the draw is recorded (dataset index and sample id);
* the exemplars are removed from the evaluation set, and every remaining
  novel-class test sample is classified among the novel classes by cosine
  similarity to:

  - ``exemplar``: the exemplar's skeleton feature;
  - ``exemplar_text``: the normalised mean of the (unit) exemplar feature and
    the (unit) text feature of the class, i.e. both kinds of side
    information at once;
  - ``text``: the text feature alone (zero-shot, on the very same samples, so
    the three numbers are directly comparable).

With ``draws > 1`` the draw is repeated with seeds ``seed, seed + 1, ...``
and the mean (and standard deviation) over draws is reported too: a single
exemplar per class makes one-shot accuracy vary a lot from draw to draw.
"""
from __future__ import annotations

import numpy as np
import torch

from pgfa.scoring import cosine_scores, unit

__all__ = ["draw_exemplars", "one_shot_classify", "one_shot_evaluate", "one_shot_report"]


def draw_exemplars(targets: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
    """Positions (into ``targets``) of one exemplar per class 0..num_classes-1, drawn with ``seed``."""
    targets = np.asarray(targets)
    rng = np.random.default_rng(seed)
    chosen = []
    for k in range(num_classes):
        members = np.flatnonzero(targets == k)
        if len(members) == 0:
            raise ValueError(f"class position {k} has no test sample to draw a one-shot exemplar from")
        chosen.append(int(members[rng.integers(len(members))]))
    return np.array(chosen, dtype=np.int64)


def _top1(scores: torch.Tensor, targets: np.ndarray) -> float:
    if len(targets) == 0:
        return float("nan")
    return float((scores.argmax(dim=1).numpy() == targets).mean())


def one_shot_classify(features: torch.Tensor, targets: np.ndarray, exemplar_features: torch.Tensor,
                      text: torch.Tensor) -> dict:
    """Top-1 of ``features`` against exemplars, exemplar+text and text alone (cosine, argmax).

    Args:
        features: ``(N, D)`` features of the samples to classify (exemplars
            already removed).
        targets: ``(N,)`` true class positions into the K classes.
        exemplar_features: ``(K, D)`` one exemplar feature per class.
        text: ``(K, D)`` text features of the same K classes.
    """
    e, t = unit(exemplar_features), unit(text)
    if e.shape != t.shape:
        raise ValueError(f"exemplar features {tuple(e.shape)} and text features {tuple(t.shape)} differ in shape")
    targets = np.asarray(targets, dtype=np.int64)
    return {
        "exemplar_top1": _top1(cosine_scores(features, exemplar_features), targets),
        # the normalised mean of the two unit vectors
        "exemplar_text_top1": _top1(cosine_scores(features, e + t), targets),
        "text_top1": _top1(cosine_scores(features, text), targets),
        "n_test": int(len(targets)),
    }


def one_shot_evaluate(features: torch.Tensor, targets: np.ndarray, text: torch.Tensor, seed: int = 0,
                      draws: int = 1) -> dict:
    """Draw exemplars (seeded), remove them, classify the rest; see the module docstring.

    Args:
        features: ``(N, D)`` features of all novel-class test samples.
        targets: ``(N,)`` class positions into the K rows of ``text``.
        text: ``(K, D)`` text features of the novel classes.
        seed: seed of the first draw; draw ``i`` uses ``seed + i``.
        draws: number of independent draws.

    Returns:
        ``exemplar_top1``, ``exemplar_text_top1``, ``text_top1`` (means over
        draws), their ``*_std`` when ``draws > 1``, ``n_test`` per draw,
        ``seed``, ``draws``, and ``per_draw``: a list with each draw's seed,
        exemplar positions (into ``features``) and its three accuracies.
    """
    if draws < 1:
        raise ValueError("draws must be at least 1")
    targets = np.asarray(targets, dtype=np.int64)
    features = torch.as_tensor(features)
    k = len(text)
    per_draw = []
    for i in range(draws):
        exemplars = draw_exemplars(targets, k, seed + i)
        keep = np.setdiff1d(np.arange(len(targets)), exemplars)
        result = one_shot_classify(features[torch.from_numpy(keep)], targets[keep],
                                   features[torch.from_numpy(exemplars)], text)
        per_draw.append({"seed": seed + i, "exemplars": exemplars.tolist(), **result})
    summary: dict = {"seed": seed, "draws": draws, "n_test": per_draw[0]["n_test"]}
    for key in ("exemplar_top1", "exemplar_text_top1", "text_top1"):
        values = np.array([d[key] for d in per_draw])
        summary[key] = float(values.mean())
        if draws > 1:
            summary[f"{key}_std"] = float(values.std(ddof=1))
    summary["per_draw"] = per_draw
    return summary


def one_shot_report(features: torch.Tensor, targets: np.ndarray, text: torch.Tensor, sample_index: np.ndarray,
                    classes: np.ndarray, sample_ids: list[str] | None = None, seed: int = 0, draws: int = 1) -> dict:
    """:func:`one_shot_evaluate` with the exemplars recorded as dataset samples (for ``metrics.json``).

    ``sample_index[i]`` is the dataset index of ``features[i]``, ``classes[k]``
    the class index of text row ``k``; each draw's ``exemplars`` become a list
    of ``{"class", "sample", "id"}``.
    """
    empty = [int(c) for k, c in enumerate(classes) if not np.any(np.asarray(targets) == k)]
    if empty:
        raise ValueError(f"one-shot: unseen class(es) {empty} have no test sample to draw an exemplar from")
    result = one_shot_evaluate(features, targets, text, seed=seed, draws=draws)
    for draw in result["per_draw"]:
        draw["exemplars"] = [
            {"class": int(classes[k]), "sample": int(sample_index[p]),
             "id": sample_ids[int(sample_index[p])] if sample_ids is not None else None}
            for k, p in enumerate(draw["exemplars"])
        ]
    result["protocol"] = ("novel classes = the run's unseen classes (the model never trained on them); one "
                          "exemplar per class drawn with numpy default_rng(seed) from its test samples and removed "
                          "from the evaluation set; the rest classified by cosine to the exemplar feature, to the "
                          "normalised mean of exemplar and text features, and to the text feature alone")
    return result
