"""Template folders: members read, owners and admins write. A folder's name is unique per
tenant (409). Deleting a folder unlinks its templates and keeps them. Templates join
folders by name through the template endpoints (`folders: [...]`); `GET /v1/templates
?folder_id=` lists a folder's templates."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from api.deps import AdminDep, SessionDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, page
from api.schemas.template_labels import FolderCreate, FolderPublic, FolderUpdate
from penguinmails.models.content import Folder
from penguinmails.repositories.template_labels import FolderRepository

router = APIRouter(prefix="/v1/template-folders", tags=["templates"])


def _public(folder: Folder, count: int) -> FolderPublic:
    return FolderPublic(
        id=folder.id,
        name=folder.name,
        template_count=count,
        created=folder.created,
        updated=folder.updated,
    )


def _conflict(name: str) -> ApiError:
    return ApiError(409, f"a folder named {name!r} exists", details={"field": "name"})


@router.post("", status_code=201, response_model=FolderPublic)
async def create_folder(
    body: FolderCreate, principal: AdminDep, session: SessionDep
) -> FolderPublic:
    folder = await FolderRepository(session).create(principal.tenant_id, body.name)
    if folder is None:
        raise _conflict(body.name)
    return _public(folder, 0)


@router.get("", response_model=Page[FolderPublic])
async def list_folders(
    session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Page[FolderPublic]:
    repo = FolderRepository(session)
    rows = await repo.list(decode_cursor(cursor), limit)
    counts = await repo.template_counts([f.id for f in rows])
    return page(rows, limit, lambda f: _public(f, counts[f.id]))


@router.get("/{folder_id}", response_model=FolderPublic)
async def get_folder(folder_id: UUID, session: SessionDep) -> FolderPublic:
    repo = FolderRepository(session)
    folder = await repo.get(folder_id)
    if folder is None:
        raise not_found("folder")
    count = (await repo.template_counts([folder.id]))[folder.id]
    return _public(folder, count)


@router.patch("/{folder_id}", response_model=FolderPublic)
async def update_folder(
    folder_id: UUID, body: FolderUpdate, principal: AdminDep, session: SessionDep
) -> FolderPublic:
    repo = FolderRepository(session)
    folder = await repo.get(folder_id)
    if folder is None:
        raise not_found("folder")
    if body.name is not None:
        renamed = await repo.rename(folder, body.name)
        if renamed is None:
            raise _conflict(body.name)
        folder = renamed
    count = (await repo.template_counts([folder.id]))[folder.id]
    return _public(folder, count)


@router.delete("/{folder_id}", status_code=204)
async def delete_folder(folder_id: UUID, principal: AdminDep, session: SessionDep) -> Response:
    repo = FolderRepository(session)
    folder = await repo.get(folder_id)
    if folder is None:
        raise not_found("folder")
    await repo.delete(folder)
    return Response(status_code=204)
