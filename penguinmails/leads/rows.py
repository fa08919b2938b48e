"""From parsed CSV records to validated lead rows, one chunk at a time (pure, no I/O)."""

from __future__ import annotations

import csv
import io
import re
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from penguinmails.leads.csvfile import MAX_COLUMNS, MAX_FIELD, Header, LineSource, make_reader
from penguinmails.leads.csvsafe import safe_row
from penguinmails.leads.emails import InvalidAddress, fast_normalize, is_disposable, normalize

# The columns of the staging table, in order (see the lead import repository). Python does
# only what needs Python (the address, the time zone); the database picks the standard
# fields out of `fields`, trims them and builds `custom_fields`, in its own process.
STAGING_COLUMNS = ("line", "email", "email_key", "domain", "timezone", "disposable", "fields")
StagingRow = tuple[int, str, str, str, str | None, bool, str]
# The CSV fields travel as one text joined by the ASCII unit separator, split again by the
# database: a text[] costs the driver about ten times as much to encode. A field holding
# the separator itself, or a NUL (which PostgreSQL text cannot hold), rejects its row.
FIELD_SEPARATOR = "\x1f"

_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


@lru_cache(maxsize=4096)
def normalize_timezone(raw: str) -> str:
    """An IANA name as given, or a UTC offset: whole hours become `Etc/GMT∓N` (IANA's own
    fixed zones, sign inverted by POSIX convention), others `+HH:MM`. Raises ValueError."""
    value = raw.strip()
    if value.upper() in ("UTC", "GMT", "Z"):
        return "UTC"
    m = _OFFSET.match(value)
    if m:
        sign, hours, minutes = m.group(1), int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes >= 60 or (hours == 14 and minutes):
            raise ValueError(f"invalid UTC offset {value!r}")
        if minutes == 0:
            return "UTC" if hours == 0 else f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
        return f"{sign}{hours:02d}:{minutes:02d}"
    if not value or ".." in value or value.startswith("/"):
        raise ValueError(f"unknown time zone {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


@dataclass
class ParsedChunk:
    rows: list[StagingRow]
    rows_total: int = 0
    duplicates: int = 0  # repeats inside this chunk
    rejected: int = 0
    rejected_csv: str = ""  # the rejected records, as CSV rows without the header
    first_line: int = 0
    end_offset: int = 0
    end_line: int = 0
    eof: bool = False


class ChunkParser:
    """Reads `chunk_rows` records at a time from `lines` (positioned after the header, or
    at the boundary where an interrupted import resumes).

    A repeat of an address of this chunk or of the `window` chunks before it is counted as
    a duplicate here, never sent to the database: chunks loading at the same time then
    share no address, so none waits at the unique index for another to commit. Older
    repeats are found by the database (the lead is already in the list from this import).
    A chunk's set of addresses depends on its own rows only, so a resumed import rebuilds
    the window by parsing the `window` chunks before its resume point again.
    """

    def __init__(self, header: Header, lines: LineSource, chunk_rows: int, window: int = 0) -> None:
        self.header = header
        self.lines = lines
        self.chunk_rows = chunk_rows
        self._recent: deque[set[str]] = deque(maxlen=window) if window else deque()
        self._window = window
        self._reader = make_reader(lines, header.delimiter)
        self._width = len(header.columns)
        self._std = {f: i for i, f in header.fields.items()}
        self._disposable: dict[str, bool] = {}

    def next_chunk(self) -> ParsedChunk:
        lines, reader, width = self.lines, self._reader, self._width
        email_i = self._std["email"]
        tz_i = self._std.get("timezone")
        disposable = self._disposable
        fast = fast_normalize
        chunk = ParsedChunk(rows=[], first_line=lines.line)
        rows = chunk.rows
        seen: set[str] = set()
        recent = self._recent
        earlier: set[str] = set().union(*recent) if recent else set()
        join = FIELD_SEPARATOR.join
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        raw = lines.raw
        n = rejected = duplicates = 0
        eof = False
        while n < self.chunk_rows:
            start = lines.line
            raw.clear()
            try:
                fields = next(reader)
            except StopIteration:
                eof = True
                break
            except csv.Error as exc:
                n += 1
                rejected += 1
                writer.writerow(["".join(raw), start, f"unreadable row: {exc}"])
                continue
            if len(fields) <= 1 and (not fields or not fields[0].strip()):
                continue  # blank line
            n += 1
            reason = None
            count = len(fields)
            if count != width and count > width:
                if count > MAX_COLUMNS:
                    reason = f"too many columns: {count} (at most {MAX_COLUMNS})"
                elif any(f.strip() for f in fields[width:]):
                    reason = f"{count} fields where the header has {width}"
            if (
                reason is None
                and (len(raw) > 1 or len(raw[0]) > MAX_FIELD)
                and any(len(f) > MAX_FIELD for f in fields)
            ):
                reason = f"a field is longer than {MAX_FIELD} characters"
            if reason is None:
                value = fields[email_i].strip() if email_i < count else ""
                if not value and not any(f.strip() for f in fields):
                    n -= 1
                    continue  # a row of empty fields is a blank line
                normalized = fast(value) if value else None
                if normalized is not None:
                    domain = normalized[normalized.index("@") + 1 :]
                    key = normalized.lower()
                else:
                    try:
                        address = normalize(value)
                    except InvalidAddress as exc:
                        reason = str(exc)
                    else:
                        normalized, key, domain = address.normalized, address.key, address.domain
            if reason is not None:
                rejected += 1
                writer.writerow([*fields, start, reason])
                continue
            tz = None
            if tz_i is not None and tz_i < count:
                tz_value = fields[tz_i].strip()
                if tz_value:
                    try:
                        tz = normalize_timezone(tz_value)
                    except ValueError as exc:
                        rejected += 1
                        writer.writerow([*fields, start, f"invalid time zone: {exc}"])
                        continue
            if key in seen:
                duplicates += 1
                continue
            if key in earlier:
                duplicates += 1
                seen.add(key)  # a chunk's set holds its own addresses, whatever came before
                continue
            joined = join(fields)
            if "\x00" in joined or joined.count(FIELD_SEPARATOR) != count - 1:
                rejected += 1
                writer.writerow([*fields, start, "a field holds a NUL or U+001F control character"])
                continue
            seen.add(key)
            flag = disposable.get(domain)
            if flag is None:
                flag = disposable[domain] = is_disposable(domain)
            rows.append((start, normalized, key, domain, tz, flag, joined))  # type: ignore[arg-type]
        if self._window:
            recent.append(seen)
        chunk.rows_total = n
        chunk.rejected = rejected
        chunk.duplicates = duplicates
        chunk.eof = eof
        chunk.rejected_csv = out.getvalue()
        chunk.end_offset, chunk.end_line = lines.offset, lines.line
        return chunk


def rejected_header(header: Header) -> str:
    """The header line of the rejected rows' export (a file's column names neutralised)."""
    return safe_row([*header.columns, "line", "reason"])
