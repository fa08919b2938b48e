"""Template folders and tags as resources of their own.

`tags` has a unique key on (tenant, name). `folders` has none in the schema, so a folder's
name is kept unique per tenant here: every path that creates or renames a folder (this
repository and `TemplateRepository.set_folders`) first takes a transaction-scoped advisory
lock of the tenant's folder names, then looks the name up.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.content import Folder, Tag, Template, TemplateFolder, TemplateTag
from penguinmails.repositories.pagination import Cursor, after


async def lock_folder_names(session: AsyncSession, tenant_id: UUID) -> None:
    """Serialises folder creation and renames of one tenant until the transaction ends."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('folders:' || :tenant, 0))"),
        {"tenant": str(tenant_id)},
    )


class FolderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, folder_id: UUID) -> Folder | None:
        return await self.session.get(Folder, folder_id)

    async def by_name(self, name: str) -> Folder | None:
        stmt = select(Folder).where(Folder.name == name).order_by(col(Folder.created)).limit(1)
        return (await self.session.exec(stmt)).first()

    async def create(self, tenant_id: UUID, name: str) -> Folder | None:
        """None when the tenant already has a folder of that name."""
        await lock_folder_names(self.session, tenant_id)
        if await self.by_name(name) is not None:
            return None
        folder = Folder(tenant_id=tenant_id, name=name)
        self.session.add(folder)
        await self.session.flush()
        return folder

    async def rename(self, folder: Folder, name: str) -> Folder | None:
        """None when another folder has that name."""
        await lock_folder_names(self.session, folder.tenant_id)
        other = await self.by_name(name)
        if other is not None and other.id != folder.id:
            return None
        folder.name = name
        folder.updated = utcnow()
        self.session.add(folder)
        await self.session.flush()
        return folder

    async def delete(self, folder: Folder) -> None:
        """The folder and its links go; the templates stay."""
        await self.session.delete(folder)
        await self.session.flush()

    async def list(self, cursor: Cursor | None, limit: int) -> builtins.list[Folder]:
        return list((await self.session.exec(after(select(Folder), Folder, cursor, limit))).all())

    async def template_counts(self, folder_ids: Sequence[UUID]) -> dict[UUID, int]:
        """Live templates in each folder."""
        return await _counts(self.session, TemplateFolder, TemplateFolder.folder_id, folder_ids)


class TagRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tag_id: UUID) -> Tag | None:
        return await self.session.get(Tag, tag_id)

    async def create(self, tenant_id: UUID, name: str, **fields: Any) -> Tag | None:
        """None when the tenant already has a tag of that name (its unique key)."""
        tag_id = (
            await self.session.execute(
                text(
                    "INSERT INTO tags (id, tenant_id, name, description, default_value) "
                    "VALUES (gen_random_uuid(), :tenant, :name, :description, :default_value) "
                    "ON CONFLICT ON CONSTRAINT uq_tags_tenant_name DO NOTHING RETURNING id"
                ),
                {
                    "tenant": tenant_id,
                    "name": name,
                    "description": fields.get("description"),
                    "default_value": fields.get("default_value"),
                },
            )
        ).scalar()
        return None if tag_id is None else await self.get(tag_id)

    async def name_taken(self, name: str, other_than: UUID) -> bool:
        stmt = select(Tag.id).where(Tag.name == name, Tag.id != other_than)
        return (await self.session.exec(stmt)).first() is not None

    async def update(self, tag: Tag, **fields: Any) -> Tag:
        for name, value in fields.items():
            setattr(tag, name, value)
        tag.updated = utcnow()
        self.session.add(tag)
        await self.session.flush()
        return tag

    async def delete(self, tag: Tag) -> None:
        await self.session.delete(tag)
        await self.session.flush()

    async def list(self, cursor: Cursor | None, limit: int) -> builtins.list[Tag]:
        return list((await self.session.exec(after(select(Tag), Tag, cursor, limit))).all())

    async def template_counts(self, tag_ids: Sequence[UUID]) -> dict[UUID, int]:
        return await _counts(self.session, TemplateTag, TemplateTag.tag_id, tag_ids)


async def _counts(
    session: AsyncSession, link: Any, key: Any, ids: Sequence[UUID]
) -> dict[UUID, int]:
    out = dict.fromkeys(ids, 0)
    if not ids:
        return out
    stmt = (
        select(key, func.count())
        .join(Template, Template.id == link.template_id)
        .where(key.in_(list(ids)), col(Template.deleted).is_(None))
        .group_by(key)
    )
    for label_id, count in (await session.exec(stmt)).all():
        out[label_id] = int(count)
    return out


__all__ = ["FolderRepository", "TagRepository", "lock_folder_names"]
