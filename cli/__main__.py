"""`python -m cli`: the command without the installed console script."""

from cli.main import app

app()
