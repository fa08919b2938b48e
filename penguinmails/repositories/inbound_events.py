"""The ids of the analytics events inbound mail produces (`email_replies`,
`email_bounces`, `email_complaints` rows): derived from the tenant, the kind and the inbound
message's Message-ID, so recording the same message again inserts nothing and moves no
counter. The rows themselves are written by `AnalyticsEventRepository.ingest`, as the
events consumer writes tracking events."""

from __future__ import annotations

from uuid import UUID, uuid5

_NAMESPACE = UUID("6f1d9a52-8c1e-4b7a-9a35-1f0c2d7e4b11")


def event_id(tenant_id: UUID, kind: str, message_id: str) -> UUID:
    return uuid5(_NAMESPACE, f"{tenant_id}:{kind}:{message_id}")


__all__ = ["event_id"]
