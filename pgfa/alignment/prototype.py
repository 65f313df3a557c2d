"""Prototype-guided feature alignment (SPEC section 7), over plain tensors, and its guarded variant.

Why a second, guarded rule (:func:`guarded_align`, issue 19 item 4): the
paper's rule (:func:`prototype_align`) replaces a class's text
feature by a prototype in the skeleton-feature region as soon as one sample
supports it, and keeps the bare text feature otherwise. Text features sit
elsewhere (the modality gap the paper's bound is about), so cosines to a
prototype are larger than cosines to any text feature: a class that the text
features give to nobody, or to too few samples for a prototype, then loses
every sample, even those it had, to its neighbours' prototypes. And a class
that the text features gave a neighbour's samples builds its prototype from
them too and pulls in still more. The guarded rule guards against both and,
with every class predicted for its expected share, is the paper's rule.

Selected with the run config's ``align_rule: guarded`` (default ``paper``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["prototype_align", "guarded_align", "align_with_rule", "ALIGN_RULES", "AlignmentResult"]


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
        weights: ``(K,)`` how far each prototype replaced its text feature
            (:func:`guarded_align`); ``None`` from the
            paper's rule, where it is all or nothing.
    """

    labels: torch.Tensor
    scores: torch.Tensor
    initial_labels: torch.Tensor
    entropy: torch.Tensor
    prototypes: torch.Tensor
    support: torch.Tensor
    weights: torch.Tensor | None = None


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


def guarded_align(features: torch.Tensor, text: torch.Tensor, alpha: float,
                  min_support: int = 1, bias: torch.Tensor | None = None,
                  temperature: float | None = None) -> AlignmentResult:
    r"""Re-classify test features against prototypes blended with gap-shifted text features by support.

    With unit features f_n (N of them) and unit text features t_k (K classes):

    1. as the paper: :math:`p_n = \arg\max_k \cos(f_n, t_k) + b_k`, entropy
       :math:`e_n`; :math:`n_k = |\{n : p_n = k\}|`; the support :math:`S_k` is
       the :math:`s_k = \min(\lfloor \alpha n_k \rfloor, \max(1, \lfloor \alpha N/K \rfloor))`
       samples of class k with the lowest entropy (the paper's
       :math:`\lfloor \alpha n_k \rfloor`, capped at what a class of the
       expected size N/K would use), used only when
       :math:`s_k \ge \max(1, \text{min\_support})`; its mean
       :math:`m_k = \mathrm{normalise}(\mathrm{mean}_{n \in S_k} f_n)`;
    2. support weight :math:`w_k = \min(1, n_k / (N/K))` where :math:`S_k` is
       used, else :math:`w_k = 0`;
    3. shared modality shift, from the classes with support:
       :math:`g = \sum_k s_k (m_k - t_k) / \sum_k s_k` over the used
       :math:`S_k` (0 if none), and the shifted text feature
       :math:`\tilde t_k = \mathrm{normalise}(t_k + g)`;
    4. :math:`z_k = \mathrm{normalise}(w_k m_k + (1 - w_k) \tilde t_k)`;
       final label :math:`\arg\max_k \cos(f_n, z_k) + b_k`.

    So a class predicted for exactly its expected share N/K gets the paper's
    prototype; a class predicted for nobody keeps its own text feature,
    moved by the same shift that took the other classes' texts to their
    skeleton features (the modality gap), so it competes with their
    prototypes on equal terms instead of losing its samples to them; in
    between, the prototype is trusted in proportion to its support. A class
    predicted for more than its share has likely taken a neighbour's
    samples: the cap builds its prototype from its most confident
    :math:`\lfloor \alpha N/K \rfloor` only, which are most likely its own,
    so it pulls less of the neighbour over. With every class at its share (a
    balanced test set, recognised well), the result equals
    :func:`prototype_align`'s.

    Constants, fixed before any data and never tuned (on unseen data or at
    all): the expected share N/K is the only class size known without labels
    (the benchmarks' test classes are roughly balanced); the weight is
    linear in :math:`n_k` and saturates at 1 so that no new parameter is
    introduced and full support gives the paper's rule. Confidence enters as
    in the paper, through which samples form :math:`S_k` (lowest entropy):
    an absolute entropy threshold or weight would depend on the temperature
    (without one every softmax over cosines is nearly uniform), the rank
    does not. The shift is weighted by support size so that a one-sample
    prototype moves it little. The cap uses the same α as the paper's
    support, so no second support factor exists.

    Args: as :func:`prototype_align` (``alpha`` the support factor, 0 keeps
        the text features; ``min_support``, ``bias`` (``(K,)``, added to every
        cosine score, both for pseudo-labels and final scores; ``scores``
        include it) and ``temperature`` (only the confidence ranking) behave
        the same).

    Returns:
        :class:`AlignmentResult` with ``labels (N,)``, ``scores (N, K)``,
        ``initial_labels (N,)``, ``entropy (N,)``, ``prototypes (K, D)`` (the
        :math:`z_k`), ``support (N,)`` and ``weights (K,)`` (the :math:`w_k`).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    base = prototype_align(features, text, 0.0, bias=bias, temperature=temperature)  # step 1: p_n, e_n (checks)
    f = F.normalize(features.float(), dim=-1)
    t = F.normalize(text.float(), dim=-1)
    n, k = len(f), len(t)
    counts = torch.bincount(base.initial_labels, minlength=k).float()
    cap = math.floor(alpha * n / k + 1e-9) if k else 0
    means, weights = t.clone(), torch.zeros(k, device=f.device)
    support = torch.zeros(n, dtype=torch.bool, device=f.device)
    sizes = torch.zeros(k, device=f.device)
    for c in range(k):
        members = torch.nonzero(base.initial_labels == c).flatten()
        # floor(alpha * n_k) as in prototype_align (same 1e-9 guard against 0.7 * 10 = 6.999...), capped
        size = min(math.floor(alpha * len(members) + 1e-9), max(cap, 1))
        if size < max(1, min_support):
            continue
        chosen = members[base.entropy[members].argsort()[:size]]
        support[chosen] = True
        means[c], sizes[c] = F.normalize(f[chosen].mean(dim=0), dim=0), size
        weights[c] = min(1.0, float(counts[c]) * k / n)
    gap = (sizes[:, None] * (means - t)).sum(dim=0) / sizes.sum() if sizes.sum() > 0 else torch.zeros_like(t[0])
    shifted = F.normalize(t + gap, dim=-1)
    prototypes = F.normalize(weights[:, None] * means + (1 - weights[:, None]) * shifted, dim=-1)
    offset = 0.0 if bias is None else torch.as_tensor(bias, dtype=torch.float32, device=f.device)  # checked above
    scores = f @ prototypes.t() + offset
    return AlignmentResult(scores.argmax(dim=1), scores, base.initial_labels, base.entropy, prototypes,
                           support, weights)


ALIGN_RULES = {"paper": prototype_align, "guarded": guarded_align}


def align_with_rule(rule: str, features: torch.Tensor, text: torch.Tensor, alpha: float,
                    **options) -> AlignmentResult:
    """Align with the named rule (``"paper"``: SPEC section 7; ``"guarded"``: :func:`guarded_align`)."""
    if rule not in ALIGN_RULES:
        raise ValueError(f"unknown alignment rule {rule!r}; known: {', '.join(ALIGN_RULES)}")
    return ALIGN_RULES[rule](features, text, alpha, **options)
