"""Reading real-world lead files: encodings, delimiters, headers, positions, rows."""

from __future__ import annotations

import pytest

from penguinmails.leads.csvfile import (
    LineSource,
    NotACsv,
    Position,
    UploadTranscoder,
    blocks_of,
    read_header,
    resolve_mapping,
    sniff_delimiter,
)
from penguinmails.leads.rows import FIELD_SEPARATOR, ChunkParser, normalize_timezone


def parse(
    data: bytes, chunk_rows: int = 1000, block: int = 7, window: int = 0
) -> tuple[list, ChunkParser]:
    t = UploadTranscoder()
    stored = t.feed(data) + t.finish()
    header, lines = read_header(blocks_of(stored, block))
    parser = ChunkParser(header, lines, chunk_rows, window)
    chunks = []
    while True:
        chunk = parser.next_chunk()
        chunks.append(chunk)
        if chunk.eof:
            return chunks, parser


def test_sniffing() -> None:
    assert sniff_delimiter("a;b;c") == ";"
    assert sniff_delimiter("a\tb") == "\t"
    assert sniff_delimiter('"a,b"|c|d') == "|"
    assert sniff_delimiter("email") == ","


def test_aliases_are_case_and_space_insensitive() -> None:
    header = resolve_mapping(["E-Mail", " first NAME ", "Company Name", "Job Title", "x"], None)
    assert header.fields == {0: "email", 1: "first_name", 2: "company", 3: "position"}
    with pytest.raises(NotACsv, match="headers seen: a, b"):
        resolve_mapping(["a", "b"], None)
    with pytest.raises(NotACsv, match="lead fields"):
        resolve_mapping(["a"], {"a": "password"})


def test_positions_resume_exactly() -> None:
    data = b'email,note\r\na@x.com,"x\r\ny"\r\n\r\nb@x.com,z\r\nc@x.com,w\r\n'
    chunks, _ = parse(data, chunk_rows=1)
    assert [c.rows[0][1] if c.rows else None for c in chunks] == [
        "a@x.com",
        "b@x.com",
        "c@x.com",
        None,
    ]
    # Start again at the boundary the first chunk recorded: the same rows follow.
    header, _ = read_header(blocks_of(data))
    first = chunks[0]
    lines = LineSource(
        blocks_of(data[first.end_offset :], 3), Position(first.end_offset, first.end_line)
    )
    rest = ChunkParser(header, lines, 10).next_chunk()
    assert [r[1] for r in rest.rows] == ["b@x.com", "c@x.com"]
    assert [r[0] for r in rest.rows] == [5, 6]  # physical line numbers


def test_bom_utf16_and_legacy_bytes() -> None:
    chunks, _ = parse("Email;Name\nä@x.de;Jörg\n".encode("utf-16"))
    assert chunks[0].rows[0][1] == "ä@x.de"
    chunks, _ = parse("Email,Name\nh@x.fr,Hélène\n".encode("cp1252"))
    assert chunks[0].rows[0][6].split(FIELD_SEPARATOR) == ["h@x.fr", "Hélène"]
    chunks, _ = parse(b"\xef\xbb\xbfEmail\nq@x.com\n")
    assert chunks[0].rows[0][1] == "q@x.com"


def test_rejections_keep_the_row_and_say_why() -> None:
    chunks, _ = parse(b"email,tz\nbad,\ngood@x.com,Nowhere/City\nok@x.com,+02\n")
    c = chunks[0]
    assert (c.rows_total, c.rejected, len(c.rows)) == (3, 2, 1)
    assert c.rows[0][4] == "Etc/GMT-2"
    assert "bad,,2,invalid e-mail address" in c.rejected_csv
    assert "good@x.com,Nowhere/City,3,invalid time zone" in c.rejected_csv


def test_a_nul_or_the_field_separator_rejects_its_row() -> None:
    data = b"email,note\na@x.com,ok\nb@x.com,nul\x00here\nc@x.com,unit\x1fsep\n"
    c = parse(data)[0][0]
    assert [r[1] for r in c.rows] == ["a@x.com"]
    assert (c.rows_total, c.rejected) == (3, 2)
    assert c.rows[0][6].split(FIELD_SEPARATOR) == ["a@x.com", "ok"]
    assert c.rejected_csv.count("NUL or U+001F") == 2


def test_repeats_within_the_window_are_duplicates_in_the_parser() -> None:
    # Chunks of two rows; a@ comes back one chunk later, b@ three chunks later.
    data = b"email\na@x.com\nb@x.com\nc@x.com\na@x.com\nd@x.com\ne@x.com\nf@x.com\nb@x.com\n"
    chunks, _ = parse(data, chunk_rows=2, window=1)
    staged = [r[1] for c in chunks for r in c.rows]
    assert staged == ["a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com", "f@x.com", "b@x.com"]
    assert sum(c.duplicates for c in chunks) == 1
    # Without a window only repeats inside a chunk are caught here (the database sees
    # the others).
    chunks, _ = parse(data, chunk_rows=2)
    assert sum(c.duplicates for c in chunks) == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Europe/Paris", "Europe/Paris"),
        ("UTC", "UTC"),
        ("+05:30", "+05:30"),
        ("UTC-8", "Etc/GMT+8"),
        ("GMT+1", "Etc/GMT-1"),
        ("+0000", "UTC"),
    ],
)
def test_time_zones(raw: str, expected: str) -> None:
    assert normalize_timezone(raw) == expected


@pytest.mark.parametrize("raw", ["Mars/Olympus", "+15:00", "../etc/passwd", ""])
def test_bad_time_zones(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_timezone(raw)


def test_csv_export_cells_neutralise_formulas_and_quote_like_the_csv_module() -> None:
    import csv
    import io

    from penguinmails.leads.csvsafe import neutralise_records, safe_row

    plain = ["a", "", "b,c", 'say "hi"', "two\nlines", 7, None, "x'y", " =not first"]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(plain)
    assert safe_row(plain) == out.getvalue()
    assert safe_row([""]) == '""\r\n'
    for start in ("=", "+", "-", "@", "\t", "\r"):
        cell = f"{start}1+1"
        written = safe_row([cell, "ok"])
        assert written.startswith(f'"\'{start}1+1",ok')
        assert next(csv.reader(io.StringIO(written, newline=""))) == [f"'{cell}", "ok"]
    stored = io.StringIO()
    csv.writer(stored, lineterminator="\r\n").writerows([["=A1", "x\r\ny", "3"], ["ok", "-", "4"]])
    again = neutralise_records(stored.getvalue().encode())
    assert list(csv.reader(io.StringIO(again.decode(), newline=""))) == [
        ["'=A1", "x\r\ny", "3"],
        ["ok", "'-", "4"],
    ]


def test_stored_rejected_rows_read_back_whatever_their_size() -> None:
    import csv
    import io

    from penguinmails.leads.csvsafe import neutralise_records

    # An unreadable row is stored whole: larger than the csv reader's field limit.
    runaway = '=x,"' + "y" * (2 * csv.field_size_limit())
    stored = io.StringIO()
    csv.writer(stored, lineterminator="\r\n").writerows([[runaway, 7, "unreadable row"], [""]])
    again = neutralise_records(stored.getvalue().encode()).decode()
    assert again.startswith('"\'=x,""yyy') and again.endswith('",7,unreadable row\r\n""\r\n')
