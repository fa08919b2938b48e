"""The dev stack's DNS publisher against the real database and the loopback DNS server: a
domain added is published and then verifies; a domain removed disappears."""

import uuid

from temporalio.testing import ActivityEnvironment

from activities.domains import DomainActivities
from activities.interfaces.domains import CheckDomainDnsInput
from devstack.dev_dns import DomainPublisher
from devstack.dns import DnsServer, Zone
from penguinmails.db import Database
from penguinmails.domains import add_domain, remove_domain
from penguinmails.repositories.tenants import TenantRepository
from penguinmails.resolver import sync_resolver
from penguinmails.secrets import SecretStore
from penguinmails.settings import Settings


async def test_publishes_every_live_domain(
    db: Database,
    secret_store: SecretStore,
    settings: Settings,
    dns_server: DnsServer,
    dns_zone: Zone,
) -> None:
    async with db.admin_session() as session:
        tenant = await TenantRepository(session).create("Publisher Co")
    name = f"pub{uuid.uuid4().hex[:10]}.example.test"
    domain = await add_domain(db, secret_store, settings, tenant.id, name)
    publisher = DomainPublisher(dns_zone, settings)

    await publisher.sync(db)
    resolver = sync_resolver(dns_server.address)
    dkim = resolver.resolve(f"{domain.dkim_selector}._domainkey.{name}", "TXT")
    assert b"".join(dkim[0].strings).startswith(b"v=DKIM1; k=rsa; p=")
    result = await ActivityEnvironment().run(
        DomainActivities(db, settings.dns_resolver).check_domain_dns,
        CheckDomainDnsInput(str(tenant.id), str(domain.id)),
    )
    assert result.status == "verified", result

    await remove_domain(db, secret_store, tenant.id, domain.id)
    await publisher.sync(db)
    assert not [r for r in dns_zone.records() if r.name.endswith(f"{name}.")]


async def test_publishes_ptr_names_and_the_platform_spf_record(
    db: Database, settings: Settings, dns_server: DnsServer, dns_zone: Zone
) -> None:
    from penguinmails.repositories.ip_addresses import IpAddressRepository
    from penguinmails.repositories.vps import VpsRepository

    async with db.admin_session() as session:
        tenant = await TenantRepository(session).create("PTR Co")
    address = f"127.249.{uuid.uuid4().int % 200 + 2}.7"
    name = address.replace(".", "-") + ".mta.example.test"
    async with db.tenant_session(tenant.id) as session:
        vps = await VpsRepository(session).create(tenant.id, "local", "local")
        ip = await IpAddressRepository(session).register(tenant.id, vps.id, address, name)
    publisher = DomainPublisher(dns_zone, settings)
    await publisher.sync(db)
    resolver = sync_resolver(dns_server.address)
    reverse = ".".join(reversed(address.split("."))) + ".in-addr.arpa"
    assert resolver.resolve(reverse, "PTR")[0].target.to_text() == name + "."
    assert resolver.resolve(name, "A")[0].address == address
    spf = b"".join(resolver.resolve(settings.mail_spf_include, "TXT")[0].strings).decode()
    assert spf.startswith("v=spf1 ") and f"ip4:{address}" in spf.split()

    # A quarantined IP leaves the platform's SPF record (its PTR stays).
    async with db.tenant_session(tenant.id) as session:
        await IpAddressRepository(session).save_reputation(ip.id, "poor", {"bl.test": True})
    await publisher.sync(db)
    spf = b"".join(resolver.resolve(settings.mail_spf_include, "TXT")[0].strings).decode()
    assert f"ip4:{address}" not in spf.split()
    assert resolver.resolve(reverse, "PTR")[0].target.to_text() == name + "."
