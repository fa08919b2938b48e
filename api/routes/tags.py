"""Template tags: members read, owners and admins write. A tag's name is unique per tenant
(the table's unique key; 409). Deleting a tag unlinks its templates and keeps them.
Templates take tags by name through the template endpoints (`tags: [...]`);
`GET /v1/templates?tag_id=` lists a tag's templates."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response
from sqlalchemy.exc import IntegrityError

from api.deps import AdminDep, SessionDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, page
from api.schemas.template_labels import TagCreate, TagPublic, TagUpdate
from penguinmails.models.content import Tag
from penguinmails.repositories.template_labels import TagRepository

router = APIRouter(prefix="/v1/tags", tags=["templates"])


def _public(tag: Tag, count: int) -> TagPublic:
    return TagPublic(
        id=tag.id,
        name=tag.name,
        description=tag.description,
        default_value=tag.default_value,
        template_count=count,
        created=tag.created,
        updated=tag.updated,
    )


def _conflict(name: str) -> ApiError:
    return ApiError(409, f"a tag named {name!r} exists", details={"field": "name"})


@router.post("", status_code=201, response_model=TagPublic)
async def create_tag(body: TagCreate, principal: AdminDep, session: SessionDep) -> TagPublic:
    tag = await TagRepository(session).create(
        principal.tenant_id,
        body.name,
        description=body.description,
        default_value=body.default_value,
    )
    if tag is None:
        raise _conflict(body.name)
    return _public(tag, 0)


@router.get("", response_model=Page[TagPublic])
async def list_tags(
    session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Page[TagPublic]:
    repo = TagRepository(session)
    rows = await repo.list(decode_cursor(cursor), limit)
    counts = await repo.template_counts([t.id for t in rows])
    return page(rows, limit, lambda t: _public(t, counts[t.id]))


@router.get("/{tag_id}", response_model=TagPublic)
async def get_tag(tag_id: UUID, session: SessionDep) -> TagPublic:
    repo = TagRepository(session)
    tag = await repo.get(tag_id)
    if tag is None:
        raise not_found("tag")
    count = (await repo.template_counts([tag.id]))[tag.id]
    return _public(tag, count)


@router.patch("/{tag_id}", response_model=TagPublic)
async def update_tag(
    tag_id: UUID, body: TagUpdate, principal: AdminDep, session: SessionDep
) -> TagPublic:
    fields = body.model_dump(exclude_unset=True)
    if fields.get("name", "") is None:
        raise ApiError(422, "a tag's name cannot be null", details={"field": "name"})
    try:
        repo = TagRepository(session)
        tag = await repo.get(tag_id)
        if tag is None:
            raise not_found("tag")
        if "name" in fields and await repo.name_taken(fields["name"], tag.id):
            raise _conflict(fields["name"])
        tag = await repo.update(tag, **fields)
        count = (await repo.template_counts([tag.id]))[tag.id]
    except IntegrityError:  # a rename racing another create or rename
        raise _conflict(str(fields.get("name"))) from None
    return _public(tag, count)


@router.delete("/{tag_id}", status_code=204)
async def delete_tag(tag_id: UUID, principal: AdminDep, session: SessionDep) -> Response:
    repo = TagRepository(session)
    tag = await repo.get(tag_id)
    if tag is None:
        raise not_found("tag")
    await repo.delete(tag)
    return Response(status_code=204)
