from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from api.schemas.base import Patch
from penguinmails.mail.records import InvalidDomain, normalize_domain
from penguinmails.mailboxes import InvalidAddress, normalize_address

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ServerSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)
    security: Literal["ssl", "starttls", "none"] = "starttls"
    username: str | None = Field(default=None, max_length=320)
    verify_tls: bool = True

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        from ipaddress import ip_address

        try:
            return str(ip_address(value.strip()))
        except ValueError:
            pass
        if value.strip().lower() == "localhost":
            return "localhost"
        try:
            return normalize_domain(value)
        except InvalidDomain as exc:
            raise ValueError(str(exc)) from None


class SendingWindow(BaseModel):
    """Wall-clock sending hours: HH:MM start and end, ISO weekdays (shared by mailboxes and
    campaigns' schedules)."""

    model_config = ConfigDict(extra="forbid")

    start: str = "09:00"
    end: str = "17:00"
    days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])  # ISO weekdays

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("a time is HH:MM (24 h)")
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[int]) -> list[int]:
        if not value or any(d < 1 or d > 7 for d in value):
            raise ValueError("days are ISO weekdays 1 (Monday) to 7 (Sunday), at least one")
        return sorted(set(value))


def iana_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise ValueError(f"{value!r} is not an IANA time zone") from None
    return value


class SmtpSettingsIn(ServerSettingsIn):
    # The server files a copy of each message in the mailbox's Sent folder by itself (Gmail,
    # Microsoft 365): a send whose outcome was lost is then looked up there before it is
    # judged `unknown` (DESIGN "Outbox"). Servers that do not would find nothing.
    saves_sent_copy: bool = False


class SendingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_name: str | None = Field(default=None, max_length=255)
    daily_cap: int = Field(default=50, ge=1, le=10_000)
    min_gap_seconds: int = Field(default=60, ge=0, le=86_400)
    gap_jitter_seconds: int = Field(default=30, ge=0, le=86_400)
    timezone: str = "UTC"
    sending_window: SendingWindow = Field(default_factory=SendingWindow)
    signature: str | None = Field(default=None, max_length=10_000)

    _tz = field_validator("timezone")(lambda cls, v: iana_zone(v))


class MailboxSettings(SendingSettings):
    smtp: SmtpSettingsIn
    imap: ServerSettingsIn
    password: SecretStr = Field(min_length=1, max_length=1024)
    imap_password: SecretStr | None = Field(default=None, min_length=1, max_length=1024)


class EmailAccountCreate(MailboxSettings):
    email: str = Field(min_length=3, max_length=320)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            return normalize_address(value)
        except InvalidAddress as exc:
            raise ValueError(str(exc)) from None


class EmailAccountUpdate(MailboxSettings, Patch):
    pass


class EmailAccountPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    domain_id: UUID
    email: str
    from_name: str | None
    status: str
    pause_reasons: list[str]  # sends stop while any holds (`breaker`: the circuit breaker)
    smtp_settings: dict[str, Any]
    imap_settings: dict[str, Any]
    daily_cap: int
    min_gap_seconds: int
    gap_jitter_seconds: int
    timezone: str
    sending_window: dict[str, Any]
    signature: str | None
    last_tested_at: datetime | None
    last_test_result: dict[str, Any]
    created: datetime
    updated: datetime


class LoginCheckPublic(BaseModel):
    outcome: str
    detail: str


class EmailAccountTestResult(BaseModel):
    email_account_id: UUID
    status: str
    smtp: LoginCheckPublic | None
    imap: LoginCheckPublic | None


class SentCounts(BaseModel):
    today: int  # the mailbox's own day (its time zone)
    last_7_days: int
    last_30_days: int


class BreakerWindow(BaseModel):
    """The circuit breaker's figures: hard bounces and complaints over its rolling window,
    and the limits past which it pauses the mailbox (after `min_sends`)."""

    days: int
    sends: int
    hard_bounces: int
    complaints: int
    bounce_rate: float | None  # None before any send
    complaint_rate: float | None
    bounce_rate_limit: float
    complaint_rate_limit: float
    min_sends: int


class CapsToday(BaseModel):
    day: date  # in the mailbox's zone
    daily_cap: int
    warmup_cap: int | None  # what the warmup ramp allows today, when one runs
    effective_cap: int
    used: int  # slots taken today (the send's day counter)
    remaining: int


class WarmupStage(BaseModel):
    id: UUID
    status: str
    day: int
    today_cap: int
    cap_date: date | None


class EmailAccountHealth(BaseModel):
    email_account_id: UUID
    status: str
    pause_reasons: list[str]
    sent: SentCounts
    breaker: BreakerWindow
    caps: CapsToday
    warmup: WarmupStage | None
