"""A tenant's payments, one row per Stripe invoice (written from invoice events)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession


@dataclass(frozen=True)
class InvoicePayment:
    invoice_id: str
    amount_cents: int
    currency: str
    status: str  # a payments status: succeeded, failed, pending
    paid: dt.datetime | None
    stripe_created: int


class PaymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(self, tenant_id: UUID, payment: InvoicePayment) -> None:
        """Upsert by invoice: a later event may turn `failed` into `succeeded`, never back
        (a success is final for an invoice)."""
        await self.session.execute(
            text(
                "INSERT INTO payments (tenant_id, subscription_id, stripe_payment_id, amount, "
                "currency, status, paid) "
                "SELECT :tenant, (SELECT id FROM subscriptions WHERE tenant_id = :tenant "
                "ORDER BY created DESC LIMIT 1), :invoice, :amount, :currency, :status, :paid "
                "ON CONFLICT (stripe_payment_id) DO UPDATE SET status = EXCLUDED.status, "
                "amount = EXCLUDED.amount, paid = coalesce(EXCLUDED.paid, payments.paid), "
                "updated = now() WHERE payments.status <> 'succeeded'"
            ),
            {
                "tenant": tenant_id,
                "invoice": payment.invoice_id,
                "amount": Decimal(payment.amount_cents) / 100,
                "currency": payment.currency.upper(),
                "status": payment.status,
                "paid": payment.paid,
            },
        )

    async def status_of(self, invoice_id: str) -> str | None:
        row = await self.session.execute(
            text("SELECT status FROM payments WHERE stripe_payment_id = :i"), {"i": invoice_id}
        )
        return row.scalar_one_or_none()

    async def list(self, limit: int = 100) -> list[dict[str, object]]:
        rows = await self.session.execute(
            text(
                "SELECT id, stripe_payment_id AS invoice_id, amount, currency, status, paid, "
                "created FROM payments ORDER BY created DESC, id LIMIT :limit"
            ),
            {"limit": limit},
        )
        return [dict(r._mapping) for r in rows]
