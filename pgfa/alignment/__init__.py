"""Test-time prototype-guided feature alignment (SPEC section 7).

Public names:

* :func:`pgfa.alignment.prototype.prototype_align` ``(features (N, D), text (K, D), alpha, ...) -> AlignmentResult``:
  the batch rule (also ``pgfa.align``);
* :class:`pgfa.alignment.prototype.AlignmentResult`: labels ``(N,)``, scores ``(N, K)``, prototypes ``(K, D)`` ...;
* :func:`pgfa.alignment.prototype.guarded_align`: the same signature, prototypes blended with gap-shifted text
  features by support (``align_rule: guarded``); :func:`pgfa.alignment.prototype.align_with_rule` picks by name;
* :class:`pgfa.alignment.online.OnlineAligner`: the same rule over a stream (``pgfa predict --online``).
"""
from pgfa.alignment.online import OnlineAligner
from pgfa.alignment.prototype import ALIGN_RULES, AlignmentResult, align_with_rule, guarded_align, prototype_align

__all__ = ["prototype_align", "guarded_align", "align_with_rule", "ALIGN_RULES", "AlignmentResult", "OnlineAligner"]
