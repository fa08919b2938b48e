"""A lead import: the upload streamed into the content store inside the transaction that
creates its `lead_imports` row and marks the list, then one `LeadImportWorkflow`.

The transaction commits before the workflow starts (the workflow reads the stored file);
a workflow that cannot start marks the import failed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID, uuid4

from temporalio.client import Client

from penguinmails.db import Database
from penguinmails.repositories.lead_imports import LeadImportRepository
from penguinmails.repositories.lead_lists import LeadListRepository
from penguinmails.settings import Settings
from penguinmails.uploads import store_upload
from workflows.lead_import import LeadImportInput, LeadImportWorkflow
from workflows.names import LEAD_IMPORT, TaskQueue, tenant_attributes, workflow_id

log = logging.getLogger(__name__)


class ListNotFound(Exception):
    pass


class ImportNotStarted(Exception):
    """The workflow could not be started; the import is marked failed."""


@dataclass(frozen=True)
class Upload:
    pieces: AsyncIterator[bytes]
    filename: str | None
    mapping: dict[str, str | None] | None
    on_duplicate: str
    check_mx: bool


async def start_lead_import(
    db: Database,
    client: Client,
    settings: Settings,
    tenant_id: UUID,
    user_id: UUID,
    list_id: UUID,
    upload: Upload,
) -> UUID:
    """The new import's id. Raises ListNotFound, NotACsv or TooLarge (nothing stored then),
    or ImportNotStarted."""
    import_id = uuid4()
    key = f"imports/{import_id}"
    async with db.tenant_session(tenant_id) as session:
        lists = LeadListRepository(session)
        lead_list = await lists.get(list_id)
        if lead_list is None:
            raise ListNotFound(str(list_id))
        stored = await store_upload(
            session, tenant_id, key, upload.pieces, upload.mapping, settings.lead_import_max_bytes
        )
        await LeadImportRepository(session).create(
            id=import_id,
            tenant_id=tenant_id,
            lead_list_id=list_id,
            on_duplicate=upload.on_duplicate,
            original_filename=upload.filename,
            content_storage_key=key,
            size_bytes=stored.size,
            encoding=stored.encoding,
            mapping=upload.mapping or {},
            chunk_rows=settings.lead_import_chunk_rows,
            check_mx=upload.check_mx,
            created_by=user_id,
        )
        await lists.mark_importing(lead_list, key, upload.filename)
    await _start(db, client, tenant_id, import_id, stored.size)
    return import_id


async def _start(db: Database, client: Client, tenant_id: UUID, import_id: UUID, size: int) -> None:
    try:
        await client.start_workflow(
            LeadImportWorkflow.run,
            LeadImportInput(str(tenant_id), str(import_id), size),
            id=workflow_id(LEAD_IMPORT, tenant_id, import_id),
            task_queue=TaskQueue.IMPORTS,
            search_attributes=tenant_attributes(tenant_id),
        )
    except Exception:
        log.exception("could not start the import workflow")
        async with db.tenant_session(tenant_id) as session:
            repo = LeadImportRepository(session)
            record = await repo.get(import_id)
            if record is not None:
                counts, _ = await repo.sums(import_id)
                await repo.finish(record, "failed", counts, "the import could not be started")
        raise ImportNotStarted(str(import_id)) from None
