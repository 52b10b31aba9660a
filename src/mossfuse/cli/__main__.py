"""``python -m mossfuse.cli``: the ``mossfuse`` command."""

from mossfuse.cli import main

main()
