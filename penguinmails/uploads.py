"""Storing an uploaded lead file: streamed into the content store part by part (UTF-16
transcoded, a UTF-8 BOM dropped), its header checked before anything commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.leads.csvfile import (
    Header,
    NotACsv,
    UploadTranscoder,
    blocks_of,
    make_reader,
    read_header,
)
from penguinmails.repositories.content_parts import PART_SIZE, ContentPartsRepository

HEAD_BYTES = 1 << 20  # what the header check looks at


class TooLarge(Exception):
    pass


@dataclass(frozen=True)
class StoredUpload:
    key: str
    size: int
    encoding: str
    header: Header


async def store_upload(
    session: AsyncSession,
    tenant_id: UUID,
    key: str,
    pieces: AsyncIterator[bytes],
    mapping: dict[str, str | None] | None = None,
    max_bytes: int | None = None,
) -> StoredUpload:
    """Write `pieces` under `key` in the session's transaction. Raises NotACsv (nothing is
    kept when the caller's transaction rolls back) or TooLarge."""
    parts = ContentPartsRepository(session)
    transcoder = UploadTranscoder()
    pending = bytearray()
    head = bytearray()
    size = received = n = 0
    header: Header | None = None
    done = False
    while not done:
        piece = await anext(pieces, None)
        if piece is None:
            out, done = transcoder.finish(), True
        else:
            received += len(piece)
            if max_bytes is not None and received > max_bytes:
                raise TooLarge(f"the file exceeds {max_bytes} bytes")
            out = transcoder.feed(piece)
        if header is None and len(head) < HEAD_BYTES:
            head += out[: HEAD_BYTES - len(head)]
            if len(head) >= HEAD_BYTES:  # enough to judge: refuse a non-CSV before storing it
                header = check_head(bytes(head), whole=False, mapping=mapping)
        pending += out
        size += len(out)
        while len(pending) >= PART_SIZE or (done and pending):
            await parts.put(tenant_id, key, n, bytes(pending[:PART_SIZE]))
            del pending[:PART_SIZE]
            n += 1
    if header is None:
        header = check_head(bytes(head), whole=True, mapping=mapping)
    return StoredUpload(key, size, transcoder.encoding, header)


def check_head(head: bytes, whole: bool, mapping: dict[str, str | None] | None = None) -> Header:
    """The header of a file from its first bytes; NotACsv for an empty or binary file, a
    header without any row, or no column mapping to the e-mail address."""
    if not head.strip():
        raise NotACsv("the file is empty")
    if b"\x00" in head:
        raise NotACsv("the file is binary, not CSV text (it contains NUL bytes)")
    header, lines = read_header(blocks_of(head), mapping)
    if whole:
        for fields in make_reader(lines, header.delimiter):
            if any(f.strip() for f in fields):
                break
        else:
            raise NotACsv("the file has a header and no rows", {"headers": header.columns})
    return header
