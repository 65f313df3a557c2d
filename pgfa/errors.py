"""The errors a user can cause and fix, as one class hierarchy.

Why: the command line prints these as one line (``pgfa <cmd>: error:
<file>: <problem>``, exit code 2) and shows a traceback only for anything
else, which is a bug. A class here or a subclass elsewhere marks an error
as "the user's input was wrong", so the CLI need not guess from
``ValueError`` or ``RuntimeError``.

Each concrete error also subclasses the builtin it replaces (``ValueError``,
``RuntimeError``...), so code and tests that catch the builtin keep working.
The message names the file (or flag) and the problem, and what to do where
that is not obvious.

A foundation module: imports nothing from pgfa.
"""
from __future__ import annotations

__all__ = ["PgfaError", "ConfigError"]


class PgfaError(Exception):
    """Base of every error caused by the user's input or environment (not a bug in pgfa)."""


class ConfigError(PgfaError, ValueError):
    """A configuration value, file or flag is wrong; the message names where it came from.

    ``key`` is the config field concerned (None when the problem is not one field's), so the CLI can say
    which flag, file or ``--set`` gave the bad value.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key
