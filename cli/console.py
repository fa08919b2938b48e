"""Output and failure for every command: expected failures print one line and exit 1;
tracebacks are for bugs."""

from __future__ import annotations

import sys
from typing import NoReturn, TextIO

import typer
from rich.console import Console
from rich.markup import escape

# Not a terminal (a pipe, a file, a CI log): no wrapping at all, so a URL or an id stays on
# one line whatever reads it. On a terminal, rich fits the width as usual.
_WIDE = 10_000


def _console(stream: TextIO, stderr: bool) -> Console:
    tty = stream.isatty()
    return Console(stderr=stderr, highlight=False, soft_wrap=not tty, width=None if tty else _WIDE)


console = _console(sys.stdout, stderr=False)
err_console = _console(sys.stderr, stderr=True)


class Terminate(Exception):
    """SIGINT or SIGTERM, turned into an exception so `finally` blocks run."""


def on_signal(signum: int, frame: object) -> NoReturn:
    raise Terminate


def print_rows(rows: list[tuple[str, str]]) -> None:
    """`name  value` lines, names in bold and aligned: one write (a child's log line cannot
    land inside), no trailing padding, never wrapped."""
    width = max((len(name) for name, _ in rows), default=0) + 2
    lines = [
        f"[bold]{escape(name)}[/]{' ' * (width - len(name))}{escape(value)}" for name, value in rows
    ]
    console.print("\n".join(lines), soft_wrap=True)


def fail(message: str) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(1)
