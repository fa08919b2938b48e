"""Reading real-world CSV files of leads: encodings, delimiters, headers, positions.

The stored upload is UTF-8 (UTF-16 files are transcoded when they are uploaded) or a legacy
8-bit encoding. Lines are split on `\\n` in bytes and decoded one by one: UTF-8 first, then
Windows-1252, then Latin-1 (which decodes anything), so one stray byte never garbles a
whole file. Splitting in bytes gives the exact byte offset of every record boundary, which
is where an interrupted import resumes.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

DELIMITERS = (",", ";", "\t", "|")
MAX_COLUMNS = 1000
MAX_FIELD = 65_536  # characters; a longer field rejects its row
# The csv module's own cap: a runaway quote stops growing here and rejects its row.
FIELD_LIMIT = 1_048_576
csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))

LEAD_FIELDS = ("email", "first_name", "last_name", "company", "position", "timezone")

_ALIASES = {
    "email": (
        "email", "e-mail", "email address", "e-mail address", "mail", "email id",
        "emailaddress", "work email", "business email", "contact email", "courriel",
    ),
    "first_name": ("first name", "firstname", "first", "given name", "forename", "fname"),
    "last_name": ("last name", "lastname", "last", "surname", "family name", "lname"),
    "company": (
        "company", "company name", "organization", "organisation", "organization name",
        "org", "employer", "account name",
    ),
    "position": ("position", "title", "job title", "jobtitle", "role", "job role"),
    "timezone": ("timezone", "time zone", "tz", "time-zone"),
}  # fmt: skip


def header_key(name: str) -> str:
    """Case-, space-, underscore- and hyphen-insensitive form of a header."""
    return re.sub(r"[\s_\-.]+", "", name.strip().lower())


ALIASES: dict[str, str] = {
    header_key(alias): target for target, names in _ALIASES.items() for alias in names
}


class NotACsv(ValueError):
    """The file cannot be read as a lead CSV; the message says what was found."""

    def __init__(self, message: str, details: object = None) -> None:
        super().__init__(message)
        self.details = details


# --- encodings ------------------------------------------------------------------------------


def decode_line(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class UploadTranscoder:
    """Streams an upload into what is stored: a UTF-8 BOM dropped, UTF-16 (with a BOM)
    re-encoded as UTF-8, everything else as it came."""

    def __init__(self) -> None:
        self._head = b""
        self._decoder: codecs.IncrementalDecoder | None = None
        self._decided = False
        self.encoding = "utf-8"

    def feed(self, data: bytes) -> bytes:
        if not self._decided:
            self._head += data
            if len(self._head) < 4:
                return b""
            return self._decide()
        if self._decoder is not None:
            return self._decoder.decode(data).encode("utf-8")
        return data

    def finish(self) -> bytes:
        out = b""
        if not self._decided:
            out = self._decide()
        if self._decoder is not None:
            out += self._decoder.decode(b"", final=True).encode("utf-8")
        return out

    def _decide(self) -> bytes:
        self._decided = True
        head, self._head = self._head, b""
        if head.startswith(codecs.BOM_UTF8):
            self.encoding = "utf-8-sig"
            return head[3:]
        for bom, name in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
            if head.startswith(bom):
                self.encoding = "utf-16"
                self._decoder = codecs.getincrementaldecoder(name)(errors="replace")
                return self._decoder.decode(head[2:]).encode("utf-8")
        return head


# --- lines with positions ---------------------------------------------------------------------


@dataclass
class Position:
    """A record boundary: byte offset in the stored file and 1-based number of the next
    physical line."""

    offset: int = 0
    line: int = 1


class LineSource:
    """Decoded physical lines (with their terminator) from byte blocks, tracking the
    position after each line; `raw` collects the lines of the record being read.

    Blocks are split in C (`bytes.splitlines`: `\n`, `\r\n` and a lone `\r`); the
    last, possibly incomplete piece of a block waits for the next one."""

    def __init__(self, blocks: Iterator[bytes], start: Position) -> None:
        self._blocks = blocks
        self._lines: list[bytes] = []
        self._i = 0
        self._rest = b""
        self._eof = False
        self.offset = start.offset
        self.line = start.line
        self.raw: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def _fill(self) -> bool:
        while not self._eof:
            block = next(self._blocks, None)
            if block is None:
                self._eof = True
                lines = [self._rest] if self._rest else []
                self._rest = b""
            else:
                lines = (self._rest + block).splitlines(keepends=True)
                self._rest = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
            if lines:
                self._lines, self._i = lines, 0
                return True
        return False

    def __next__(self) -> str:
        if self._i >= len(self._lines) and not self._fill():
            raise StopIteration
        piece = self._lines[self._i]
        self._i += 1
        self.offset += len(piece)
        self.line += 1
        try:
            text = piece.decode("utf-8")
        except UnicodeDecodeError:
            text = decode_line(piece)
        self.raw.append(text)
        return text

    @property
    def position(self) -> Position:
        return Position(self.offset, self.line)


# --- header ------------------------------------------------------------------------------------


def sniff_delimiter(first_line: str) -> str:
    """The candidate that occurs most often outside quotes in the header line."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in first_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties: the earlier candidate
    return best if counts[best] else ","


