"""Prototype-guided feature alignment (SPEC section 7), over plain tensors."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AlignmentResult:
    """Outcome of :func:`prototype_align`.

    Attributes:
        labels: ``(N,)`` final class positions (into the rows of ``text``).
        scores: ``(N, K)`` cosine of each feature to each prototype.
        initial_labels: ``(N,)`` predictions from the text features alone.
        entropy: ``(N,)`` entropy of softmax over text cosines (confidence).
        prototypes: ``(K, D)`` unit prototypes (a text feature where a class
            had no support).
        support: ``(N,)`` bool, which samples formed some prototype.
    """

    labels: torch.Tensor
    scores: torch.Tensor
    initial_labels: torch.Tensor
    entropy: torch.Tensor
    prototypes: torch.Tensor
    support: torch.Tensor


def prototype_align(features: torch.Tensor, text: torch.Tensor, alpha: float,
                    min_support: int = 1, bias: torch.Tensor | None = None,
                    temperature: float | None = None) -> AlignmentResult:
    r"""Re-classify test features against prototypes built from confident samples.

    With unit features f_n and unit text features t_k:

    1. :math:`p_n = \arg\max_k \cos(f_n, t_k)`, and
       :math:`e_n = H(\mathrm{softmax}_k \cos(f_n, t_k))` (no temperature);
    2. for every class k predicted for n_k samples, the
       :math:`\lfloor \alpha n_k \rfloor` samples of lowest entropy form
       :math:`z_k = \mathrm{mean}(f)`; with no such sample, :math:`z_k = t_k`;
    3. final label :math:`\arg\max_k \cos(f_n, z_k)`.

    Why: text features sit in a different part of the space than skeleton
    features; the confident test samples of a class locate that class's
    skeleton features better than its text does (the paper's bound).

    Args:
        features: ``(N, D)`` test features (normalised here).
        text: ``(K, D)`` text features of the candidate classes.
        alpha: support factor in [0, 1]; 0 keeps the text features.
        min_support: a class needs at least this many support samples before
            its prototype replaces its text feature (1 in the paper).
        bias: optional ``(K,)`` per-class offset added to every cosine score,
            both when pseudo-labelling against the texts (step 1, and so the
            entropy that ranks confidence) and in the final scores against the
            prototypes (step 3). Used by generalised zero-shot evaluation for
            calibrated stacking (``-gamma`` on seen classes, 0 on unseen
            ones): the same calibration then decides which samples build which
            prototype and how the final label is chosen. ``None`` (default)
            is the paper's rule, unchanged. ``scores`` include the bias.
        temperature: ``None`` (default, the paper's rule) ranks confidence by
            the entropy of ``softmax(cos)``. A value τ uses
            ``softmax(cos / τ)`` instead, for instance the training logit
            scale's 0.07. Why it is offered: cosines span a small range, so
            without a temperature every distribution is nearly uniform and
            the entropy barely separates a sample torn between two classes
            from one that is clearly in one; at the model's own scale it
            does. It only changes which samples support a prototype; the
            pseudo-labels and the final rule are the same.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if temperature is not None and not temperature > 0:
        raise ValueError(f"temperature must be positive (or None), got {temperature}")
    f = F.normalize(features.float(), dim=-1)
    t = F.normalize(text.float(), dim=-1)
    cos = f @ t.t()
    offset = (torch.zeros(len(t), device=f.device) if bias is None
              else torch.as_tensor(bias, dtype=torch.float32, device=f.device))
    if offset.shape != (len(t),):
        raise ValueError(f"bias must have one value per class ({len(t)}), got shape {tuple(offset.shape)}")
    cos = cos + offset
    initial = cos.argmax(dim=1)
    prob = (cos if temperature is None else cos / temperature).softmax(dim=1)
    entropy = -(prob * prob.clamp_min(1e-12).log()).sum(dim=1)
    prototypes = t.clone()
    support = torch.zeros(len(f), dtype=torch.bool, device=f.device)
    for k in range(len(t)):
        members = torch.nonzero(initial == k).flatten()
        n_support = math.floor(alpha * len(members) + 1e-9)  # guard 0.7*10 = 6.999...
        if n_support < max(1, min_support):
            continue
        chosen = members[entropy[members].argsort()[:n_support]]
        support[chosen] = True
        prototypes[k] = F.normalize(f[chosen].mean(dim=0), dim=0)
    scores = f @ prototypes.t() + offset
    return AlignmentResult(scores.argmax(dim=1), scores, initial, entropy, prototypes, support)
