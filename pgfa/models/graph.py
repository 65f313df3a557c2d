"""Skeleton graph adjacency for ST-GCN ("spatial configuration" partitioning).

The adjacency is computed from a :class:`pgfa.data.layouts.Layout` so that the
network never hard-codes a sensor: a new layout (bones + centre joint) gives a
new graph.

Convention used everywhere in :mod:`pgfa.models`::

    A[k, i, j]  = weight with which SOURCE joint i contributes to TARGET joint j
                  in subset k,
    out[..., j] = sum_k sum_i A[k, i, j] * (W_k x)[..., i]

i.e. the second index is the source and the third the target, which is what
the original ST-GCN's ``einsum('nkctv,kvw->nctw')`` does. Columns are
normalised ("normalize_digraph": adjacency times the inverse column degree),
so every target joint takes the *mean* of its neighbourhood (itself included)
split over the three subsets: for each target j, ``A[:, :, j].sum() == 1``.

Subsets (max hop 1):

* 0, root: sources at the same hop distance from the centre joint as the
  target (with a tree skeleton: only the joint itself);
* 1, centripetal: sources *nearer* the centre than the target (its parent);
* 2, centrifugal: sources *farther* from the centre than the target (its
  children).

The original ST-GCN code names its subsets ``a_close`` / ``a_further`` the
other way round (its ``a_close`` holds sources farther from the centre); the
two choices differ only in the order of subsets 1 and 2, i.e. a permutation of
the learned weights, not in what the network can represent.
"""
from __future__ import annotations

import numpy as np

from pgfa.data.layouts import Layout, get_layout

NUM_SUBSETS = 3


def hop_distance(num_joints: int, edges, max_hop: int = 1) -> np.ndarray:
    """Hop distance between joints, ``inf`` beyond ``max_hop``.

    Why not a BFS only from the centre: the partitioning needs the distance of
    *every* joint to the centre, and the neighbourhood test needs
    distance <= max_hop between pairs; both come from the same matrix.

    Returns:
        ``(V, V)`` float array, symmetric, 0 on the diagonal.
    """
    adj = np.zeros((num_joints, num_joints), dtype=bool)
    for i, j in edges:
        adj[i, j] = adj[j, i] = True
    dist = np.full((num_joints, num_joints), np.inf)
    reach = np.eye(num_joints, dtype=bool)
    dist[reach] = 0
    for hop in range(1, max_hop + 1):
        reach = reach | (reach.astype(np.int64) @ adj.astype(np.int64) > 0)
        dist[reach & np.isinf(dist)] = hop
    return dist


def _all_hop_distance(num_joints: int, edges) -> np.ndarray:
    """Hop distance between all joint pairs (no cut-off), for the centre test."""
    return hop_distance(num_joints, edges, max_hop=num_joints)


def spatial_adjacency(layout: str | Layout = "ntu25") -> np.ndarray:
    """ST-GCN spatial-configuration adjacency of a joint layout.

    Built from the layout's bones plus self loops, normalised by inverse
    column (target) degree, then split into root / centripetal / centrifugal
    subsets by comparing the source's and the target's hop distance to
    ``layout.center`` (see the module docstring for the index convention).

    Returns:
        ``(3, V, V)`` float32, ``A[k, source, target]``.
    """
    layout = get_layout(layout)
    V = layout.num_joints
    near = hop_distance(V, layout.bones, max_hop=1)  # (V, V): 0, 1 or inf
    to_center = _all_hop_distance(V, layout.bones)[:, layout.center]  # (V,)
    if np.isinf(to_center).any():
        raise ValueError(f"layout {layout.name!r}: some joints are not connected to the centre")

    adjacency = np.isfinite(near).astype(np.float64)  # bones + self loops, symmetric
    degree = adjacency.sum(axis=0)  # column sums = number of sources per target
    normalized = adjacency / degree[None, :]

    A = np.zeros((NUM_SUBSETS, V, V), dtype=np.float64)
    src, tgt = np.nonzero(adjacency)
    for i, j in zip(src, tgt):
        if to_center[i] == to_center[j]:
            k = 0
        elif to_center[i] < to_center[j]:
            k = 1  # source nearer the centre: centripetal
        else:
            k = 2  # source farther from the centre: centrifugal
        A[k, i, j] = normalized[i, j]
    return A.astype(np.float32)
