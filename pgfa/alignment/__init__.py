"""Test-time prototype-guided feature alignment (SPEC section 7).

Public names:

* :func:`pgfa.alignment.prototype.prototype_align` ``(features (N, D), text (K, D), alpha, ...) -> AlignmentResult``:
  the batch rule (also ``pgfa.align``);
* :class:`pgfa.alignment.prototype.AlignmentResult`: labels ``(N,)``, scores ``(N, K)``, prototypes ``(K, D)`` ...;
* :class:`pgfa.alignment.online.OnlineAligner`: the same rule over a stream (``pgfa predict --online``).
"""
from pgfa.alignment.online import OnlineAligner
from pgfa.alignment.prototype import AlignmentResult, prototype_align

__all__ = ["prototype_align", "AlignmentResult", "OnlineAligner"]
