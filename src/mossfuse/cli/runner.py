"""Run a typer app the way every mossfuse entry point does: one-line errors, fixed exit codes.

Exit codes (the CLI error contract):

- ``0`` success (also ``--help``);
- ``2`` bad input (:class:`~mossfuse.errors.MossfuseError`: ``error: <file>: <what>``) and usage
  errors (unknown option or command, missing or malformed value: ``error: <what>`` plus one
  ``try '<prog> ... --help'`` hint on the same line);
- ``130`` Ctrl-C (SIGINT), after the temporary files of the run were removed
  (``error: interrupted``); ``143`` SIGTERM where a command turns it into an exit.

Usage errors are recognised by duck typing (an exception with ``exit_code`` and
``format_message``), not by class: typer >= 0.24 raises the classes of its bundled copy of click
(``typer._click.exceptions``), older typer those of click itself; both are handled.
"""

from __future__ import annotations

import sys
from typing import Any


def _echo_err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _is_usage_error(exc: BaseException) -> bool:
    return hasattr(exc, "exit_code") and callable(getattr(exc, "format_message", None))


def _usage_line(exc: Any, prog_name: str) -> str:
    msg = _one_line(exc.format_message())
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or prog_name
    return f"error: {msg} (try '{path} --help')"


def _sigterm_unwinds() -> None:
    """``kill PID`` (SIGTERM) unwinds like Ctrl-C (``SystemExit(143)``), so temporary files
    are removed; only in the main thread (where signal handlers can be set)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def run_app(app: Any, argv: list[str] | None, prog_name: str) -> None:
    """Run the typer ``app`` on ``argv`` (None: ``sys.argv[1:]``) under the exit-code contract
    of the module docstring: returns on success, else raises :class:`SystemExit`."""
    from mossfuse.errors import MossfuseError

    _sigterm_unwinds()
    try:
        rv = app(args=argv, prog_name=prog_name, standalone_mode=False)
    except MossfuseError as exc:
        _echo_err(f"error: {_one_line(str(exc))}")
        sys.exit(2)
    except KeyboardInterrupt:
        _echo_err("error: interrupted (Ctrl-C); no output written")
        sys.exit(130)
    except SystemExit as exc:  # normal exits, --help, a signal turned into an exit
        code = exc.code
        if code == 130:
            _echo_err("error: interrupted (Ctrl-C); no output written")
        elif code == 143:
            _echo_err("error: terminated (SIGTERM); no output written")
        sys.exit(code or 0)
    except Exception as exc:
        name = type(exc).__name__
        if name == "Abort":  # click turns KeyboardInterrupt/EOF into Abort
            _echo_err("error: interrupted (Ctrl-C); no output written")
            sys.exit(130)
        if name == "Exit" and hasattr(exc, "exit_code"):  # typer.Exit / click.exceptions.Exit
            sys.exit(exc.exit_code or 0)
        if name == "NoArgsIsHelpError":  # bare ``mossfuse``: the help was printed
            sys.exit(0)
        if _is_usage_error(exc):
            _echo_err(_usage_line(exc, prog_name))
            sys.exit(2 if exc.exit_code in (None, 0, 1) else exc.exit_code)
        raise
    # typer (>= 0.24, not standalone) turns KeyboardInterrupt into ``Exit(130)`` and an explicit
    # ``Exit(n)`` into a *returned* ``n``; our commands themselves return None
    if isinstance(rv, int) and not isinstance(rv, bool) and rv != 0:
        if rv == 130:
            _echo_err("error: interrupted (Ctrl-C); no output written")
        sys.exit(rv)
