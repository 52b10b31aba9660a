"""Command-line interface (thin: parse, call the library, print).

:mod:`~mossfuse.cli.commands` builds the ``mossfuse`` typer app from the subcommand modules
(:mod:`~mossfuse.cli.fuse`, :mod:`~mossfuse.cli.train`, :mod:`~mossfuse.cli.analyze`,
:mod:`~mossfuse.cli.weights`); :mod:`~mossfuse.cli.runner` holds the exit-code contract and
:mod:`~mossfuse.cli.options` the shared option parsing. Nothing heavy (torch, scipy,
matplotlib) is imported until a command needs it.
"""

from mossfuse._lazy import lazy_exports

# lazy, so that ``python -m mossfuse.cli.train`` (torchrun) runs that module before the app
# imports it (no runpy warning); the app's module is not named ``app``, which would shadow it
__getattr__, __dir__ = lazy_exports(
    __name__, {"app": "mossfuse.cli.commands", "main": "mossfuse.cli.commands"}
)
__all__ = ["app", "main"]
