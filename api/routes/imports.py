"""Import progress (a workflow query while it runs, the database after) and rejected rows."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from temporalio.service import RPCError

from api.deps import PrincipalDep, ServicesDep, SessionDep
from api.errors import not_found
from api.schemas.leads import ImportPublic
from penguinmails.leads.csvfile import read_header
from penguinmails.leads.csvsafe import neutralise_records
from penguinmails.leads.rows import rejected_header
from penguinmails.repositories.content_parts import ContentPartsRepository
from penguinmails.repositories.lead_imports import LeadImportRepository, rejected_key
from workflows.lead_import import ImportProgress, LeadImportWorkflow
from workflows.names import LEAD_IMPORT, workflow_id

router = APIRouter(prefix="/v1/imports", tags=["imports"])
log = logging.getLogger("penguinmails.api")


@router.get("/{import_id}", response_model=ImportPublic)
async def get_import(
    import_id: UUID, principal: PrincipalDep, services: ServicesDep
) -> ImportPublic:
    # Short transactions of its own around the workflow query: no pooled connection is held
    # while Temporal answers.
    async with services.db.tenant_session(principal.tenant_id) as session:
        record = await LeadImportRepository(session).get(import_id)
    if record is None:
        raise not_found("import")
    public = ImportPublic(
        id=record.id,
        lead_list_id=record.lead_list_id,
        status=record.status,
        rows_total=record.rows_total,
        accepted=record.accepted,
        rejected=record.rejected,
        duplicates=record.duplicates,
        suppressed=record.suppressed,
        existing=record.existing,
        percent=100.0 if record.status != "running" else 0.0,
        error=record.error,
        original_filename=record.original_filename,
        created=record.created,
        completed=record.completed,
    )
    if record.status != "running":
        return public
    handle = services.temporal.get_workflow_handle_for(
        LeadImportWorkflow.run, workflow_id(LEAD_IMPORT, principal.tenant_id, import_id)
    )
    try:
        progress: ImportProgress = await handle.query(LeadImportWorkflow.get_progress)
    except RPCError:
        log.warning("import %s: progress query failed; answering from the database", import_id)
        return public
    if progress.status != "running":
        # Finished between the two reads: the database has the final figures.
        async with services.db.tenant_session(principal.tenant_id) as session:
            record = await LeadImportRepository(session).get(import_id)
        assert record is not None
        return public.model_copy(
            update={
                "status": record.status,
                "percent": 100.0,
                "error": record.error,
                "completed": record.completed,
                **{c: getattr(record, c) for c in _COUNTS},
            }
        )
    return public.model_copy(
        update={"percent": progress.percent, **{c: getattr(progress.counts, c) for c in _COUNTS}}
    )


_COUNTS = ("rows_total", "accepted", "rejected", "duplicates", "suppressed", "existing")


@router.get("/{import_id}/rejected.csv")
async def rejected_rows(
    import_id: UUID, principal: PrincipalDep, services: ServicesDep, session: SessionDep
) -> StreamingResponse:
    """Every rejected row as it was in the file, then `line` and `reason`."""
    record = await LeadImportRepository(session).get(import_id)
    if record is None:
        raise not_found("import")
    parts = ContentPartsRepository(session)
    first = await parts.get(record.content_storage_key, 0)
    key = record.content_storage_key
    try:
        header, _ = read_header(iter([first or b""]), record.mapping or None)
        head = rejected_header(header)
    except ValueError:
        head = "line,reason\r\n"

    async def body() -> AsyncIterator[bytes]:
        yield head.encode()
        # The stream outlives the route and its transaction: a transaction of its own.
        async with services.db.tenant_session(principal.tenant_id) as session:
            async for part in ContentPartsRepository(session).stream(rejected_key(key)):
                yield neutralise_records(part)

    headers = {"Content-Disposition": f'attachment; filename="import-{import_id}-rejected.csv"'}
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=headers)
