"""Templates: CRUD with folders and tags, validation on save (422 with line and column),
bodies in the content store (de-duplicated by hash), preview for a lead or sample data."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from api.deps import AdminDep, MemberDep, ServicesDep, SessionDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, page
from api.schemas.templates import (
    PreviewPublic,
    PreviewRequest,
    TemplateCreate,
    TemplatePublic,
    TemplateUpdate,
)
from penguinmails.mail.html_text import html_to_text
from penguinmails.mail.personalize import (
    SAMPLE_LEAD,
    RenderBudget,
    TemplateRenderError,
    context_for,
    render_async,
    validate,
    variables_used,
)
from penguinmails.models.content import Template
from penguinmails.repositories.content import ContentRepository
from penguinmails.repositories.email_accounts import EmailAccountRepository
from penguinmails.repositories.leads import LeadRepository
from penguinmails.repositories.templates import TemplateRepository

router = APIRouter(prefix="/v1/templates", tags=["templates"])


def _check(subject: str | None, body: str | None) -> None:
    problems = []
    if subject is not None:
        problems += validate(subject, "subject")
    if body is not None:
        problems += validate(body, "body")
    if problems:
        raise ApiError(
            422,
            "the template has errors",
            code="template_invalid",
            details=[
                {
                    "field": p.field,
                    "kind": p.kind,
                    "message": p.message,
                    "line": p.line,
                    "column": p.column,
                }
                for p in problems
            ],
        )


def _labels(names: list[str]) -> list[str]:
    cleaned = [n.strip() for n in names if n.strip()]
    if any(len(n) > 100 for n in cleaned):
        raise ApiError(422, "folder and tag names are at most 100 characters")
    return cleaned


def _public(
    template: Template, labels: tuple[list[str], list[str]], body: str | None = None
) -> TemplatePublic:
    return TemplatePublic(
        id=template.id,
        name=template.name,
        subject=template.subject,
        body=body,
        content_storage_key=template.content_storage_key,
        variables=list((template.variables or {}).get("used", [])),
        folders=labels[0],
        tags=labels[1],
        is_active=template.is_active,
        created=template.created,
        updated=template.updated,
    )


@router.post("", status_code=201, response_model=TemplatePublic)
async def create_template(
    body: TemplateCreate, principal: AdminDep, session: SessionDep
) -> TemplatePublic:
    await asyncio.to_thread(_check, body.subject, body.body)  # up to a second for 200 KB
    folders, tags = _labels(body.folders), _labels(body.tags)
    key = await ContentRepository(session).put(
        principal.tenant_id, body.body.encode(), "text/html; charset=utf-8"
    )
    repo = TemplateRepository(session)
    template = await repo.create(
        Template(
            tenant_id=principal.tenant_id,
            name=body.name,
            subject=body.subject,
            content_storage_key=key,
            variables={"used": variables_used(body.subject + "\n" + body.body)},
            is_active=body.is_active,
        )
    )
    await repo.set_folders(principal.tenant_id, template.id, folders)
    await repo.set_tags(principal.tenant_id, template.id, tags)
    labels = (await repo.labels([template.id]))[template.id]
    return _public(template, labels, body.body)


@router.get("", response_model=Page[TemplatePublic])
async def list_templates(
    session: SessionDep,
    folder_id: UUID | None = None,
    tag_id: UUID | None = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> Page[TemplatePublic]:
    """`folder_id=`/`tag_id=`: the templates in a folder (/v1/template-folders) or with a tag
    (/v1/tags)."""
    repo = TemplateRepository(session)
    rows = await repo.list(decode_cursor(cursor), limit, folder_id=folder_id, tag_id=tag_id)
    labels = await repo.labels([t.id for t in rows])
    return page(rows, limit, lambda t: _public(t, labels[t.id]))


@router.get("/{template_id}", response_model=TemplatePublic)
async def get_template(template_id: UUID, session: SessionDep) -> TemplatePublic:
    repo = TemplateRepository(session)
    template = await repo.get(template_id)
    if template is None:
        raise not_found("template")
    raw = await ContentRepository(session).get(template.content_storage_key)
    labels = (await repo.labels([template.id]))[template.id]
    return _public(template, labels, raw.decode() if raw is not None else None)


@router.patch("/{template_id}", response_model=TemplatePublic)
async def update_template(
    template_id: UUID, body: TemplateUpdate, principal: AdminDep, session: SessionDep
) -> TemplatePublic:
    await asyncio.to_thread(_check, body.subject, body.body)  # up to a second for 200 KB
    repo = TemplateRepository(session)
    content = ContentRepository(session)
    template = await repo.get(template_id)
    if template is None:
        raise not_found("template")
    fields: dict[str, Any] = body.model_dump(
        exclude_unset=True, exclude={"body", "folders", "tags"}
    )
    text_body = body.body
    if text_body is not None:
        fields["content_storage_key"] = await content.put(
            principal.tenant_id, text_body.encode(), "text/html; charset=utf-8"
        )
    else:
        raw = await content.get(template.content_storage_key)
        text_body = raw.decode() if raw is not None else ""
    subject = fields.get("subject", template.subject) or ""
    fields["variables"] = {"used": variables_used(subject + "\n" + text_body)}
    template = await repo.update(template, **fields)
    if body.folders is not None:
        await repo.set_folders(principal.tenant_id, template.id, _labels(body.folders))
    if body.tags is not None:
        await repo.set_tags(principal.tenant_id, template.id, _labels(body.tags))
    labels = (await repo.labels([template.id]))[template.id]
    return _public(template, labels, text_body)


@router.delete("/{template_id}", status_code=204)
async def delete_template(template_id: UUID, principal: AdminDep, session: SessionDep) -> Response:
    repo = TemplateRepository(session)
    template = await repo.get(template_id)
    if template is None:
        raise not_found("template")
    await repo.soft_delete(template)
    return Response(status_code=204)


@router.post("/{template_id}/preview", response_model=PreviewPublic)
async def preview_template(
    template_id: UUID,
    body: PreviewRequest,
    principal: MemberDep,  # only reads: members may preview
    session: SessionDep,
    services: ServicesDep,
) -> PreviewPublic:
    template = await TemplateRepository(session).get(template_id)
    if template is None:
        raise not_found("template")
    raw = await ContentRepository(session).get(template.content_storage_key)
    lead: dict[str, Any] = dict(SAMPLE_LEAD)
    if body.lead_id is not None:
        row = await LeadRepository(session).get(body.lead_id)
        if row is None:
            raise not_found("lead")
        lead = {**row.model_dump(), "custom": row.custom_fields}
    sender: dict[str, Any] = {"name": "Your Name", "email": "you@example.com", "signature": ""}
    if body.email_account_id is not None:
        account = await EmailAccountRepository(session).get(body.email_account_id)
        if account is None:
            raise not_found("email account")
        sender = {
            "name": account.from_name or "",
            "email": account.email,
            "signature": account.signature or "",
        }
    seed = f"{body.lead_id or 'sample'}:{body.step_id or 'preview'}"
    context = context_for(lead, sender, unsubscribe_url="https://example.com/u/preview")
    try:
        subject, html = await render_async(
            template.subject or "",
            raw.decode() if raw else "",
            context,
            seed,
            RenderBudget.of(services.settings),
        )
    except TemplateRenderError as exc:
        raise ApiError(422, f"the template cannot be rendered: {exc}", code=exc.code) from None
    return PreviewPublic(
        subject=" ".join(subject.split()), html=html, text=html_to_text(html),
        sample=body.lead_id is None,
    )  # fmt: skip
