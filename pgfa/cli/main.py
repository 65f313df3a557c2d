"""``pgfa`` command line: the parser built from the command table, and the error policy.

The sub-commands are listed in :mod:`pgfa.cli.commands` (one line each) and
live in their own modules. This module only parses, dispatches and turns
errors into messages:

* an error the user can fix (:class:`pgfa.errors.PgfaError` and its
  subclasses such as ``ConfigError`` / ``DataError``, a pgfa
  ``RunExistsError`` / ``CheckpointError`` / ``EncoderNotInstalled``, any
  ``ValueError`` or ``OSError`` such as ``FileNotFoundError``) is printed as
  one line ``pgfa <cmd>: error: <file>: <problem>`` and exits with
  :data:`EXIT_USER_ERROR` (2, argparse's code for a bad command line);
* anything else is a bug or an unforeseen case: one line saying so, and
  how to see the traceback (``--debug`` or ``PGFA_DEBUG=1``), exit code 1;
* with ``--debug`` (before or after the sub-command) or ``PGFA_DEBUG=1``
  the traceback is printed as well.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

from pgfa.cli.commands import COMMANDS
from pgfa.cli.evaluate import print_metrics  # noqa: F401 - re-exported (older callers import it from here)
from pgfa.errors import PgfaError

# Commands that may read a pyskl .pkl (directly or through a run's config.yaml): they take --trust-pickle.
TRUST_PICKLE_COMMANDS = ("train", "evaluate", "predict", "show", "reproduce", "tune-alignment", "tune-preset",
                         "export-features", "import-checkpoint")
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
# pgfa error classes that predate pgfa.errors and may not yet derive from PgfaError.
_USER_ERROR_NAMES = {"DataError", "RunExistsError", "CheckpointError", "EncoderNotInstalled", "ConfigError"}


def _threads() -> None:
    from pgfa.runtime import set_threads

    set_threads()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgfa", description="Zero-shot skeleton action recognition (PGFA).")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error (also: environment variable PGFA_DEBUG=1)")
    sub = parser.add_subparsers(dest="command")
    for command in COMMANDS:
        p = command.add_parser(sub)
        # also accepted after the sub-command; SUPPRESS keeps a top-level --debug from being reset
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the Python traceback of an error (also: PGFA_DEBUG=1)")
        if command.name in TRUST_PICKLE_COMMANDS:
            p.add_argument("--trust-pickle", action="store_true",
                           help="read .pkl files with plain pickle.load, which runs any code the file names; "
                                "only for files you trust (default: a restricted reader that runs no code)")
    return parser


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` is the user's to fix (printed as one line) rather than a bug (traceback on request)."""
    if isinstance(err, (PgfaError, ValueError, OSError)):
        return True
    return any(c.__name__ in _USER_ERROR_NAMES and c.__module__.startswith("pgfa.") for c in type(err).__mro__)


def error_message(err: BaseException) -> str:
    """The text after ``error:``; an ``OSError`` as ``<file>: <reason>`` rather than ``[Errno 2] ...``."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err) or type(err).__name__


def _debug_wanted(args: argparse.Namespace | None) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("PGFA_DEBUG", "") not in ("", "0")


def report_error(err: BaseException, command: str, debug: bool) -> int:
    """Print ``err`` for a user (see the module docstring); returns the exit code."""
    if debug:
        traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
    if is_user_error(err):
        print(f"pgfa {command}: error: {error_message(err)}", file=sys.stderr)
        return EXIT_USER_ERROR
    hint = "" if debug else "; rerun with --debug (or PGFA_DEBUG=1) to see the traceback"
    print(f"pgfa {command}: unexpected error ({type(err).__name__}: {error_message(err)}){hint}", file=sys.stderr)
    return EXIT_INTERNAL_ERROR


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        import pgfa

        print(pgfa.__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    handlers = {command.name: command.run for command in COMMANDS}
    try:
        _threads()
        if getattr(args, "trust_pickle", False):
            from pgfa.data.safe_pickle import trusting_pickles

            with trusting_pickles():
                return handlers[args.command](args)
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("interrupted; the last finished epoch is saved and the same command resumes it", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - every error ends here, as one line (see the module docstring)
        return report_error(err, args.command, _debug_wanted(args))


if __name__ == "__main__":
    sys.exit(main())
