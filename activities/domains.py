"""Domain activities: DNS checks of a domain's expected records through the platform's
resolver (dnspython), results stored per record."""

from __future__ import annotations

from uuid import UUID

import dns.asyncresolver
import dns.exception
import dns.resolver
from temporalio import activity

from activities.interfaces.domains import (
    CHECK_DOMAIN_DNS,
    CheckDomainDnsInput,
    CheckDomainDnsOutput,
    RecordResult,
)
from penguinmails.db import Database
from penguinmails.mail.records import ExpectedRecord, judge
from penguinmails.models.base import utcnow
from penguinmails.repositories.domains import DomainRepository
from penguinmails.resolver import async_resolver


async def lookup(resolver: dns.asyncresolver.Resolver, name: str, rtype: str) -> list[str]:
    """Answers as text: TXT strings joined per record, MX exchanges, CNAME targets.
    Nothing there is an empty list; a resolver failure raises dns.exception.DNSException."""
    try:
        answer = await resolver.resolve(name, rtype)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    out = []
    for rdata in answer:
        if rtype == "TXT":
            out.append(b"".join(rdata.strings).decode("utf-8", "replace"))
        elif rtype == "MX":
            out.append(rdata.exchange.to_text())
        elif rtype == "CNAME":
            out.append(rdata.target.to_text())
        else:
            out.append(rdata.to_text())
    return out


class DomainActivities:
    def __init__(self, db: Database, resolver_address: str | None) -> None:
        self.db = db
        self.resolver_address = resolver_address

    @activity.defn(name=CHECK_DOMAIN_DNS)
    async def check_domain_dns(self, data: CheckDomainDnsInput) -> CheckDomainDnsOutput:
        """Idempotent: queries DNS and overwrites the last results; `verified` is final."""
        async with self.db.tenant_session(data.tenant_id) as session:
            domain = await DomainRepository(session).get(UUID(data.domain_id))
            if domain is None:
                return CheckDomainDnsOutput(data.domain_id, "gone")
            if domain.verification_status == "verified":
                return CheckDomainDnsOutput(data.domain_id, "verified")
            expected = [
                ExpectedRecord.from_dict(r) for r in (domain.dns_records or {}).get("records", [])
            ]

        resolver = async_resolver(self.resolver_address)
        checked_at = utcnow()
        stored, results = [], []
        for record in expected:
            try:
                found = await lookup(resolver, record.name, record.type)
                verdict = judge(record, found)
                passed, detail = verdict.passed, verdict.detail
            except dns.exception.DNSException as exc:
                found, passed = [], False
                detail = f"DNS query failed: {type(exc).__name__}"
            results.append(RecordResult(record.purpose, passed, detail))
            stored.append(
                {
                    **record.as_dict(),
                    "status": "pass" if passed else "fail",
                    "found": found,
                    "detail": detail,
                    "checked_at": checked_at.isoformat(),
                }
            )
        all_passed = bool(results) and all(r.passed for r in results)
        status = "verified" if all_passed else ("failed" if data.final else "verifying")

        async with self.db.tenant_session(data.tenant_id) as session:
            repo = DomainRepository(session)
            domain = await repo.get(UUID(data.domain_id), for_update=True)
            if domain is None:
                return CheckDomainDnsOutput(data.domain_id, "gone")
            await repo.save_check(domain, stored, status, checked_at)
        activity.logger.info(
            "domain %s: %s (%d/%d records pass)",
            data.domain_id,
            status,
            sum(r.passed for r in results),
            len(results),
        )
        return CheckDomainDnsOutput(data.domain_id, status, results)