def make_reader(lines: Iterator[str], delimiter: str) -> Iterator[list[str]]:
    return csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)


@dataclass
class Header:
    delimiter: str
    columns: list[str]
    # column index -> lead field; columns not in it go into custom_fields under their name
    fields: dict[int, str]
    ignored: list[int] = field(default_factory=list)
    body: Position = field(default_factory=Position)  # where the first data row starts

    @property
    def email_index(self) -> int:
        return next(i for i, f in self.fields.items() if f == "email")


def resolve_mapping(columns: list[str], mapping: dict[str, str | None] | None) -> Header:
    """Map header columns to lead fields: `mapping` (CSV header -> field, or null to drop the
    column) first, then the aliases. Raises NotACsv when nothing maps to `email`."""
    explicit = {header_key(k): v for k, v in (mapping or {}).items()}
    bad = sorted({v for v in explicit.values() if v is not None and v not in LEAD_FIELDS})
    if bad:
        raise NotACsv(
            f"mapping targets must be lead fields ({', '.join(LEAD_FIELDS)}), not {', '.join(bad)}",
            {"invalid_targets": bad},
        )
    fields: dict[int, str] = {}
    ignored: list[int] = []
    taken: set[str] = set()
    for i, name in enumerate(columns):
        key = header_key(name)
        if key in explicit:
            target = explicit[key]
            if target is None:
                ignored.append(i)
                continue
        else:
            alias = ALIASES.get(key)
            target = alias if alias is not None and alias not in explicit.values() else None
        if target is not None and target not in taken:
            fields[i] = target
            taken.add(target)
    if "email" not in taken:
        raise NotACsv(
            "no column maps to the e-mail address; headers seen: " + ", ".join(columns),
            {"headers": columns},
        )
    return Header(",", columns, fields, ignored)


def read_header(
    blocks: Iterator[bytes], mapping: dict[str, str | None] | None = None
) -> tuple[Header, LineSource]:
    """Parse the header (the first non-blank record) of a stored file."""
    lines = LineSource(blocks, Position())
    first = ""
    for first in lines:
        if first.strip():
            break
        lines.raw.clear()
    else:
        raise NotACsv("the file is empty")
    if "\x00" in first:
        raise NotACsv("the file is binary, not CSV text (it contains NUL bytes)")
    delimiter = sniff_delimiter(first)
    reader = make_reader(_prepend(first, lines), delimiter)
    try:
        columns = [c.strip().lstrip("\ufeff") for c in next(reader)]
    except (csv.Error, StopIteration) as exc:
        raise NotACsv(f"the header cannot be read: {exc}") from None
    if len(columns) > MAX_COLUMNS:
        raise NotACsv(f"the header has {len(columns)} columns (at most {MAX_COLUMNS})")
    if any(not _printable(c) for c in columns):
        raise NotACsv("the file is not CSV text (its first line has control characters)")
    header = resolve_mapping(columns, mapping)
    header.delimiter = delimiter
    header.body = lines.position
    lines.raw.clear()
    return header, lines


def _prepend(first: str, rest: LineSource) -> Iterator[str]:
    yield first
    yield from rest


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable(text: str) -> bool:
    return _CONTROL.search(text) is None


def blocks_of(data: bytes, size: int = 1 << 16) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
