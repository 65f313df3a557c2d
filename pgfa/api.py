"""Python API: use a trained run on new sequences and any class names.

>>> model = pgfa.load("runs/demo")                              # doctest: +SKIP
>>> result = model.predict(x, ["wave right hand", "squat down"])  # doctest: +SKIP

The classes are open vocabulary: any names or ``name<TAB>description``
(``<TAB>text...``) strings, none of which needs to have been seen in
training. The run is read with :func:`pgfa.run.load_model` (config and
``best.pt``; no training data needed) and scored with :mod:`pgfa.scoring`,
as ``pgfa evaluate`` scores.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pgfa.alignment.online import OnlineAligner
from pgfa.alignment.prototype import align_with_rule
from pgfa.run import BEST, load_model
from pgfa.scoring import cosine_scores, encode, unit
from pgfa.text.cache import embed_texts
from pgfa.text.class_embeddings import embed_class_texts
from pgfa.text.classes import ClassText, parse_class_line

__all__ = ["Prediction", "ZeroShotRecognizer", "load"]


@dataclass
class Prediction:
    """Ranked classes for one sequence: ``labels[i]`` scored ``scores[i]`` (cosine)."""

    labels: list[str]
    scores: list[float]


def _as_class_texts(classes) -> list[ClassText]:
    texts = []
    for c in classes:
        if isinstance(c, ClassText):
            texts.append(c)
        else:
            try:  # "name", "name<TAB>description" or "name<TAB>description<TAB>text..."
                texts.append(parse_class_line(str(c)))
            except ValueError as err:
                raise ValueError(f"class {str(c)!r}: {err}") from None
    if len(texts) < 2:
        raise ValueError("give at least two classes to choose from")
    return texts


def _check_skeletons(x: np.ndarray) -> np.ndarray:
    """``(N, 3, T, V, M)`` float32 (one ``(3, T, V, M)`` sequence gets N = 1), finite."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 4:
        x = x[None]
    if x.ndim != 5 or x.shape[1] != 3:
        raise ValueError(f"skeletons must be (N, 3, T, V, M) or (3, T, V, M), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("skeletons contain NaN or infinite values")
    return x


class ZeroShotRecognizer:
    """A trained run, ready to encode skeletons and texts and to predict."""

    def __init__(self, run: str | Path, device: str = "auto"):
        self.run = Path(run)
        self.config, state, self.model, self.device = load_model(self.run, BEST, device)
        self.layout = state["signature"]["layout"]
        self.model.eval()

    def _features(self, x: np.ndarray, batch_size: int = 256) -> torch.Tensor:
        """Raw (not normalised) model outputs ``(N, D)`` of checked skeletons, on the CPU."""
        return encode(self.model, _check_skeletons(x), device=self.device, batch_size=batch_size)

    def encode_skeletons(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """``(N, 3, T, V, M)`` or one ``(3, T, V, M)`` preprocessed sequence -> ``(N, D)`` unit features."""
        return unit(self._features(x, batch_size)).numpy()

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Sentence embeddings ``(K, D)`` with the run's own text encoder."""
        return embed_texts(list(texts), encoder=self.config.text_encoder)

    def predict(self, x: np.ndarray, classes, align: bool = False, alpha: float | None = None,
                top_k: int = 5, online: bool = False) -> list[Prediction]:
        """Rank ``classes`` for every sequence of ``x``.

        With ``align``, prototype-guided alignment (SPEC section 7) runs over
        the given batch: it needs several sequences per class to help. With
        ``online``, the sequences are taken as a stream in the given order
        (:class:`~pgfa.alignment.online.OnlineAligner`): each is ranked against
        the prototypes built from it and the sequences before it only.
        Both use the run config's ``align_rule`` (paper or guarded).
        """
        texts = _as_class_texts(classes)
        raw = self._features(x)
        text = torch.from_numpy(embed_class_texts(texts, self.config.text_mode, encoder=self.config.text_encoder))
        alpha = self.config.alpha if alpha is None else alpha
        if online:
            aligner = OnlineAligner(text, alpha, temperature=self.config.align_temperature,
                                    rule=self.config.align_rule)
            scores = torch.cat([aligner.score(f[None]) for f in unit(raw)]) if len(raw) else raw
        elif align:
            scores = align_with_rule(self.config.align_rule, unit(raw), text, alpha,
                                     temperature=self.config.align_temperature).scores
        else:
            scores = cosine_scores(raw, text)
        k = min(top_k, len(texts))
        top = scores.topk(k, dim=1)
        return [Prediction([texts[j].name for j in idx.tolist()], [round(float(v), 4) for v in val])
                for val, idx in zip(top.values, top.indices)]


def load(run: str | Path, device: str = "auto") -> ZeroShotRecognizer:
    """Load a trained run folder (written by ``pgfa train``)."""
    return ZeroShotRecognizer(run, device=device)
