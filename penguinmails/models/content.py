"""Content: the Postgres content store and the template library (templates, folders, tags).

`content_objects` is the default content store (DESIGN "Content"): uploads, template
bodies and raw MIME keyed by `content_storage_key`, readable by every worker on any host.
Other tables hold the key only, with no foreign key, so an object store can replace it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Text, UniqueConstraint

from penguinmails.models.base import (
    TenantScoped,
    Timestamped,
    bytea_field,
    generated_field,
    id_field,
    jsonb_field,
    now_field,
    tenant_fk,
    tenant_table_args,
    timestamp_field,
)


class ContentObject(TenantScoped, table=True):
    """`sha256` and `size` are generated from `body` by the database, so they cannot drift."""

    __tablename__ = "content_objects"
    __table_args__ = tenant_table_args(
        "content_objects",
        UniqueConstraint("tenant_id", "content_storage_key", name="uq_content_objects_tenant_key"),
    )

    id: UUID = id_field()
    content_storage_key: str
    content_type: str = "application/octet-stream"
    body: bytes = bytea_field()
    sha256: str | None = generated_field("encode(sha256(body), 'hex')", Text)
    size: int | None = generated_field("octet_length(body)", BigInteger)
    created: datetime = now_field()


class Folder(TenantScoped, Timestamped, table=True):
    __tablename__ = "folders"
    __table_args__ = tenant_table_args("folders")

    id: UUID = id_field()
    name: str


class Template(TenantScoped, Timestamped, table=True):
    """The body (HTML with personalisation variables) lives in the content store under
    `content_storage_key`; `subject` is a template too."""

    __tablename__ = "templates"
    __table_args__ = tenant_table_args("templates")

    id: UUID = id_field()
    name: str
    subject: str | None = None
    content_storage_key: str
    variables: dict[str, Any] = jsonb_field()
    is_active: bool = True
    deleted: datetime | None = timestamp_field()


class TemplateFolder(TenantScoped, table=True):
    __tablename__ = "templates_folders"
    __table_args__ = tenant_table_args(
        "templates_folders",
        UniqueConstraint(
            "tenant_id", "folder_id", "template_id", name="uq_templates_folders_folder_template"
        ),
        tenant_fk("templates_folders", "folder_id", "folders", ondelete="CASCADE"),
        tenant_fk("templates_folders", "template_id", "templates", ondelete="CASCADE"),
    )

    id: UUID = id_field()
    folder_id: UUID
    template_id: UUID
    created: datetime = now_field()


class Tag(TenantScoped, Timestamped, table=True):
    __tablename__ = "tags"
    __table_args__ = tenant_table_args(
        "tags", UniqueConstraint("tenant_id", "name", name="uq_tags_tenant_name")
    )

    id: UUID = id_field()
    name: str
    description: str | None = None
    default_value: str | None = None  # the guide's `default` (a reserved word)


class TemplateTag(TenantScoped, Timestamped, table=True):
    __tablename__ = "template_tags"
    __table_args__ = tenant_table_args(
        "template_tags",
        UniqueConstraint(
            "tenant_id", "template_id", "tag_id", name="uq_template_tags_template_tag"
        ),
        tenant_fk("template_tags", "template_id", "templates", ondelete="CASCADE"),
        tenant_fk("template_tags", "tag_id", "tags", ondelete="CASCADE"),
    )

    id: UUID = id_field()
    template_id: UUID
    tag_id: UUID
    value: str | None = None


__all__ = ["ContentObject", "Folder", "Tag", "Template", "TemplateFolder", "TemplateTag"]
