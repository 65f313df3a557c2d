"""Backbone registry: a plain dict filled by a small decorator.

Why a registry: the training loop, evaluation and the API build a model from
the backbone *name* stored in a run's ``config.yaml``; a registry lets a user
add a backbone in their own file (decorate the class, import the file before
training) without editing pgfa::

    import torch.nn as nn
    from pgfa.models import SkeletonBackbone, register_backbone

    @register_backbone("tiny")
    class Tiny(SkeletonBackbone):
        def __init__(self, layout="ntu25", in_channels=3, dropout=0.0, width=32):
            super().__init__(layout, in_channels)
            self.out_dim = width
            self.linear = nn.Linear(in_channels, width)

        def trunk(self, x):                 # (N·M, T, V, C) channels-last, data-BN'd
            return self.linear(x)           # (N·M, T, V, out_dim); the head pools it

A backbone is any ``nn.Module`` class whose constructor takes ``layout=``
(and, when it uses it, ``dropout=``) plus keyword options, exposes
``out_dim``, and maps ``(N, C, T, V, M)`` to ``(N, out_dim)``; deriving from
:class:`pgfa.models.head.SkeletonBackbone` gives the shared input BatchNorm
and pooling for free.

Implementations. One backbone name may have several implementations with
the same parameters and ``state_dict`` (ST-GCN: ``fast``, tuned for a small
CPU, and ``plain``, the textbook formulation); a checkpoint trained with one
loads into the other. :func:`resolve_impl` picks one for a device when the
configuration says ``auto``.

A foundation module: imports nothing from pgfa.
"""
from __future__ import annotations

import inspect
from typing import Callable

import torch
import torch.nn as nn

__all__ = [
    "BACKBONES",
    "IMPLEMENTATIONS",
    "IMPLS",
    "backbone_class",
    "backbone_names",
    "create_backbone",
    "register_backbone",
    "resolve_impl",
]

# name -> the backbone's default class (for ST-GCN the fast CPU one).
BACKBONES: dict[str, type[nn.Module]] = {}
# name -> {implementation -> class}, only for backbones with more than one.
IMPLEMENTATIONS: dict[str, dict[str, type[nn.Module]]] = {}
IMPLS = ("auto", "fast", "plain")


def register_backbone(name: str, impl: str | None = None, replace: bool = False) -> Callable:
    """Class decorator: make ``cls`` buildable as backbone ``name``.

    ``impl`` (``"fast"`` or ``"plain"``) registers one implementation of a
    backbone that has several; the ``fast`` one (else the first registered)
    is also the backbone's default class in :data:`BACKBONES`. Registering a
    name twice is an error unless ``replace=True`` (so that two files cannot
    silently shadow each other's backbone).
    """
    if impl is not None and impl not in IMPLS[1:]:
        raise ValueError(f"backbone {name!r}: impl must be one of {IMPLS[1:]}, got {impl!r}")

    def decorator(cls: type[nn.Module]) -> type[nn.Module]:
        taken = name in BACKBONES if impl is None else impl in IMPLEMENTATIONS.get(name, {})
        if taken and not replace and _registered(name, impl) is not cls:
            raise ValueError(f"backbone {name!r}{f' ({impl})' if impl else ''} is already registered "
                             f"as {_registered(name, impl).__qualname__}; pass replace=True to override it")
        if impl is None:
            BACKBONES[name] = cls
            IMPLEMENTATIONS.pop(name, None)
        else:
            IMPLEMENTATIONS.setdefault(name, {})[impl] = cls
            if impl == "fast" or name not in BACKBONES:  # the CPU choice is the default class
                BACKBONES[name] = cls
        return cls

    return decorator


def _registered(name: str, impl: str | None) -> type[nn.Module]:
    return BACKBONES[name] if impl is None else IMPLEMENTATIONS[name][impl]


def backbone_names() -> list[str]:
    """Registered backbone names, sorted."""
    return sorted(BACKBONES)


def resolve_impl(impl: str, device: str | torch.device | None = None) -> str:
    """``auto`` -> the implementation to use on ``device``; ``fast``/``plain`` unchanged.

    On the CPU ``auto`` is ``fast``: the chunked, fused ST-GCN of
    :mod:`pgfa.models.stgcn`, measured ~2x faster per training step than the
    plain one on 2 cores. On CUDA ``auto`` is ``plain`` (the textbook ST-GCN,
    channels-last memory): cuDNN and ``torch.compile`` fuse standard ops
    themselves, and the fast path's chunking and hand-written backward were
    designed around a CPU cache. **This choice is not measured yet** (no GPU
    was available when it was written); ``benchmarks/gpu_check.sh`` measures
    both, and the choice should follow its table.
    """
    if impl not in IMPLS:
        raise ValueError(f"backbone_impl must be one of {', '.join(IMPLS)}, got {impl!r}")
    if impl != "auto":
        return impl
    kind = torch.device(device).type if device is not None else "cpu"
    return "fast" if kind == "cpu" else "plain"


def backbone_class(name: str, impl: str = "auto", device: str | torch.device | None = None) -> type[nn.Module]:
    """The class that builds backbone ``name`` with implementation ``impl`` on ``device``.

    A backbone with a single implementation (Shift-GCN, user backbones) uses
    it whatever ``impl`` says.
    """
    try:
        default = BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; known backbones: {', '.join(backbone_names())}") from None
    variants = IMPLEMENTATIONS.get(name)
    if not variants:
        return default
    chosen = resolve_impl(impl, device)
    if chosen not in variants:
        raise ValueError(f"backbone {name!r} has no {chosen!r} implementation; it has {', '.join(sorted(variants))}")
    return variants[chosen]


def create_backbone(
    name: str,
    layout,
    impl: str = "auto",
    device: str | torch.device | None = None,
    **options,
) -> nn.Module:
    """Build backbone ``name`` for ``layout``: ``cls(layout=layout, **options)``.

    ``options`` are the backbone's own keyword arguments (``dropout``,
    ``channels``, ``time_scale``...), e.g. from the config's
    ``backbone_options``. An option the constructor does not take is an
    error naming the backbone and the options it does take; ``dropout`` is
    passed only when the constructor accepts it (a user backbone need not).
    ``device`` only informs the ``auto`` implementation choice; the module
    is built on the CPU.
    """
    cls = backbone_class(name, impl, device)
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    accepted = [p for p in params if p not in ("self", "layout")
                and params[p].kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    if not takes_any:
        if "dropout" in options and "dropout" not in params:
            options = {k: v for k, v in options.items() if k != "dropout"}
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(f"backbone {name!r} ({cls.__qualname__}) has no option {', '.join(map(repr, unknown))}; "
                             f"its options are: {', '.join(accepted) or 'none'}")
    return cls(layout=layout, **options)
