"""`POST /webhooks/stripe`: Stripe's events, verified over the raw body with the signing
secret from Vault, stored once by id, and handed to the tenant's `SubscriptionWorkflow`.

2xx only once the event is stored and handed over: when the hand-off fails after the store,
the answer is 503 and Stripe's retry hands the stored event over (never mistaken for a
duplicate, which answers 200 without a second effect).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from api.deps import ServicesDep
from api.errors import ApiError
from penguinmails.secrets import SecretStoreError
from penguinmails.sysconfig import GRACE_DAYS
from usecases.billing import BadWebhook, receive_stripe_event, verify, webhook_secret

log = logging.getLogger("penguinmails.api")

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/stripe",
    responses={
        400: {"description": "bad signature, old timestamp or malformed body: nothing stored"}
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def stripe_webhook(request: Request, services: ServicesDep) -> dict[str, str]:
    settings = services.settings
    if services.secrets is None:
        raise ApiError(503, "the secret store is not configured")
    try:
        secret = await webhook_secret(services.secrets, settings.stripe_secret_path)
    except SecretStoreError:
        raise ApiError(503, "the secret store is unavailable") from None
    if not secret:
        raise ApiError(503, "no Stripe webhook secret is configured")
    signature = request.headers.get("stripe-signature")
    if not signature:
        raise ApiError(400, "missing Stripe-Signature header")
    payload = await request.body()
    try:
        event = verify(payload, signature, secret, settings.stripe_webhook_tolerance_seconds)
    except BadWebhook as exc:
        raise ApiError(400, str(exc)) from None
    try:
        grace_days = await services.platform.value(GRACE_DAYS)
        received = await receive_stripe_event(services.db, services.temporal, event, grace_days)
    except Exception as exc:  # stored or not, Stripe must retry: never a 2xx here
        log.warning("stripe event %s not handed over: %s", event["id"], type(exc).__name__)
        raise ApiError(503, "the event could not be handed over; retry") from None
    return {"id": received.event_id, "status": "duplicate" if received.duplicate else "accepted"}
