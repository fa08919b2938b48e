"""`POST /webhooks/inbound`: a mail relay posts one raw message (RFC 5322 bytes, any
content type) addressed to one of our mailboxes. No API key: the relay proves itself with
the shared secret kept in Vault (`INBOUND_WEBHOOK_SECRET_PATH`, field `secret`), sent in
`X-Inbound-Secret` and compared in constant time. Its body limit is its own
(`INBOUND_WEBHOOK_MAX_BYTES`, 25 MB by default; 413 above).

The mailbox is the envelope recipient (`?recipient=`, when the relay knows it), else the
first of the message's Delivered-To, X-Original-To, To and Cc that is a live mailbox of
ours. The message is then recorded exactly as the IMAP poll records it (stored,
classified, threaded, its consequences) and the lead workflows are signalled. Posting the
same message twice records it once.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel

from api.deps import ServicesDep
from api.errors import ApiError
from penguinmails.secrets import SecretStoreError
from usecases.inbound import NoSuchMailbox, accept_inbound

log = logging.getLogger("penguinmails.api")
router = APIRouter(prefix="/webhooks", tags=["webhooks"])

SECRET_FIELD = "secret"


class InboundAccepted(BaseModel):
    id: str  # the inbound message's row
    created: bool  # False: this Message-ID was already recorded for the mailbox
    classification: str
    reason: str
    category: str | None
    signalled: int  # lead workflows told


async def _check_secret(services: ServicesDep, given: str | None) -> None:
    if services.secrets is None:
        raise ApiError(503, "the secret store is not configured")
    try:
        secret = await services.secrets.read(services.settings.inbound_webhook_secret_path)
    except SecretStoreError as exc:
        raise ApiError(503, f"the secret store is unavailable: {exc}") from None
    expected = (secret or {}).get(SECRET_FIELD)
    if not expected:
        # Not configured: nobody is authorised (`penguinmails inbox webhook-secret` sets one).
        log.warning("POST /webhooks/inbound refused: no secret at the configured path")
        raise ApiError(401, "the inbound webhook is not configured")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "missing or wrong X-Inbound-Secret")


@router.post("/inbound", status_code=202, response_model=InboundAccepted)
async def inbound_message(
    request: Request,
    services: ServicesDep,
    x_inbound_secret: Annotated[str | None, Header()] = None,
    recipient: Annotated[str | None, Query(max_length=320)] = None,
) -> InboundAccepted:
    """Record one raw message posted by a mail relay."""
    await _check_secret(services, x_inbound_secret)
    raw = await request.body()
    if not raw.strip():
        raise ApiError(422, "the body is empty: post the raw message", details={"field": "body"})
    try:
        accepted = await accept_inbound(
            services.db,
            services.temporal,
            raw,
            recipient=recipient,
            max_parse_bytes=services.settings.inbound_webhook_max_bytes,
        )
    except NoSuchMailbox as exc:
        raise ApiError(422, str(exc), details={"field": "recipient"}) from None
    record = accepted.record
    return InboundAccepted(
        id=str(record.id),
        created=record.created,
        classification=record.kind,
        reason=record.reason,
        category=record.category,
        signalled=accepted.signalled,
    )
