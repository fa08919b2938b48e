"""Templates, their folders and tags. The body lives in the content store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import exists, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.models.base import utcnow
from penguinmails.models.content import Template, TemplateFolder, TemplateTag
from penguinmails.repositories.pagination import Cursor, after
from penguinmails.repositories.template_labels import lock_folder_names


class TemplateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, template: Template) -> Template:
        self.session.add(template)
        await self.session.flush()
        return template

    async def get(self, template_id: UUID) -> Template | None:
        stmt = select(Template).where(Template.id == template_id, Template.deleted.is_(None))  # type: ignore[union-attr]
        return (await self.session.exec(stmt)).first()

    async def update(self, template: Template, **fields: Any) -> Template:
        for name, value in fields.items():
            setattr(template, name, value)
        template.updated = utcnow()
        self.session.add(template)
        await self.session.flush()
        return template

    async def soft_delete(self, template: Template) -> None:
        await self.update(template, deleted=utcnow())

    async def set_folders(self, tenant_id: UUID, template_id: UUID, names: Sequence[str]) -> None:
        """The template is in exactly these folders (created by name when new)."""
        await self.session.execute(
            text("DELETE FROM templates_folders WHERE template_id = :t"), {"t": template_id}
        )
        if names:  # folder names are unique per tenant (repositories/template_labels.py)
            await lock_folder_names(self.session, tenant_id)
        for name in dict.fromkeys(names):
            folder_id = (
                await self.session.execute(
                    text("SELECT id FROM folders WHERE name = :name ORDER BY created LIMIT 1"),
                    {"name": name},
                )
            ).scalar()
            if folder_id is None:
                folder_id = (
                    await self.session.execute(
                        text(
                            "INSERT INTO folders (id, tenant_id, name) "
                            "VALUES (gen_random_uuid(), :tenant, :name) RETURNING id"
                        ),
                        {"tenant": tenant_id, "name": name},
                    )
                ).scalar_one()
            await self.session.execute(
                text(
                    "INSERT INTO templates_folders (id, tenant_id, folder_id, template_id) "
                    "VALUES (gen_random_uuid(), :tenant, :folder, :t) ON CONFLICT DO NOTHING"
                ),
                {"tenant": tenant_id, "folder": folder_id, "t": template_id},
            )

    async def set_tags(self, tenant_id: UUID, template_id: UUID, names: Sequence[str]) -> None:
        await self.session.execute(
            text("DELETE FROM template_tags WHERE template_id = :t"), {"t": template_id}
        )
        for name in dict.fromkeys(names):
            tag_id = (
                await self.session.execute(
                    text(
                        "INSERT INTO tags (id, tenant_id, name) "
                        "VALUES (gen_random_uuid(), :tenant, :name) "
                        "ON CONFLICT ON CONSTRAINT uq_tags_tenant_name "
                        "DO UPDATE SET name = EXCLUDED.name RETURNING id"
                    ),
                    {"tenant": tenant_id, "name": name},
                )
            ).scalar_one()
            await self.session.execute(
                text(
                    "INSERT INTO template_tags (id, tenant_id, template_id, tag_id) "
                    "VALUES (gen_random_uuid(), :tenant, :t, :tag) ON CONFLICT DO NOTHING"
                ),
                {"tenant": tenant_id, "t": template_id, "tag": tag_id},
            )

    async def labels(self, template_ids: Sequence[UUID]) -> dict[UUID, tuple[list[str], list[str]]]:
        """(folders, tags) of each template, names sorted."""
        out: dict[UUID, tuple[list[str], list[str]]] = {t: ([], []) for t in template_ids}
        if not template_ids:
            return out
        folders = await self.session.execute(
            text(
                "SELECT tf.template_id, f.name FROM templates_folders tf "
                "JOIN folders f ON f.tenant_id = tf.tenant_id AND f.id = tf.folder_id "
                "WHERE tf.template_id = ANY(:ids) ORDER BY f.name"
            ),
            {"ids": list(template_ids)},
        )
        for template_id, name in folders:
            out[template_id][0].append(name)
        tags = await self.session.execute(
            text(
                "SELECT tt.template_id, t.name FROM template_tags tt "
                "JOIN tags t ON t.tenant_id = tt.tenant_id AND t.id = tt.tag_id "
                "WHERE tt.template_id = ANY(:ids) ORDER BY t.name"
            ),
            {"ids": list(template_ids)},
        )
        for template_id, name in tags:
            out[template_id][1].append(name)
        return out

    async def list(
        self,
        cursor: Cursor | None,
        limit: int,
        folder_id: UUID | None = None,
        tag_id: UUID | None = None,
    ) -> list[Template]:
        stmt = select(Template).where(Template.deleted.is_(None))  # type: ignore[union-attr]
        if folder_id is not None:
            stmt = stmt.where(
                exists().where(
                    col(TemplateFolder.template_id) == Template.id,
                    col(TemplateFolder.folder_id) == folder_id,
                )
            )
        if tag_id is not None:
            stmt = stmt.where(
                exists().where(
                    col(TemplateTag.template_id) == Template.id, col(TemplateTag.tag_id) == tag_id
                )
            )
        return list((await self.session.exec(after(stmt, Template, cursor, limit))).all())


__all__ = ["TemplateRepository"]
