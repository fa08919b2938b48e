"""The dev stack's DNS publisher: keeps the loopback DNS zone equal to the expected records
of every live domain in the database, so add domain -> verify -> send works in `make run`
without a registrar. Development only: it reads across tenants through `admin_session()`.

A thread polls once a second (a new domain is published within a second; a deleted one
disappears) and changes only the records it published itself.
"""

from __future__ import annotations

import ipaddress

from devstack.dns import Record, Zone
from devstack.periodic import PeriodicSync
from penguinmails.db import Database
from penguinmails.repositories.domains import all_expected_records
from penguinmails.repositories.ip_addresses import all_sending_hosts
from penguinmails.settings import Settings


class DomainPublisher(PeriodicSync):
    name = "dev DNS publisher"

    def __init__(self, zone: Zone, settings: Settings, interval: float = 1.0) -> None:
        self.zone = zone
        super().__init__(settings, interval)
        self._published: set[Record] = set()

    async def sync(self, db: Database) -> None:
        async with db.admin_session() as session:
            rows = await all_expected_records(session)
            rows += host_records(await all_sending_hosts(session), self.settings.mail_spf_include)
        wanted = {
            Record(
                name=str(r["name"]).rstrip(".").lower() + ".",
                type=str(r["type"]).upper(),
                value=str(r["value"]),
                priority=int(r.get("priority") or 10),
            )
            for r in rows
        }
        for record in self._published - wanted:
            self.zone.discard(record)
        for record in wanted - self._published:
            self.zone.add_record(record)
        self._published = wanted


# An IP that sends on the platform's behalf (the platform SPF record lists these).
_SENDING = ("available", "assigned", "warming", "warmed", "degraded")


def host_records(
    hosts: list[tuple[str, str | None, str]], spf_include: str
) -> list[dict[str, str]]:
    """Each sending IP's PTR and the A record of its name (forward-confirmed reverse DNS,
    what receivers check against HELO), and the platform's SPF record that every sending
    domain includes: the IPs that send today, so a rotation changes no tenant's records."""
    out: list[dict[str, str]] = []
    sending = []
    for ip, ptr, status in hosts:
        if ptr:
            out.append(
                {"name": ipaddress.ip_address(ip).reverse_pointer, "type": "PTR", "value": ptr}
            )
            out.append({"name": ptr, "type": "A", "value": ip})
        if status in _SENDING:
            sending.append(f"ip{ipaddress.ip_address(ip).version}:{ip}")
    out.append(
        {"name": spf_include, "type": "TXT", "value": " ".join(["v=spf1", *sending, "~all"])}
    )
    return out


__all__ = ["DomainPublisher", "host_records"]
