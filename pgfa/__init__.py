"""pgfa: zero-shot skeleton-based action recognition with prototype-guided feature alignment."""

__version__ = "0.1.0"


def load(run, device: str = "auto"):
    """Load a trained run for prediction; see :mod:`pgfa.api`."""
    from pgfa.api import load as _load

    return _load(run, device=device)
