"""CSV written for people to open: cells that a spreadsheet would run as a formula are
neutralised (OWASP's rule for CSV injection).

A cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return gets a single quote in
front and is always quoted, so Excel, LibreOffice and Sheets show it as text. Only what is
written out changes: the stored leads and the stored rejected rows keep their values, and
the exports apply this when they write (`SafeCsvWriter`, `neutralise_records`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SPECIAL = (",", '"', "\r", "\n")


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def safe_cell(value: Any) -> str:
    """One CSV field (comma-separated, quotes doubled): quoted when the csv module would
    quote it, and prefixed with `'` and quoted when it could start a formula."""
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_STARTS):
        return _quoted("'" + text)
    if any(c in text for c in _SPECIAL):
        return _quoted(text)
    return text


def safe_row(values: Iterable[Any]) -> str:
    cells = [safe_cell(v) for v in values]
    if cells == [""]:
        return '""\r\n'  # as the csv module writes it: a lone empty field is not a blank line
    return ",".join(cells) + "\r\n"


class SafeCsvWriter:
    """`csv.writer(out, lineterminator="\\r\\n")`'s `writerow`, with formulas neutralised."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def writerow(self, row: Iterable[Any]) -> None:
        self.out.write(safe_row(row))


def neutralise_records(data: bytes) -> bytes:
    """Complete CSV records (UTF-8, as the csv module wrote them) written again through
    `safe_row`: a stored block read back for an export."""
    reader = csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline=""))
    return "".join(safe_row(record) for record in reader).encode()


__all__ = ["FORMULA_STARTS", "SafeCsvWriter", "neutralise_records", "safe_cell", "safe_row"]
