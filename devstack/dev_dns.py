"""The dev stack's DNS publisher: keeps the loopback DNS zone equal to the expected records
of every live domain in the database, so add domain -> verify -> send works in `make run`
without a registrar. Development only: it reads across tenants through `admin_session()`.

A thread polls once a second (a new domain is published within a second; a deleted one
disappears) and changes only the records it published itself.
"""

from __future__ import annotations

from devstack.dns import Record, Zone
from devstack.periodic import PeriodicSync
from penguinmails.db import Database
from penguinmails.repositories.domains import all_expected_records
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


__all__ = ["DomainPublisher"]
