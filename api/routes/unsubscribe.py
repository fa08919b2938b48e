"""The public unsubscribe endpoint `/u/{token}` (no API key; no per-IP limit: mailbox
providers post one-click requests from shared addresses).

`GET` shows which address would be unsubscribed (masked) and a button; it never changes
anything, since link scanners fetch every URL of a message. `POST` unsubscribes: the
RFC 8058 one-click request (`List-Unsubscribe=One-Click`, sent by the mailbox provider,
answered with an empty 200) and the page's own form (answered with a confirmation page).
Both are idempotent.

The token is verified (HMAC, constant time) before anything else; the tenant comes from
the verified token and everything runs in that tenant's session. A malformed, forged or
foreign token, a message that is not in the outbox and a deleted tenant all get the same
404 page.
"""

from __future__ import annotations

import html
import logging
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import ServicesDep
from api.services import Services
from penguinmails import tokens
from penguinmails.logging import request_id_var
from penguinmails.secrets import SecretStoreError
from penguinmails.tokens import InvalidToken, TokenClaims, TokenKind
from penguinmails.unsubscribe import find_recipient, mask_address, record_unsubscribe
from usecases import engagement

log = logging.getLogger("penguinmails.api")
router = APIRouter(prefix="/u", tags=["public"])

_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;"
    "color:#222}button{font-size:1rem;padding:.5rem 1rem}"
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=_HEADERS)


def _not_found() -> HTMLResponse:
    return _page("Link not valid", "<p>This unsubscribe link is not valid.</p>", 404)


def _unavailable() -> HTMLResponse:
    return _page(
        "Try again later",
        "<p>We cannot process this request right now. Please try again in a few minutes.</p>",
        503,
    )


async def _token_key(request: Request, services: Services) -> bytes:
    key: bytes | None = getattr(request.app.state, "tracking_key", None)
    if key is None:
        if services.secrets is None:
            raise SecretStoreError("no secret store configured")
        key = await tokens.tracking_key(services.secrets, services.settings)
        request.app.state.tracking_key = key
    return key


async def _claims(request: Request, services: Services, token: str) -> TokenClaims | None:
    key = await _token_key(request, services)
    try:
        claims = tokens.verify(key, token, TokenKind.UNSUBSCRIBE)
        UUID(claims.tenant_id)
    except (InvalidToken, ValueError):
        return None
    return claims


@router.get("/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: str, request: Request, services: ServicesDep) -> Response:
    """The confirmation page; changes nothing."""
    try:
        claims = await _claims(request, services, token)
    except SecretStoreError:
        log.exception("unsubscribe: the token key is unavailable")
        return _unavailable()
    if claims is None:
        return _not_found()
    async with services.db.tenant_session(claims.tenant_id) as session:
        recipient = await find_recipient(session, claims.message_id)
    if recipient is None:
        return _not_found()
    who = (
        f"<strong>{html.escape(mask_address(recipient.email))}</strong>"
        if recipient.email
        else "your address"
    )
    return _page(
        "Unsubscribe",
        f"<p>Stop all further messages from this sender to {who}?</p>"
        '<form method="post" action="">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<input type="hidden" name="source" value="page">'
        '<button type="submit">Unsubscribe</button></form>',
    )


@router.post("/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request, services: ServicesDep) -> Response:
    """RFC 8058 one-click (`List-Unsubscribe=One-Click`, form-encoded or multipart) and the
    page's form. Idempotent."""
    try:
        claims = await _claims(request, services, token)
    except SecretStoreError:
        log.exception("unsubscribe: the token key is unavailable")
        return _unavailable()
    if claims is None:
        return _not_found()
    try:
        form = await request.form(max_files=0, max_fields=10)
    except Exception:  # a body that is not a form
        form = None
    if form is None or form.get("List-Unsubscribe") != "One-Click":
        return _page(
            "Unsubscribe",
            "<p>This request could not be understood. Open the link again and use the button.</p>",
            400,
        )
    from_page = form.get("source") == "page"
    via = "page" if from_page else "one_click"
    tenant_id = UUID(claims.tenant_id)
    async with services.db.tenant_session(tenant_id) as session:
        recipient = await find_recipient(session, claims.message_id)
        if recipient is None:
            return _not_found()
        await record_unsubscribe(session, tenant_id, recipient, via, request_id_var.get())
    # Committed: the send transaction refuses the address from here on. Then the lead's
    # sequences end now and the event reaches the numbers.
    await engagement.unsubscribed(
        services.db,
        services.temporal,
        services.redis,
        services.settings.events_stream,
        tenant_id,
        claims.message_id,
        via,
    )
    if not from_page:
        return Response(status_code=200, headers=_HEADERS)
    return _page("Unsubscribed", "<p>You will not receive further messages from this sender.</p>")
