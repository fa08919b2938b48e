"""Sign-up (public) and the caller's own tenant."""

from __future__ import annotations

from fastapi import APIRouter
from temporalio.service import RPCError

from api.deps import PrincipalDep, ServicesDep
from api.errors import ApiError, not_found
from api.schemas.tenants import SignUp, SignUpResult, TenantPublic
from penguinmails.repositories.tenants import TenantRepository
from usecases.tenancy import EmailAlreadyRegistered, sign_up
from workflows.names import TENANT_PROVISIONING, workflow_id

router = APIRouter(prefix="/v1/tenants", tags=["tenants"])


@router.post("", status_code=201, response_model=SignUpResult)
async def create_tenant(body: SignUp, services: ServicesDep) -> SignUpResult:
    try:
        result = await sign_up(services.db, services.temporal, body.name, str(body.owner_email))
    except EmailAlreadyRegistered as exc:
        # A sign-up e-mail is globally unique by nature: 409 is the documented answer.
        raise ApiError(409, "this e-mail is already registered", code="email_taken") from exc
    except RPCError as exc:
        raise ApiError(503, "workflow service unavailable, nothing was created") from exc
    return SignUpResult(tenant_id=result.tenant_id, user_id=result.user_id, api_key=result.api_key)


@router.get("/me", response_model=TenantPublic)
async def get_my_tenant(principal: PrincipalDep, services: ServicesDep) -> TenantPublic:
    # Its own short transaction, ended before the workflow service is asked: no pooled
    # connection waits on Temporal.
    async with services.db.tenant_session(principal.tenant_id) as session:
        tenant = await TenantRepository(session).get(principal.tenant_id)
    if tenant is None:
        raise not_found("tenant")
    handle = services.temporal.get_workflow_handle(
        workflow_id(TENANT_PROVISIONING, tenant.id, tenant.id)
    )
    try:
        status = (await handle.describe()).status
        provisioning = status.name.lower() if status else "unknown"
    except RPCError:
        provisioning = "unknown"
    return TenantPublic(
        id=tenant.id, name=tenant.name, created=tenant.created, provisioning=provisioning
    )
