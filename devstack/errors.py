"""The one exception the dev stack raises for a problem worth one line to the developer."""


class DevStackError(Exception):
    """A start-up problem worth one line to the developer (no traceback)."""
