"""pgfa: zero-shot skeleton-based action recognition with prototype-guided feature alignment."""

__version__ = "0.1.0"
