"""Run a typer app the way every mossfuse entry point does: one-line errors, fixed exit codes."""

from __future__ import annotations

import sys

import typer

from mossfuse.errors import MossfuseError


def run_app(app: typer.Typer, argv: list[str] | None, prog_name: str) -> None:
    """Run ``app`` on ``argv`` (None: ``sys.argv``). Bad input (:class:`MossfuseError`) prints
    ``error: <file>: <what>`` and exits 2; usage errors exit as click says; Ctrl-C exits 1."""
    try:
        app(args=argv, prog_name=prog_name, standalone_mode=False)
    except MossfuseError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except (typer.Exit, SystemExit) as exc:  # normal exits, --help
        code = getattr(exc, "exit_code", getattr(exc, "code", 0))
        sys.exit(code or 0)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise
