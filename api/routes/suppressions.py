"""The suppression list: addresses (kept as hashes) and domains; CSV upload of a
do-not-contact list."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from api.deps import PrincipalDep, ServicesDep, SessionDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, fields_of, json_page
from api.schemas.suppressions import (
    REASONS,
    Kind,
    SuppressionCreate,
    SuppressionImportResult,
    SuppressionPublic,
)
from penguinmails.leads.csvfile import (
    ALIASES,
    LineSource,
    NotACsv,
    Position,
    UploadTranscoder,
    header_key,
    make_reader,
    sniff_delimiter,
)
from penguinmails.leads.emails import InvalidAddress, address_hash, normalize, normalize_domain
from penguinmails.repositories.suppressions import SuppressionRepository

router = APIRouter(prefix="/v1/suppressions", tags=["suppressions"])
# A list goes from a Core select straight to JSON in SuppressionPublic's shape.
_FIELDS = fields_of(SuppressionPublic)
BATCH = 5000
MAX_REPORTED = 100


@router.get("", response_model=Page[SuppressionPublic])
async def list_suppressions(
    session: SessionDep,
    kind: Kind | None = None,
    email: str | None = None,
    domain: str | None = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> Response:
    """`email=` finds an address's entry (by its hash), `domain=` a domain's."""
    value = None
    if email is not None:
        kind, value = "address", address_hash(email)
    elif domain is not None:
        kind, value = "domain", _domain(domain)
    rows = await SuppressionRepository(session).list_rows(
        decode_cursor(cursor), limit, _FIELDS, kind, value
    )
    return json_page(rows, limit)


def _domain(raw: str) -> str:
    try:
        return normalize_domain(raw)
    except InvalidAddress as exc:
        raise ApiError(422, str(exc), details={"field": "domain"}) from None


@router.post("", status_code=201, response_model=SuppressionPublic)
async def add_suppression(
    body: SuppressionCreate, principal: PrincipalDep, session: SessionDep, response: Response
) -> SuppressionPublic:
    if body.email is not None:
        try:
            key = normalize(body.email).key
        except InvalidAddress as exc:
            raise ApiError(422, str(exc), details={"field": "email"}) from None
        kind, value = "address", address_hash(key)
    else:
        kind, value = "domain", _domain(body.domain or "")
    record, created = await SuppressionRepository(session).add(
        principal.tenant_id, kind, value, body.reason
    )
    if not created:
        response.status_code = 200
    return SuppressionPublic.model_validate(record)


@router.delete("/{suppression_id}", status_code=204)
async def delete_suppression(suppression_id: UUID, session: SessionDep) -> Response:
    """Erasure entries stay: the person asked never to be written to again."""
    repo = SuppressionRepository(session)
    record = await repo.get(suppression_id)
    if record is None:
        raise not_found("suppression")
    if record.reason == "erased":
        raise ApiError(409, "an erasure entry cannot be removed")
    await repo.delete(record)
    return Response(status_code=204)


def _upload_lines(upload: UploadFile) -> Iterator[bytes]:
    transcoder = UploadTranscoder()
    while piece := upload.file.read(1 << 20):
        out = transcoder.feed(piece)
        if out:
            yield out
    tail = transcoder.finish()
    if tail:
        yield tail


@router.post("/imports", response_model=SuppressionImportResult)
async def import_suppressions(
    request: Request, principal: PrincipalDep, services: ServicesDep
) -> SuppressionImportResult:
    """Multipart `file`: a CSV with an e-mail column (any of the lead aliases) and/or a
    `domain` column, or one value a line without a header; optional `reason`."""
    form = await request.form(max_files=1, max_fields=5)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "a multipart field `file` with the CSV is required")
    reason = str(form.get("reason") or "manual")
    if reason not in REASONS:
        raise ApiError(422, "invalid reason", details={"field": "reason"})
    try:
        result = await _load(services, principal.tenant_id, upload, reason)
    except NotACsv as exc:
        raise ApiError(422, str(exc), code="invalid_file", details=exc.details) from None
    finally:
        await upload.close()
    return result


async def _load(
    services: ServicesDep, tenant_id: UUID, upload: UploadFile, reason: str
) -> SuppressionImportResult:
    lines = LineSource(_upload_lines(upload), Position())
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise NotACsv("the file is empty")
    if "\x00" in first:
        raise NotACsv("the file is binary, not CSV text (it contains NUL bytes)")
    delimiter = sniff_delimiter(first)
    head = next(make_reader(iter([first]), delimiter))
    keys = [header_key(h) for h in head]
    email_i = next((i for i, k in enumerate(keys) if ALIASES.get(k) == "email"), None)
    domain_i = next((i for i, k in enumerate(keys) if k in ("domain", "domainname")), None)
    rows: Iterator[list[str]] = make_reader(lines, delimiter)
    if email_i is None and domain_i is None:
        if len(head) != 1:
            raise NotACsv(
                "no e-mail or domain column; headers seen: " + ", ".join(head), {"headers": head}
            )
        rows = _chain([head], rows)  # a bare list: the first line is a value
        email_i = 0
    total = added = rejected = 0
    reported: list[dict[str, object]] = []
    pending: dict[str, list[str]] = {"address": [], "domain": []}

    async def flush() -> None:
        nonlocal added
        # A transaction per batch: a large file never holds one open while it is parsed.
        async with services.db.tenant_session(tenant_id) as session:
            repo = SuppressionRepository(session)
            for kind, values in pending.items():
                added += await repo.add_many(tenant_id, kind, sorted(set(values)), reason)
                values.clear()

    line = 1
    for fields in rows:
        line += 1
        if not any(f.strip() for f in fields):
            continue
        total += 1
        value = fields[email_i].strip() if email_i is not None and email_i < len(fields) else ""
        try:
            if "@" in value or (value and domain_i is None):
                pending["address"].append(address_hash(normalize(value).key))
            else:
                raw = (
                    fields[domain_i].strip()
                    if domain_i is not None and domain_i < len(fields)
                    else value
                )
                if not raw:
                    raise InvalidAddress("no e-mail address or domain")
                pending["domain"].append(normalize_domain(raw))
        except InvalidAddress as exc:
            rejected += 1
            if len(reported) < MAX_REPORTED:
                reported.append({"line": line, "reason": str(exc)})
        if sum(len(v) for v in pending.values()) >= BATCH:
            await flush()
    await flush()
    accepted = total - rejected
    return SuppressionImportResult(
        rows_total=total,
        added=added,
        already=accepted - added,
        rejected=rejected,
        rejected_rows=reported,
    )


def _chain(first: list[list[str]], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield from first
    yield from rest
