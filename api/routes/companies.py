"""Companies (workspaces): members read, owners and admins write."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from api.deps import AdminDep, SessionDep
from api.errors import not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, fields_of, json_page
from api.schemas.companies import CompanyCreate, CompanyPublic, CompanyUpdate
from penguinmails.repositories.companies import CompanyRepository

router = APIRouter(prefix="/v1/companies", tags=["companies"])
# A list goes from a Core select straight to JSON in CompanyPublic's shape.
_FIELDS = fields_of(CompanyPublic)


@router.post("", status_code=201, response_model=CompanyPublic)
async def create_company(
    body: CompanyCreate, principal: AdminDep, session: SessionDep
) -> CompanyPublic:
    company = await CompanyRepository(session).create(principal.tenant_id, **body.model_dump())
    return CompanyPublic.model_validate(company)


@router.get("", response_model=Page[CompanyPublic])
async def list_companies(
    session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Response:
    rows = await CompanyRepository(session).list_rows(decode_cursor(cursor), limit, _FIELDS)
    return json_page(rows, limit)


@router.get("/{company_id}", response_model=CompanyPublic)
async def get_company(company_id: UUID, session: SessionDep) -> CompanyPublic:
    company = await CompanyRepository(session).get(company_id)
    if company is None:
        raise not_found("company")
    return CompanyPublic.model_validate(company)


@router.patch("/{company_id}", response_model=CompanyPublic)
async def update_company(
    company_id: UUID, body: CompanyUpdate, principal: AdminDep, session: SessionDep
) -> CompanyPublic:
    repo = CompanyRepository(session)
    company = await repo.get(company_id)
    if company is None:
        raise not_found("company")
    company = await repo.update(company, **body.model_dump(exclude_unset=True))
    return CompanyPublic.model_validate(company)


@router.delete("/{company_id}", status_code=204)
async def delete_company(company_id: UUID, principal: AdminDep, session: SessionDep) -> Response:
    repo = CompanyRepository(session)
    company = await repo.get(company_id)
    if company is None:
        raise not_found("company")
    await repo.soft_delete(company)
    return Response(status_code=204)
