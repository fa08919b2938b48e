"""Lead lists: CRUD, CSV upload (one LeadImportWorkflow per upload) and streamed export."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from api.deps import PrincipalDep, ServicesDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageParamsDep, page
from api.schemas.leads import ImportStarted, LeadListCreate, LeadListPublic, LeadListUpdate
from api.services import Services
from penguinmails.leads.csvfile import NotACsv
from penguinmails.leads.csvsafe import SafeCsvWriter
from penguinmails.repositories.companies import CompanyRepository
from penguinmails.repositories.lead_imports import LeadImportRepository
from penguinmails.repositories.lead_lists import EXPORT_COLUMNS, LeadListRepository
from penguinmails.uploads import TooLarge, store_upload
from workflows.lead_import import LeadImportInput, LeadImportWorkflow
from workflows.names import LEAD_IMPORT, TaskQueue, tenant_attributes, workflow_id

router = APIRouter(prefix="/v1/lead-lists", tags=["lead-lists"])
log = logging.getLogger("penguinmails.api")
READ_SIZE = 1 << 20


async def _check_company(services: Services, tenant_id: UUID, company_id: UUID | None) -> None:
    if company_id is None:
        return
    async with services.db.tenant_session(tenant_id) as session:
        if await CompanyRepository(session).get(company_id) is None:
            raise ApiError(422, "company not found", details={"field": "body.company_id"})


@router.post("", status_code=201, response_model=LeadListPublic)
async def create_list(
    body: LeadListCreate, principal: PrincipalDep, services: ServicesDep
) -> LeadListPublic:
    await _check_company(services, principal.tenant_id, body.company_id)
    async with services.db.tenant_session(principal.tenant_id) as session:
        record = await LeadListRepository(session).create(
            principal.tenant_id, **body.model_dump(), status="ready"
        )
    return LeadListPublic.model_validate(record)


@router.get("", response_model=Page[LeadListPublic])
async def list_lists(
    principal: PrincipalDep,
    services: ServicesDep,
    params: PageParamsDep,
    company_id: UUID | None = None,
) -> Page[LeadListPublic]:
    async with services.db.tenant_session(principal.tenant_id) as session:
        rows = await LeadListRepository(session).list(params.cursor, params.limit, company_id)
    return page(rows, params.limit, LeadListPublic.model_validate)


@router.get("/{list_id}", response_model=LeadListPublic)
async def get_list(list_id: UUID, principal: PrincipalDep, services: ServicesDep) -> LeadListPublic:
    async with services.db.tenant_session(principal.tenant_id) as session:
        record = await LeadListRepository(session).get(list_id)
    if record is None:
        raise not_found("lead list")
    return LeadListPublic.model_validate(record)


@router.patch("/{list_id}", response_model=LeadListPublic)
async def update_list(
    list_id: UUID, body: LeadListUpdate, principal: PrincipalDep, services: ServicesDep
) -> LeadListPublic:
    await _check_company(services, principal.tenant_id, body.company_id)
    async with services.db.tenant_session(principal.tenant_id) as session:
        repo = LeadListRepository(session)
        record = await repo.get(list_id)
        if record is None:
            raise not_found("lead list")
        record = await repo.update(record, **body.model_dump(exclude_unset=True))
    return LeadListPublic.model_validate(record)


@router.delete("/{list_id}", status_code=204)
async def delete_list(list_id: UUID, principal: PrincipalDep, services: ServicesDep) -> Response:
    async with services.db.tenant_session(principal.tenant_id) as session:
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
    if on_duplicate not in ("skip", "update"):
        raise ApiError(
            422, "on_duplicate must be skip or update", details={"field": "on_duplicate"}
        )
    settings = services.settings
    check_mx = _flag(form.get("check_mx"), settings.lead_import_check_mx)
    import_id = uuid4()
    key = f"imports/{import_id}"
    try:
        async with services.db.tenant_session(principal.tenant_id) as session:
            lists = LeadListRepository(session)
            lead_list = await lists.get(list_id)
            if lead_list is None:
                raise not_found("lead list")
            stored = await store_upload(
                session,
                principal.tenant_id,
                key,
                _pieces(upload),
                mapping,
                settings.lead_import_max_bytes,
            )
            await LeadImportRepository(session).create(
                id=import_id,
                tenant_id=principal.tenant_id,
                lead_list_id=list_id,
                on_duplicate=on_duplicate,
                original_filename=upload.filename,
                content_storage_key=key,
                size_bytes=stored.size,
                encoding=stored.encoding,
                mapping=mapping or {},
                chunk_rows=settings.lead_import_chunk_rows,
                check_mx=check_mx,
                created_by=principal.user_id,
            )
            await lists.mark_importing(lead_list, key, upload.filename)
    except NotACsv as exc:
        raise ApiError(422, str(exc), code="invalid_file", details=exc.details) from None
    except TooLarge as exc:
        raise ApiError(413, str(exc)) from None
    finally:
        await upload.close()
    await start_import(services, principal.tenant_id, import_id, stored.size)
    return ImportStarted(id=import_id, lead_list_id=list_id, status="running")


async def start_import(services: Services, tenant_id: UUID, import_id: UUID, size: int) -> None:
    try:
        await services.temporal.start_workflow(
            LeadImportWorkflow.run,
            LeadImportInput(str(tenant_id), str(import_id), size),
            id=workflow_id(LEAD_IMPORT, tenant_id, import_id),
            task_queue=TaskQueue.IMPORTS,
            search_attributes=tenant_attributes(tenant_id),
        )
    except Exception:
        log.exception("could not start the import workflow")
        async with services.db.tenant_session(tenant_id) as session:
            repo = LeadImportRepository(session)
            record = await repo.get(import_id)
            if record is not None:
                counts, _ = await repo.sums(import_id)
                await repo.finish(record, "failed", counts, "the import could not be started")
        raise ApiError(503, "the import could not be started; try again") from None


@router.get("/{list_id}/export.csv")
async def export_list(
    list_id: UUID, principal: PrincipalDep, services: ServicesDep
) -> StreamingResponse:
    async with services.db.tenant_session(principal.tenant_id) as session:
        if await LeadListRepository(session).get(list_id) is None:
            raise not_found("lead list")

    async def rows() -> AsyncIterator[bytes]:
        out = io.StringIO()
        writer = SafeCsvWriter(out)
        writer.writerow(EXPORT_COLUMNS)
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
