"""The platform's shared IP pool: telling the tenants whose domains a platform job moved off
a shared IP (a quarantine, a pool server's decommission). Each tenant hears of its own
domains only."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from penguinmails.repositories.ip_addresses import SharedMove
from penguinmails.repositories.notifications import NotificationRepository

MOVED_KIND = "shared_ip_moved"


async def tell_moved_tenants(
    session: AsyncSession, moves: Sequence[SharedMove], title: str, cause: str
) -> None:
    """One notification per tenant moved: which of its domains went to another shared IP,
    and which found none (their mailboxes send nothing until an IP is assigned). Through
    the system role's session, in the transaction that moved them."""
    notices = NotificationRepository(session)
    for tenant in sorted({m.tenant_id for m in moves}):
        mine = [m for m in moves if m.tenant_id == tenant]
        moved = [m.domain for m in mine if m.to_ip is not None]
        stranded = [m.domain for m in mine if m.to_ip is None]
        parts = [cause]
        if moved:
            parts.append(f"Moved to another shared IP: {', '.join(moved)}.")
        if stranded:
            parts.append(
                f"No other shared IP could take {', '.join(stranded)}: "
                "its mailboxes send nothing until an IP is assigned."
            )
        await notices.add(
            tenant,
            kind=MOVED_KIND,
            title=title,
            message=" ".join(parts),
            severity="error" if stranded else "warning",
        )
