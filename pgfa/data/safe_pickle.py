"""Reading pickles without running code: the one function every ``.pkl`` goes through.

Why: ``pickle.load`` executes whatever callables a file names (a crafted
file can run any command), and pyskl-style annotation pickles are passed
around between labs and downloaded. Such a file only needs plain containers
and numpy arrays, so :func:`load_pickle` rebuilds exactly those:

* ``dict``, ``list``, ``tuple``, ``str``, ``bytes``, ``int``, ``float``,
  ``bool``, ``None`` (pickle opcodes, no global needed);
* numpy arrays, dtypes and scalars, through the few helpers numpy's own
  pickles name: ``numpy.ndarray``, ``numpy.dtype``, ``multiarray._reconstruct``,
  ``multiarray.scalar`` and ``numeric._frombuffer`` (protocol 5), under both
  the numpy 1.x (``numpy.core``) and 2.x (``numpy._core``) module names;
* ``_codecs.encode``, which protocol 0-2 pickles use to store bytes.

Any other global (a function, a class, ``os.system``...) is refused with a
:class:`~pgfa.data.errors.DataError` naming the file and the global
(``module.name``); nothing it names is imported or called. ``trust=True``
(``--trust-pickle``) falls back to plain ``pickle.load`` for files the user
vouches for.
"""
from __future__ import annotations

import contextlib
import contextvars
import importlib
import pickle
from pathlib import Path
from typing import Any

from pgfa.data.errors import DataError

__all__ = ["ALLOWED_GLOBALS", "load_pickle", "trusting_pickles"]

# Set by ``--trust-pickle`` for one command (see :func:`trusting_pickles`).
_TRUSTED: contextvars.ContextVar[bool] = contextvars.ContextVar("pgfa_trust_pickle", default=False)


@contextlib.contextmanager
def trusting_pickles():
    """Within the block every :func:`load_pickle` behaves as ``trust=True`` (the CLI's ``--trust-pickle``).

    Why a context: the flag must reach the pickles read deep inside train,
    evaluate, reproduce... without a parameter on every function between.
    """
    token = _TRUSTED.set(True)
    try:
        yield
    finally:
        _TRUSTED.reset(token)

#: (module, name) pairs a pyskl-style pickle may name; see the module docstring.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")]
    + [(f"numpy.{core}.multiarray", name) for core in ("core", "_core") for name in ("_reconstruct", "scalar")]
    + [(f"numpy.{core}.numeric", "_frombuffer") for core in ("core", "_core")]
)


class _RefusedGlobal(pickle.UnpicklingError):
    """Raised inside the unpickler; turned into a DataError naming the file."""

    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.qualified = f"{module}.{name}"


def _resolve(module: str, name: str) -> Any:
    """The object an allowed global names, taken from the numpy that is installed.

    A pickle written by numpy 1.x names ``numpy.core...`` and one written by
    numpy 2.x ``numpy._core...``; both are looked up in whichever of the two
    this numpy has (``numpy.core`` is a deprecated alias in numpy 2).
    """
    if module == "numpy" or module == "_codecs":
        return getattr(importlib.import_module(module), name)
    tail = module.split(".", 2)[2]  # "multiarray" or "numeric"
    for core in ("numpy._core", "numpy.core"):
        try:
            return getattr(importlib.import_module(f"{core}.{tail}"), name)
        except (ImportError, AttributeError):
            continue
    raise _RefusedGlobal(module, name)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise _RefusedGlobal(module, name)
        return _resolve(module, name)


def load_pickle(path: str | Path, trust: bool = False) -> Any:
    """Unpickle ``path`` allowing only containers, scalars and numpy arrays (see module docstring).

    Args:
        path: the ``.pkl`` file.
        trust: use plain ``pickle.load`` (runs any code the file names); only
            for files the user vouches for (``--trust-pickle``).

    Raises:
        DataError: the file cannot be read or unpickled, or it names a global
            outside :data:`ALLOWED_GLOBALS` (the message names the file and the
            global, and says how to opt in).
    """
    path = Path(path)
    trust = trust or _TRUSTED.get()
    try:
        with open(path, "rb") as f:
            return pickle.load(f) if trust else _RestrictedUnpickler(f).load()
    except _RefusedGlobal as err:
        raise DataError(
            f"{path}: refused to unpickle: the file names {err.qualified}, which a pyskl-style pickle "
            "(dicts, lists, numbers, strings, numpy arrays) never needs and which could run code; "
            "if you trust this file, pass --trust-pickle (trust_pickle=True)"
        ) from None
    except Exception as err:  # corrupt or truncated files raise many types
        raise DataError(f"{path}: cannot unpickle ({type(err).__name__}: {err})") from None
