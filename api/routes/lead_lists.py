"""Lead lists: CRUD, CSV upload (one LeadImportWorkflow per upload) and streamed export."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import UploadFile

from api.deps import PrincipalDep, ServicesDep, SessionDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, fields_of, json_page
from api.schemas.leads import ImportStarted, LeadListCreate, LeadListPublic, LeadListUpdate
from penguinmails.leads.csvfile import NotACsv
from penguinmails.leads.csvsafe import SafeCsvWriter
from penguinmails.models.leads import ON_DUPLICATE
from penguinmails.repositories.companies import CompanyRepository
from penguinmails.repositories.lead_lists import EXPORT_COLUMNS, LeadListRepository
from penguinmails.uploads import TooLarge
from usecases.lead_imports import ImportNotStarted, ListNotFound, Upload, start_lead_import

router = APIRouter(prefix="/v1/lead-lists", tags=["lead-lists"])
# A list goes from a Core select straight to JSON in LeadListPublic's shape.
_FIELDS = fields_of(LeadListPublic)
log = logging.getLogger("penguinmails.api")
READ_SIZE = 1 << 20


async def _check_company(session: AsyncSession, company_id: UUID | None) -> None:
    if company_id is not None and await CompanyRepository(session).get(company_id) is None:
        raise ApiError(422, "company not found", details={"field": "body.company_id"})


@router.post("", status_code=201, response_model=LeadListPublic)
async def create_list(
    body: LeadListCreate, principal: PrincipalDep, session: SessionDep
) -> LeadListPublic:
    await _check_company(session, body.company_id)
    record = await LeadListRepository(session).create(
        principal.tenant_id, **body.model_dump(), status="ready"
    )
    return LeadListPublic.model_validate(record)


@router.get("", response_model=Page[LeadListPublic])
async def list_lists(
    session: SessionDep,
    company_id: UUID | None = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> Response:
    rows = await LeadListRepository(session).list_rows(
        decode_cursor(cursor), limit, _FIELDS, company_id
    )
    return json_page(rows, limit)


@router.get("/{list_id}", response_model=LeadListPublic)
async def get_list(list_id: UUID, session: SessionDep) -> LeadListPublic:
    record = await LeadListRepository(session).get(list_id)
    if record is None:
        raise not_found("lead list")
    return LeadListPublic.model_validate(record)


@router.patch("/{list_id}", response_model=LeadListPublic)
async def update_list(list_id: UUID, body: LeadListUpdate, session: SessionDep) -> LeadListPublic:
    await _check_company(session, body.company_id)
    repo = LeadListRepository(session)
    record = await repo.get(list_id)
    if record is None:
        raise not_found("lead list")
    record = await repo.update(record, **body.model_dump(exclude_unset=True))
    return LeadListPublic.model_validate(record)


@router.delete("/{list_id}", status_code=204)
async def delete_list(list_id: UUID, session: SessionDep) -> Response:
    repo = LeadListRepository(session)
    record = await repo.get(list_id)
    if record is None:
        raise not_found("lead list")
    await repo.soft_delete(record)
    return Response(status_code=204)


def _mapping(raw: Any) -> dict[str, str | None] | None:
    if raw is None or raw == "":
        return None
    try:
        value = json.loads(str(raw))
    except ValueError:
        raise ApiError(422, "mapping must be a JSON object", details={"field": "mapping"}) from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in value.items()
    ):
        raise ApiError(
            422,
            "mapping must map CSV headers to lead fields (or null to drop a column)",
            details={"field": "mapping"},
        )
    return value


def _flag(raw: Any, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    value = str(raw).strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise ApiError(422, "check_mx must be true or false", details={"field": "check_mx"})
    return value in ("true", "1")


async def _pieces(upload: UploadFile) -> AsyncIterator[bytes]:
    while piece := await upload.read(READ_SIZE):
        yield piece


@router.post("/{list_id}/imports", status_code=202, response_model=ImportStarted)
async def upload_import(
    list_id: UUID, request: Request, principal: PrincipalDep, services: ServicesDep
) -> ImportStarted:
    """Multipart: `file` (the CSV), optional `mapping` (JSON: CSV header -> lead field,
    or null to drop a column), `on_duplicate` (`skip`, default, or `update`) and
    `check_mx` (reject addresses whose domain has no MX; default LEAD_IMPORT_CHECK_MX)."""
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "a multipart field `file` with the CSV is required")
    mapping = _mapping(form.get("mapping"))
    on_duplicate = str(form.get("on_duplicate") or "skip")
    if on_duplicate not in ON_DUPLICATE:
        raise ApiError(
            422, "on_duplicate must be skip or update", details={"field": "on_duplicate"}
        )
    settings = services.settings
    check_mx = _flag(form.get("check_mx"), settings.lead_import_check_mx)
    try:
        # The upload's transaction commits before the workflow starts: the use case's own.
        import_id = await start_lead_import(
            services.db,
            services.temporal,
            settings,
            principal.tenant_id,
            principal.user_id,
            list_id,
            Upload(_pieces(upload), upload.filename, mapping, on_duplicate, check_mx),
        )
    except ListNotFound:
        raise not_found("lead list") from None
    except NotACsv as exc:
        raise ApiError(422, str(exc), code="invalid_file", details=exc.details) from None
    except TooLarge as exc:
        raise ApiError(413, str(exc)) from None
    except ImportNotStarted:
        raise ApiError(503, "the import could not be started; try again") from None
    finally:
        await upload.close()
    return ImportStarted(id=import_id, lead_list_id=list_id, status="running")


@router.get("/{list_id}/export.csv")
async def export_list(
    list_id: UUID, principal: PrincipalDep, services: ServicesDep, session: SessionDep
) -> StreamingResponse:
    if await LeadListRepository(session).get(list_id) is None:
        raise not_found("lead list")

    async def rows() -> AsyncIterator[bytes]:
        out = io.StringIO()
        writer = SafeCsvWriter(out)
        writer.writerow(EXPORT_COLUMNS)
        # The stream outlives the route and its transaction: a transaction of its own.
        async with services.db.tenant_session(principal.tenant_id) as session:
            async for batch in LeadListRepository(session).export_rows(list_id):
                for row in batch:
                    *values, custom = row[1:]
                    writer.writerow(
                        [*("" if v is None else v for v in values), json.dumps(custom or {})]
                    )
                yield out.getvalue().encode()
                out.seek(0)
                out.truncate()
        if out.tell():
            yield out.getvalue().encode()
        else:
            yield b""

    headers = {"Content-Disposition": f'attachment; filename="lead-list-{list_id}.csv"'}
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)
