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
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from pgfa.errors import PgfaError


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename ``tmp_path`` onto ``path``.

    The temporary file is ``.{name}.{pid}.<random>.tmp{suffix}`` beside
    ``path``: a process killed while writing leaves it behind, and the pid in
    its name lets :func:`remove_stale_tmp` tell a dead writer's file from a
    live one's.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # keep the real suffix last: some writers choose the format from it
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TMP_MARK + path.suffix,
                               dir=path.parent)
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


#: What marks :func:`atomic_write`'s temporary files (``.{name}.{pid}.<random>.tmp{suffix}``).
TMP_MARK = ".tmp"
# Temporary files without a pid (written before it was recorded) count as stale after this long.
_OLD_TMP_SECONDS = 3600


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a pid we cannot judge counts as alive, so its files are kept)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or not a pid we can judge
    return True


def remove_stale_tmp(folder: str | Path) -> list[Path]:
    """Delete the temporary files that killed :func:`atomic_write` calls left in ``folder``.

    Why: a run killed while saving a checkpoint leaves ``.last.pt.<pid>.<random>.tmp.pt``
    (hundreds of MB) that nothing else would ever remove. A file whose
    writer (the pid in its name) still runs is kept; one without a pid only
    once it is an hour old. Only plain files directly in ``folder`` whose
    names have the temporary pattern are touched. Returns the files removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in sorted(folder.glob(f".*{TMP_MARK}*")):
        name = path.name
        stem, mark, _ = name.rpartition(TMP_MARK)
        if not mark or path.is_symlink() or not path.is_file():
            continue
        parts = stem[1:].split(".")  # "<name parts>", pid, random
        pid = int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None
        if pid is not None:
            if pid == os.getpid() or process_alive(pid):  # ours (another thread) or a live writer's
                continue
        elif time.time() - path.stat().st_mtime < _OLD_TMP_SECONDS:
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (``os.umask`` sets it briefly)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def usual_permissions(path: str | Path) -> None:
    """Give ``path`` the permissions a plain ``mkdir`` / ``open`` would (0777 / 0666 less the umask).

    Why: ``tempfile.mkdtemp`` makes 0700 folders; an output folder built
    under a temporary name and renamed into place must not stay private.
    """
    path = Path(path)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~_umask())


def keep_previous(path: str | Path) -> Path | None:
    """Rename an existing ``name.ext`` to ``name.<its time>.ext`` before it is rewritten.

    Results are never overwritten without a trace: a rerun that writes the
    same file leaves the earlier one beside it. When a file of that second
    was kept already (two evaluations within one second), the name gets
    ``-2``, ``-3`` ... so no kept file replaces another. Returns the new name, if any.
    """
    path = Path(path)
    if not path.is_file():
        return None
    stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y%m%d-%H%M%S")
    kept = path.with_name(f"{path.stem}.{stamp}{path.suffix}")
    count = 1
    while True:
        try:  # link, not rename: it fails instead of replacing a file of the same name
            os.link(path, kept)
            break
        except FileExistsError:
            count += 1
            kept = path.with_name(f"{path.stem}.{stamp}-{count}{path.suffix}")
        except OSError:  # a file system without hard links: check, then rename
            if kept.exists():
                count += 1
                kept = path.with_name(f"{path.stem}.{stamp}-{count}{path.suffix}")
                continue
            os.replace(path, kept)
            return kept
    path.unlink()
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


# ----------------------------------------------------------------------------- replacing an output folder


class ReplaceRefused(PgfaError, ValueError):
    """``--force`` was asked to delete something pgfa did not write (or an input); nothing was changed."""


def input_relation(out: str | Path, inputs: Iterable[str | Path | None]) -> tuple[str, str] | None:
    """``(relation, input)`` when ``out`` is, contains or lies inside one of ``inputs``; else ``None``.

    ``inputs`` may hold ``None`` and strings that are not paths (a built-in
    class list, ``synthetic:...``): only those that exist are compared.
    """
    target = Path(out).resolve()
    for given in inputs:
        if not given or not Path(given).exists():
            continue
        source = Path(given).resolve()
        if target == source:
            return "is", str(given)
        if target in source.parents:
            return "contains", str(given)
        if source in target.parents:
            return "lies inside", str(given)
    return None


def check_replaceable(out: str | Path, inputs: Iterable[str | Path | None], is_own: Callable[[Path], bool],
                      what: str, marker: str) -> None:
    """Raise :class:`ReplaceRefused` unless ``--force`` may delete the folder ``out``.

    ``out`` may go only when it is a real folder (no link), holds ``marker``
    (e.g. ``config.yaml``), every entry in it passes ``is_own`` (pgfa's
    files), and it neither is, contains nor lies inside an input. The
    message names the file that would have been lost.
    """
    out = Path(out)
    overlap = input_relation(out, inputs)
    if overlap is not None:
        relation, given = overlap
        raise ReplaceRefused(f"{out}: --force would delete it, but it {relation} the input {given}; "
                             "give another --out")
    if out.is_symlink() or not out.is_dir():
        raise ReplaceRefused(f"{out}: exists and is not a {what}; --force only replaces a {what}; "
                             "move it away or give another --out")
    if not (out / marker).is_file():
        raise ReplaceRefused(f"{out}: has no {marker}, so it is not a {what} and --force will not delete it; "
                             "move it away or give another --out")
    for entry in sorted(out.iterdir()):
        if not is_own(entry):
            raise ReplaceRefused(f"{entry}: would be lost: --force only deletes a {what} holding nothing but "
                                 "pgfa's own files; move the file away (or give another --out)")


def _aside_name(out: Path, pid: int) -> Path:
    return out.with_name(f".{out.name}.replaced-{pid}")


class SetAside:
    """An output folder being replaced: moved aside, deleted only once the new one is worth keeping.

    Why: ``--force`` used to delete the old folder first, so a new run that
    failed (or was killed) before writing anything lost the old one for
    nothing. Usage::

        aside = SetAside(out)        # out -> .{name}.replaced-{pid}, beside it
        ...write the new out...
        aside.discard()              # the new one is usable: delete the old one
        # or aside.restore()         # failed: delete the new one, put the old one back

    A folder set aside by a process that was killed is handled by
    :func:`recover_set_aside` on the next run.
    """

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.path = _aside_name(self.out, os.getpid())
        if self.path.exists():
            shutil.rmtree(self.path)
        os.replace(self.out, self.path)

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def restore(self) -> None:
        if self.out.exists():
            shutil.rmtree(self.out)
        os.replace(self.path, self.out)


def recover_set_aside(out: str | Path, usable: Callable[[Path], bool]) -> list[str]:
    """Finish what a killed :class:`SetAside` left: returns one line per action, for the log.

    A set-aside folder whose process still runs is left alone. Otherwise,
    when ``out`` is usable (``usable(out)``: the new run got as far as a
    checkpoint) the old folder is deleted; when it is not, the new partial
    ``out`` is removed and the old folder put back, as if the failed start
    had never happened.
    """
    out = Path(out)
    done: list[str] = []
    if not out.parent.is_dir():
        return done
    for aside in sorted(out.parent.glob(f".{out.name}.replaced-*")):
        pid_text = aside.name.rsplit("-", 1)[-1]
        if aside.is_symlink() or not aside.is_dir() or not pid_text.isdigit():
            continue
        if int(pid_text) != os.getpid() and process_alive(int(pid_text)):
            continue
        if out.is_dir() and usable(out):
            shutil.rmtree(aside, ignore_errors=True)
            done.append(f"removed {aside} (the run that replaced it has a checkpoint)")
        elif not out.exists() or out.is_dir():
            if out.exists():
                shutil.rmtree(out)
            os.replace(aside, out)
            done.append(f"restored {out} from {aside} (the run that was to replace it was killed before "
                        "its first checkpoint)")
    return done


class TextFileError(PgfaError, ValueError):
    """A text file pgfa reads (class lists, ...) is not UTF-8; the message names it."""


def read_utf8(path: str | Path) -> str:
    """The text of ``path``; a file that is not UTF-8 is refused naming the file and the byte.

    Why: Python's own ``UnicodeDecodeError`` names neither the file nor a fix.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise TextFileError(f"{path}: line {line} is not UTF-8 text (byte 0x{data[err.start]:02x}); "
                            "save the file as UTF-8") from None
