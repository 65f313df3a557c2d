"""The cross-modal contrastive loss of SPEC section 6."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_target_contrastive_loss(
    skeleton: torch.Tensor,
    text: torch.Tensor,
    labels: torch.Tensor,
    scale: float = 1 / 0.07,
    target_sharpness: float = 10.0,
) -> torch.Tensor:
    r"""Symmetric KL loss between batch similarities and same-label soft targets.

    With s_i the projected skeleton feature of sample i, t_j the text feature of
    sample j's class, and y the labels:

    .. math::
        L_{ij} = \kappa \cos(s_i, t_j), \quad
        G_{ij} = [y_i = y_j], \quad P = \mathrm{softmax}_{row}(10\,G)

        \mathcal{L} = \tfrac12\big[\mathrm{KL}(P \,\|\, \mathrm{softmax}_{row} L)
                       + \mathrm{KL}(P^\top \,\|\, \mathrm{softmax}_{row} L^\top)\big]

    KL is summed over a row and averaged over rows. Samples of the same class
    are all positives, which is why the target is soft rather than the
    identity of CLIP's loss.

    Args:
        skeleton: ``(B, D)`` skeleton features (any norm).
        text: ``(B, D)`` text feature of each sample's class (any norm).
        labels: ``(B,)`` class indices.
        scale: logit scale κ (fixed, 1/0.07 in the reference).
        target_sharpness: multiplier of G before the softmax (10).
    """
    s = F.normalize(skeleton, dim=-1)
    t = F.normalize(text, dim=-1)
    logits = scale * s @ t.t()
    same = (labels[:, None] == labels[None, :]).to(logits.dtype)
    target = torch.softmax(target_sharpness * same, dim=1)
    # G is symmetric, so the column target P^T equals P.
    loss_rows = F.kl_div(F.log_softmax(logits, dim=1), target, reduction="batchmean")
    loss_cols = F.kl_div(F.log_softmax(logits.t(), dim=1), target.t(), reduction="batchmean")
    return 0.5 * (loss_rows + loss_cols)
