"""Inputs, outputs and names of the sending activities: light enough for workflow code.

Errors: an SMTP answer 4xx raises a retryable ApplicationError of type `SmtpTransientError`,
5xx a non-retryable `SmtpPermanentError` (a bounce for the engine), a rejected login a
non-retryable `SmtpAuthenticationFailed`, no connection a retryable `SmtpUnreachable`; each
carries `SmtpFailure` details (the code and the server's text). A template that cannot be
rendered, or is over its render budget (`RenderBudget`), is a non-retryable
`TemplateInvalid` / `TemplateTooExpensive`: every attempt would fail the same way.

A mailbox whose domain sends from a platform IP is sent only by the worker of the server
holding that IP (`SendMessageOutput.other_host` elsewhere, before anything is sent).
"""

from __future__ import annotations

from dataclasses import dataclass

SEND_MESSAGE = "send_message"

SMTP_TRANSIENT = "SmtpTransientError"
SMTP_PERMANENT = "SmtpPermanentError"
SMTP_AUTHENTICATION_FAILED = "SmtpAuthenticationFailed"
SMTP_UNREACHABLE = "SmtpUnreachable"
TEMPLATE_INVALID = "TemplateInvalid"
TEMPLATE_TOO_EXPENSIVE = "TemplateTooExpensive"


@dataclass(frozen=True)
class SendMessageInput:
    tenant_id: str
    email_account_id: str
    # The built message (wire bytes) in the content store; envelope recipients come from
    # its To/Cc headers, the sender is the mailbox.
    content_storage_key: str


@dataclass(frozen=True)
class SendMessageOutput:
    code: int
    message: str
    message_id: str | None = None
    # Not sent here: the mailbox's domain sends from a platform IP that another host holds
    # (`host_vps_id`, None: any shared worker); the workflow calls again on its queue.
    other_host: bool = False
    host_vps_id: str | None = None


@dataclass(frozen=True)
class SmtpFailure:
    code: int
    message: str
    stage: str  # connect, helo, auth, mail, rcpt, data
    # False: no reply, the connection was lost or timed out (`code` is then 0 at connect and
    # 421 elsewhere). Lost during DATA, the server may have taken the message.
    answered: bool = True
