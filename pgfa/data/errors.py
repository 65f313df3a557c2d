"""The error every reader raises for input it cannot use.

Why a module of its own: the readers (:mod:`pgfa.data.formats`,
:mod:`pgfa.data.ntu`, :mod:`pgfa.data.pku`, :mod:`pgfa.data.prepare`...) all
raise it, and none of them should have to import another reader to do so.
It is also importable as ``pgfa.data.formats.DataError``.
"""
from __future__ import annotations

import errno

from pgfa.errors import PgfaError

__all__ = ["DataError", "DiskFullError"]


class DataError(PgfaError, ValueError):
    """Input data that cannot be used; the message names the file (and the record) and the problem."""


class DiskFullError(PgfaError, OSError):
    """The disk filled up while pgfa was writing; what it had written is removed (``errno`` is ENOSPC)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.errno = errno.ENOSPC
