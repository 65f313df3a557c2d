"""Small file helpers shared by every writer: atomic writes, cache location.

Outputs are written to a temporary name in the destination folder and then
renamed, so an interrupted run never leaves a half-written file where a good
one was.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # keep the real suffix last: some writers choose the format from it
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def keep_previous(path: str | Path) -> Path | None:
    """Rename an existing ``name.ext`` to ``name.<its time>.ext`` before it is rewritten.

    Results are never overwritten without a trace: a rerun that writes the
    same file leaves the earlier one beside it. Returns the new name, if any.
    """
    path = Path(path)
    if not path.is_file():
        return None
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.stem}.{stamp}{path.suffix}")
    os.replace(path, kept)
    return kept


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def write_npy(path: str | Path, array: np.ndarray) -> Path:
    def _save(p: Path) -> None:
        with open(p, "wb") as f:
            np.save(f, array)

    return atomic_write(path, _save)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def cache_dir() -> Path:
    """pgfa's cache root: ``$PGFA_CACHE``, else ``$XDG_CACHE_HOME/pgfa``, else ``~/.cache/pgfa``."""
    if os.environ.get("PGFA_CACHE"):
        return Path(os.environ["PGFA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pgfa"


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MB blocks (model weights, prepared arrays)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
