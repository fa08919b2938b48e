"""Inputs, outputs and names of the mailbox activities: light enough for workflow code."""

from __future__ import annotations

from dataclasses import dataclass

TEST_MAILBOX_LOGIN = "test_mailbox_login"


@dataclass(frozen=True)
class TestMailboxInput:
    tenant_id: str
    email_account_id: str


@dataclass(frozen=True)
class LoginCheck:
    outcome: str  # ok, authentication_failed, unreachable
    detail: str  # the server's answer, or why it could not be reached


@dataclass(frozen=True)
class TestMailboxOutput:
    email_account_id: str
    status: str  # active, authentication_failed, unreachable; `gone` when deleted meanwhile
    smtp: LoginCheck | None = None
    imap: LoginCheck | None = None
