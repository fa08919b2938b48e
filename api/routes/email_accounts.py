"""Mailboxes: credentials to Vault only, per-mailbox sending settings, the login test."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Response

from api.deps import AdminDep, ServicesDep, SessionDep
from api.errors import PLAN_LIMIT, ApiError, not_found
from api.pagination import Page, PageCursor, PageLimit, decode_cursor, fields_of, json_page
from api.routes.domains import secret_store_of, vault_unavailable
from api.schemas.email_accounts import (
    BreakerWindow,
    CapsToday,
    EmailAccountCreate,
    EmailAccountHealth,
    EmailAccountPublic,
    EmailAccountTestResult,
    EmailAccountUpdate,
    LoginCheckPublic,
    SentCounts,
    WarmupStage,
)
from penguinmails.breakers import (
    BREAKER_BOUNCE_RATE,
    BREAKER_COMPLAINT_RATE,
    BREAKER_DAYS,
    BREAKER_MIN_SENDS,
)
from penguinmails.mailboxes import DomainNotRegistered, add_mailbox, remove_mailbox, set_passwords
from penguinmails.repositories.email_accounts import EmailAccountRepository, MailboxTaken
from penguinmails.repositories.inbound import InboundRepository
from penguinmails.secrets import SecretStoreError
from usecases.mailboxes import MailboxTestFailed, run_mailbox_test

router = APIRouter(prefix="/v1/email-accounts", tags=["email-accounts"])
# A list goes from a Core select straight to JSON in EmailAccountPublic's shape.
_FIELDS = fields_of(EmailAccountPublic)


def _settings(server: Any) -> dict[str, Any]:
    return dict(server.model_dump())


@router.post("", status_code=201, response_model=EmailAccountPublic, responses=PLAN_LIMIT)
async def create_email_account(
    body: EmailAccountCreate, principal: AdminDep, services: ServicesDep
) -> EmailAccountPublic:
    store = secret_store_of(services)
    password = body.password.get_secret_value()
    try:
        account = await add_mailbox(
            services.db,
            store,
            principal.tenant_id,
            email=body.email,
            smtp_password=password,
            imap_password=body.imap_password.get_secret_value() if body.imap_password else password,
            from_name=body.from_name,
            smtp_settings=_settings(body.smtp),
            imap_settings=_settings(body.imap),
            daily_cap=body.daily_cap,
            min_gap_seconds=body.min_gap_seconds,
            gap_jitter_seconds=body.gap_jitter_seconds,
            timezone=body.timezone,
            sending_window=body.sending_window.model_dump(),
            signature=body.signature,
        )
    except DomainNotRegistered as exc:
        raise ApiError(
            422,
            f"the domain {exc} is not one of this tenant's domains: add it first",
            code="domain_not_registered",
        ) from None
    except MailboxTaken:
        raise ApiError(409, f"the mailbox {body.email} is already registered") from None
    except SecretStoreError as exc:
        raise vault_unavailable(exc) from None
    return EmailAccountPublic.model_validate(account)


@router.get("", response_model=Page[EmailAccountPublic])
async def list_email_accounts(
    session: SessionDep, limit: PageLimit = 50, cursor: PageCursor = None
) -> Response:
    rows = await EmailAccountRepository(session).list_rows(decode_cursor(cursor), limit, _FIELDS)
    return json_page(rows, limit)


@router.get("/{account_id}", response_model=EmailAccountPublic)
async def get_email_account(account_id: UUID, session: SessionDep) -> EmailAccountPublic:
    account = await EmailAccountRepository(session).get(account_id)
    if account is None:
        raise not_found("email account")
    return EmailAccountPublic.model_validate(account)


@router.patch("/{account_id}", response_model=EmailAccountPublic)
async def update_email_account(
    account_id: UUID,
    body: EmailAccountUpdate,
    principal: AdminDep,
    services: ServicesDep,
    session: SessionDep,
) -> EmailAccountPublic:
    fields = body.model_dump(exclude_unset=True, exclude={"password", "imap_password"})
    if "smtp" in fields:
        fields["smtp_settings"] = fields.pop("smtp")
    if "imap" in fields:
        fields["imap_settings"] = fields.pop("imap")
    if "smtp_settings" in fields or "imap_settings" in fields:
        fields["status"] = "pending"  # new servers: test again
    if body.password is not None or body.imap_password is not None:
        password = body.password.get_secret_value() if body.password else None
        try:
            # New passwords go to Vault inside the row's own transaction (the kernel's).
            account = await set_passwords(
                services.db,
                secret_store_of(services),
                principal.tenant_id,
                account_id,
                smtp_password=password,
                imap_password=(
                    body.imap_password.get_secret_value() if body.imap_password else password
                ),
                **fields,
            )
        except SecretStoreError as exc:
            raise vault_unavailable(exc) from None
        if account is None:
            raise not_found("email account")
        return EmailAccountPublic.model_validate(account)
    repo = EmailAccountRepository(session)
    account = await repo.get(account_id, for_update=True)
    if account is None:
        raise not_found("email account")
    if fields:
        account = await repo.update(account, **fields)
    return EmailAccountPublic.model_validate(account)


@router.delete("/{account_id}", status_code=204)
async def delete_email_account(
    account_id: UUID, principal: AdminDep, services: ServicesDep
) -> Response:
    store = secret_store_of(services)
    try:
        removed = await remove_mailbox(services.db, store, principal.tenant_id, account_id)
    except SecretStoreError as exc:
        raise vault_unavailable(exc) from None
    if not removed:
        raise not_found("email account")
    return Response(status_code=204)


@router.get("/{account_id}/health", response_model=EmailAccountHealth)
async def email_account_health(account_id: UUID, session: SessionDep) -> EmailAccountHealth:
    """Sent today (the mailbox's day), in 7 and 30 days; hard-bounce and complaint rates
    over the circuit breaker's window with its limits; today's cap used (the day counter
    against the daily cap and the warmup's cap); status, pause reasons, the live warmup."""
    row = await EmailAccountRepository(session).health(account_id)
    if row is None:
        raise not_found("email account")
    sends, bounces, complaints = await InboundRepository(session).mailbox_rates(
        account_id, BREAKER_DAYS
    )
    # The cap the send transaction applies: a live warmup's (active, paused or held) last
    # step, whatever its date (a ramp's step date is UTC, or simulated in development).
    warmup_cap = row["warmup_today_cap"] if row["warmup_id"] is not None else None
    cap = row["daily_cap"] if warmup_cap is None else min(row["daily_cap"], warmup_cap)
    return EmailAccountHealth(
        email_account_id=account_id,
        status=row["status"],
        pause_reasons=list(row["pause_reasons"]),
        sent=SentCounts(
            today=row["sent_today"], last_7_days=row["sent_7d"], last_30_days=row["sent_30d"]
        ),
        breaker=BreakerWindow(
            days=BREAKER_DAYS,
            sends=sends,
            hard_bounces=bounces,
            complaints=complaints,
            bounce_rate=bounces / sends if sends else None,
            complaint_rate=complaints / sends if sends else None,
            bounce_rate_limit=BREAKER_BOUNCE_RATE,
            complaint_rate_limit=BREAKER_COMPLAINT_RATE,
            min_sends=BREAKER_MIN_SENDS,
        ),
        caps=CapsToday(
            day=row["today"],
            daily_cap=row["daily_cap"],
            warmup_cap=warmup_cap,
            effective_cap=cap,
            used=row["used_today"],
            remaining=max(0, cap - row["used_today"]),
        ),
        warmup=(
            WarmupStage(
                id=row["warmup_id"],
                status=row["warmup_status"],
                day=row["warmup_day"],
                today_cap=row["warmup_today_cap"],
                cap_date=row["warmup_cap_date"],
            )
            if row["warmup_id"] is not None
            else None
        ),
    )


@router.post("/{account_id}/resume", response_model=EmailAccountPublic)
async def resume_email_account(
    account_id: UUID, principal: AdminDep, session: SessionDep
) -> EmailAccountPublic:
    """Lifts the circuit breaker's pause (set when the mailbox's hard-bounce or complaint
    rate passed its limit; never lifted by itself). Other reasons stay."""
    repo = EmailAccountRepository(session)
    account = await repo.get(account_id, for_update=True)
    if account is None:
        raise not_found("email account")
    if "breaker" in account.pause_reasons:
        reasons = [r for r in account.pause_reasons if r != "breaker"]
        account = await repo.update(account, pause_reasons=reasons)
    return EmailAccountPublic.model_validate(account)


@router.post("/{account_id}/test", response_model=EmailAccountTestResult)
async def test_email_account(
    account_id: UUID, principal: AdminDep, services: ServicesDep
) -> EmailAccountTestResult:
    """Log in over SMTP and IMAP (in a worker, on the `sending` queue) and set the status:
    `active`, `authentication_failed` or `unreachable`, with each server's answer."""
    try:
        # No transaction is held while the workflow runs: the use case's own.
        result = await run_mailbox_test(
            services.db, services.temporal, principal.tenant_id, account_id
        )
    except MailboxTestFailed as exc:  # e.g. Vault down for every attempt
        raise ApiError(503, f"the mailbox test could not run: {exc}") from None
    if result is None or result.status == "gone":
        raise not_found("email account")
    return EmailAccountTestResult(
        email_account_id=account_id,
        status=result.status,
        smtp=LoginCheckPublic(**asdict(result.smtp)) if result.smtp else None,
        imap=LoginCheckPublic(**asdict(result.imap)) if result.imap else None,
    )
