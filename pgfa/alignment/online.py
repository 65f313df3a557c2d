"""Streaming prototype alignment: sequences arrive one (or a few) at a time.

The rule is the batch rule of SPEC section 7 applied to everything seen so
far: when a sequence arrives, the prototypes are rebuilt from the stream up to
and including it, and the sequence is labelled against them. A label, once
given, is not revised. A class's prototype replaces its text feature once
⌊α·n_k⌋ reaches ``min_support`` (n_k = sequences predicted as k so far from
the text features); before that the class is matched by its text. With the
whole stream given in one update, the result equals batch alignment exactly.

Cost grows with the stream (features are kept); ``window`` keeps only the
most recent sequences for live use. ``rule="guarded"`` applies
:func:`pgfa.alignment.prototype.guarded_align` the same way.
"""
from __future__ import annotations

import torch

from pgfa.alignment.prototype import align_with_rule

__all__ = ["OnlineAligner"]


class OnlineAligner:
    """Label a stream of test features against unseen-class texts with growing prototypes."""

    def __init__(self, text: torch.Tensor, alpha: float, min_support: int = 1, window: int | None = None,
                 temperature: float | None = None, rule: str = "paper"):
        self.text = text
        self.rule = rule
        self.alpha = alpha
        self.temperature = temperature
        self.min_support = min_support
        self.window = window
        self._features: list[torch.Tensor] = []

    def update(self, features: torch.Tensor) -> torch.Tensor:
        """Add ``(n, D)`` new features; returns their ``(n,)`` labels (positions in ``text``)."""
        return self.score(features).argmax(dim=1)

    def score(self, features: torch.Tensor) -> torch.Tensor:
        """Add ``(n, D)`` new features; returns their ``(n, K)`` cosines to the prototypes as of now.

        The argmax of each row is the label :meth:`update` gives.
        """
        if features.ndim == 1:
            features = features[None]
        self._features.append(features)
        stream = torch.cat(self._features)
        if self.window is not None and len(stream) > self.window:
            stream = stream[-self.window :]
            self._features = [stream]
        result = align_with_rule(self.rule, stream, self.text, self.alpha, min_support=self.min_support,
                                 temperature=self.temperature)
        return result.scores[-len(features) :]
