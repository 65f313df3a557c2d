"""Networks: the skeleton graph, the backbone registry, the shared head, ST-GCN, Shift-GCN and the
skeleton-to-text projection.

Public names: :func:`build_model` / :func:`model_from_config` (a :class:`ZeroShotModel` from a backbone
name), :func:`register_backbone` / :func:`create_backbone` / :func:`backbone_names` (the registry) and
:class:`SkeletonBackbone` (the base class that gives a new backbone the shared input BatchNorm and pooling).
Every backbone maps ``(N, C, T, V, M)`` skeletons to ``(N, out_dim)`` features.
"""
from pgfa.models.head import SkeletonBackbone
from pgfa.models.model import ZeroShotModel, build_model, model_from_config
from pgfa.models.registry import BACKBONES, backbone_names, create_backbone, register_backbone, resolve_impl

__all__ = [
    "BACKBONES",
    "SkeletonBackbone",
    "ZeroShotModel",
    "backbone_names",
    "build_model",
    "create_backbone",
    "model_from_config",
    "register_backbone",
    "resolve_impl",
]
