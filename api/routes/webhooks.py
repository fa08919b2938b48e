"""Outbound webhooks: a tenant's endpoints (the signing secret shown once, kept in Vault),
their delivery log, a test event on demand, secret rotation."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from api.deps import AdminDep, ServicesDep, SessionDep
from api.errors import ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, page
from api.routes.domains import secret_store_of, vault_unavailable
from api.schemas.webhooks import (
    AttemptPublic,
    DeliveryPublic,
    TestEventAccepted,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookSecret,
    WebhookUpdate,
)
from penguinmails.models.webhooks import WebhookEndpoint
from penguinmails.repositories.webhooks import WebhookRepository
from penguinmails.secrets import SecretStoreError
from usecases.webhooks import (
    InvalidTarget,
    check_target,
    create_endpoint,
    rotate_secret,
    send_test_event,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _target(url: str, allow_private: bool) -> str:
    try:
        return check_target(url, allow_private)
    except InvalidTarget as exc:
        raise ApiError(422, str(exc), details={"field": "body.url"}) from None


async def _endpoint(session: SessionDep, endpoint_id: UUID) -> WebhookEndpoint:
    endpoint = await WebhookRepository(session).get(endpoint_id)
    if endpoint is None:
        raise not_found("webhook endpoint")
    return endpoint


@router.post("", status_code=201, response_model=WebhookCreated)
async def create_webhook(
    body: WebhookCreate, principal: AdminDep, services: ServicesDep
) -> WebhookCreated:
    url = _target(body.url, services.settings.webhook_allow_private_targets)
    try:
        endpoint, secret = await create_endpoint(
            services.db,
            secret_store_of(services),
            principal.tenant_id,
            url,
            list(body.event_types),
            body.description,
        )
    except SecretStoreError as exc:
        raise vault_unavailable(exc) from None
    public = WebhookPublic.model_validate(endpoint).model_dump()
    return WebhookCreated(**public, secret=secret)


@router.get("", response_model=Page[WebhookPublic])
async def list_webhooks(
    session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Page[WebhookPublic]:
    rows = await WebhookRepository(session).list(decode_cursor(cursor), limit)
    return page(rows, limit, WebhookPublic.model_validate)


@router.get("/{endpoint_id}", response_model=WebhookPublic)
async def get_webhook(endpoint_id: UUID, session: SessionDep) -> WebhookPublic:
    return WebhookPublic.model_validate(await _endpoint(session, endpoint_id))


@router.patch("/{endpoint_id}", response_model=WebhookPublic)
async def update_webhook(
    endpoint_id: UUID,
    body: WebhookUpdate,
    principal: AdminDep,
    session: SessionDep,
    services: ServicesDep,
) -> WebhookPublic:
    endpoint = await _endpoint(session, endpoint_id)
    fields = body.model_dump(exclude_unset=True)
    if "url" in fields:
        fields["url"] = _target(fields["url"], services.settings.webhook_allow_private_targets)
    if "event_types" in fields:
        fields["event_types"] = sorted(set(fields["event_types"]))
    if fields.get("status") == "active":
        # Re-enabled: a fresh start, the failing streak forgotten.
        fields.update(disabled_reason=None, failing_since=None)
    elif fields.get("status") == "disabled":
        fields["disabled_reason"] = "disabled by the tenant"
    endpoint = await WebhookRepository(session).update(endpoint, **fields)
    return WebhookPublic.model_validate(endpoint)


@router.delete("/{endpoint_id}", status_code=204)
async def delete_webhook(endpoint_id: UUID, principal: AdminDep, session: SessionDep) -> Response:
    endpoint = await _endpoint(session, endpoint_id)
    await WebhookRepository(session).delete(endpoint)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=WebhookSecret)
async def rotate_webhook_secret(
    endpoint_id: UUID, principal: AdminDep, session: SessionDep, services: ServicesDep
) -> WebhookSecret:
    endpoint = await _endpoint(session, endpoint_id)
    try:
        secret = await rotate_secret(secret_store_of(services), endpoint)
    except SecretStoreError as exc:
        raise vault_unavailable(exc) from None
    return WebhookSecret(secret=secret)


@router.post(
    "/{endpoint_id}/test", status_code=202, response_model=TestEventAccepted, responses={409: {}}
)
async def send_webhook_test(
    endpoint_id: UUID, principal: AdminDep, services: ServicesDep
) -> TestEventAccepted:
    async with services.db.tenant_session(principal.tenant_id) as session:
        endpoint = await _endpoint(session, endpoint_id)
        if endpoint.status != "active":
            raise ApiError(409, "the endpoint is disabled", details={"status": endpoint.status})
    event_id = await send_test_event(
        services.db, services.temporal, principal.tenant_id, endpoint_id
    )
    return TestEventAccepted(event_id=event_id)


@router.get("/{endpoint_id}/deliveries", response_model=Page[DeliveryPublic])
async def list_webhook_deliveries(
    endpoint_id: UUID, session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Page[DeliveryPublic]:
    await _endpoint(session, endpoint_id)
    repo = WebhookRepository(session)
    rows = await repo.deliveries(endpoint_id, decode_cursor(cursor), limit)
    log = await repo.attempts_of([r.id for r in rows[:limit]])

    def item(row: object) -> DeliveryPublic:
        delivery = DeliveryPublic.model_validate(row)
        attempts = log.get(delivery.id, [])
        delivery.attempt_log = [AttemptPublic.model_validate(a) for a in attempts]
        return delivery

    return page(rows, limit, item)
