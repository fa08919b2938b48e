"""CSV written for people to open: cells that a spreadsheet would run as a formula are
neutralised (OWASP's rule for CSV injection).

A cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return gets a single quote in
front and is always quoted, so Excel, LibreOffice and Sheets show it as text. Only what is
written out changes: the stored leads and the stored rejected rows keep their values, and
the exports apply this when they write (`SafeCsvWriter`, `neutralise_records`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
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


# One field as the csv module writes it (comma, `"` doubled inside quotes, QUOTE_MINIMAL).
_FIELD = re.compile(r'"([^"]*(?:""[^"]*)*)"|([^,"\r\n]*)')


def _records(text: str) -> Iterator[list[str]]:
    """The records of CSV text written by the csv module (`lineterminator="\r\n"`). Not
    the csv reader: its field size limit is process-wide, and a stored unreadable row
    holds a whole runaway field."""
    pos, end = 0, len(text)
    record: list[str] = []
    while pos < end:
        match = _FIELD.match(text, pos)
        assert match is not None  # the second branch matches the empty string
        quoted, plain = match.groups()
        record.append(quoted.replace('""', '"') if quoted is not None else plain)
        pos = match.end()
        if text.startswith(",", pos):
            pos += 1
        elif text.startswith("\r\n", pos) or text.startswith("\n", pos):
            pos += 2 if text[pos] == "\r" else 1
            yield record
            record = []
        elif pos < end:  # not written by the csv module: the rest is one field
            record[-1] += text[pos:]
            pos = end
    if record:
        yield record


def neutralise_records(data: bytes) -> bytes:
    """Complete CSV records (UTF-8, as the csv module wrote them) written again through
    `safe_row`: a stored block read back for an export."""
    text = data.decode("utf-8", errors="replace")
    return "".join(safe_row(record) for record in _records(text)).encode()


__all__ = ["FORMULA_STARTS", "SafeCsvWriter", "neutralise_records", "safe_cell", "safe_row"]
