"""``python -m modeltrace``: the same command line as the ``modeltrace`` script."""

from modeltrace.cli.main import app

app(prog_name="modeltrace")
