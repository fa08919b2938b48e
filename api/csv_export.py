"""Statistics as CSV: a header row, then one row per item, written by the csv module
(quoting where a field needs it) and streamed. Text cells that a spreadsheet would run as
a formula get a leading `'` (OWASP's rule for CSV injection); numbers are written as
numbers, a negative one included."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from fastapi.responses import StreamingResponse

from penguinmails.leads.csvsafe import FORMULA_STARTS

CSV_MEDIA = "text/csv; charset=utf-8"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for n, row in enumerate(rows, start=1):
        writer.writerow([_cell(v) for v in row])
        if n % 500 == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def csv_response(
    header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str
) -> StreamingResponse:
    """`rows` are read while the answer streams: give rows already fetched (the route's
    transaction has ended by then)."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return StreamingResponse(_lines(header, rows), media_type=CSV_MEDIA, headers=headers)


__all__ = ["CSV_MEDIA", "csv_response"]
