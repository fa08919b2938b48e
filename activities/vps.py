"""VPS lifecycle activities: every call to a provider and every write of a server's rows.

Each is idempotent, so Temporal may retry it: the provider's instance id is stored as
soon as the server is ordered (a retry finds it and does not order another), addresses
register with ON CONFLICT, cancelling twice is not an error. A provider's refusal is a
non-retryable `ProviderRejected`; an outage raises as it is and the retry policy backs off.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.interfaces.vps import (
    CHECK_VPS,
    MOVE_VPS_DOMAINS,
    PROVIDER_REJECTED,
    PROVISION_VPS,
    REGISTER_VPS_IPS,
    RELEASE_VPS,
    SCHEDULE_VPS_DECOMMISSION,
    START_BILLING_PERIOD,
    VPS_GONE,
    BillingPeriodInput,
    BillingPeriodOutput,
    CheckVpsOutput,
    MovedDomain,
    MoveVpsDomainsOutput,
    ProvisionVpsOutput,
    RegisterVpsIpsOutput,
    ReleaseVpsInput,
    ScheduleDecommissionInput,
    VpsRef,
)
from penguinmails.db import Database
from penguinmails.ip_pool import tell_moved_tenants
from penguinmails.models.infra import VpsInstance
from penguinmails.providers import ProviderRejected, VpsProvider, billing_period
from penguinmails.repositories.ip_addresses import (
    AddressTaken,
    IpAddressRepository,
    move_shared_domains_off,
)
from penguinmails.repositories.vps import VpsRepository


def ptr_name(ip: str, domain: str) -> str:
    """The sending host's name for an address: `127-0-0-2.<domain>` (PTR and HELO)."""
    return f"{ip.replace('.', '-').replace(':', '-')}.{domain}"


def _rejected(exc: ProviderRejected) -> ApplicationError:
    return ApplicationError(str(exc), type=PROVIDER_REJECTED, non_retryable=True)


class VpsActivities:
    def __init__(
        self, db: Database, providers: dict[str, VpsProvider], sending_host_domain: str
    ) -> None:
        self.db = db
        self.providers = providers
        self.sending_host_domain = sending_host_domain

    async def _vps(self, tenant_id: str, vps_id: str) -> VpsInstance:
        async with self.db.tenant_session(tenant_id) as session:
            vps = await VpsRepository(session).get(UUID(vps_id))
        if vps is None:
            raise ApplicationError(f"no VPS {vps_id}", type=VPS_GONE, non_retryable=True)
        return vps

    def _provider(self, vps: VpsInstance) -> VpsProvider:
        provider = self.providers.get(vps.provider)
        if provider is None:
            raise ApplicationError(
                f"the provider {vps.provider!r} is not configured on this worker",
                type=PROVIDER_REJECTED,
                non_retryable=True,
            )
        return provider

    @activity.defn(name=PROVISION_VPS)
    async def provision_vps(self, data: VpsRef) -> ProvisionVpsOutput:
        vps = await self._vps(data.tenant_id, data.vps_id)
        if vps.provider_instance_id:  # ordered by an earlier attempt
            return ProvisionVpsOutput(vps.provider_instance_id)
        provider = self._provider(vps)
        try:
            made = await provider.create(vps.region or "default", f"vps-{vps.id}")
        except ProviderRejected as exc:
            raise _rejected(exc) from None
        async with self.db.tenant_session(data.tenant_id) as session:
            repo = VpsRepository(session)
            row = await repo.get(vps.id, for_update=True)
            assert row is not None
            await repo.save(row, provider_instance_id=made.instance_id)
        activity.logger.info("VPS %s ordered from %s: %s", vps.id, vps.provider, made.instance_id)
        return ProvisionVpsOutput(made.instance_id)

    @activity.defn(name=CHECK_VPS)
    async def check_vps(self, data: VpsRef) -> CheckVpsOutput:
        vps = await self._vps(data.tenant_id, data.vps_id)
        if not vps.provider_instance_id:
            raise ApplicationError("the VPS was never ordered", type=VPS_GONE, non_retryable=True)
        try:
            found = await self._provider(vps).status(vps.provider_instance_id)
        except ProviderRejected as exc:
            raise _rejected(exc) from None
        return CheckVpsOutput(found.status)

    @activity.defn(name=REGISTER_VPS_IPS)
    async def register_vps_ips(self, data: BillingPeriodInput) -> RegisterVpsIpsOutput:
        """Reverse DNS at the provider, then the addresses as `available` and the server
        `active` with its billing day, first period and cost, in one transaction."""
        vps = await self._vps(data.tenant_id, data.vps_id)
        assert vps.provider_instance_id
        provider = self._provider(vps)
        try:
            found = await provider.status(vps.provider_instance_id)
            ips = await provider.list_ips(vps.provider_instance_id)
            for ip in ips:
                await provider.set_reverse_dns(
                    vps.provider_instance_id, ip, ptr_name(ip, self.sending_host_domain)
                )
        except ProviderRejected as exc:
            raise _rejected(exc) from None
        if not ips:
            raise ApplicationError(
                "the provider reports no address", type=PROVIDER_REJECTED, non_retryable=True
            )
        created = found.created or dt.datetime.now(dt.UTC)
        async with self.db.tenant_session(data.tenant_id) as session:
            addresses = IpAddressRepository(session)
            try:
                for ip in ips:
                    await addresses.register(
                        vps.tenant_id, vps.id, ip, ptr_name(ip, self.sending_host_domain)
                    )
            except AddressTaken as exc:
                raise ApplicationError(
                    f"the address {exc} is live on another server",
                    type=PROVIDER_REJECTED,
                    non_retryable=True,
                ) from None
            repo = VpsRepository(session)
            row = await repo.get(vps.id, for_update=True)
            assert row is not None
            if row.status == "provisioning":
                row.status = "active"
            billing_day = row.billing_day or created.day
            start, end = billing_period(billing_day, dt.datetime.fromisoformat(data.at))
            await repo.save(
                row,
                ip_address=ips[0],
                billing_day=billing_day,
                current_billing_period_start=start,
                current_billing_period_end=end,
                monthly_cost=found.monthly_cost
                if found.monthly_cost is not None
                else row.monthly_cost,
            )
        return RegisterVpsIpsOutput(ips)

    @activity.defn(name=START_BILLING_PERIOD)
    async def start_billing_period(self, data: BillingPeriodInput) -> BillingPeriodOutput:
        at = dt.datetime.fromisoformat(data.at)
        async with self.db.tenant_session(data.tenant_id) as session:
            repo = VpsRepository(session)
            vps = await repo.get(UUID(data.vps_id), for_update=True)
            if vps is None:
                raise ApplicationError(f"no VPS {data.vps_id}", type=VPS_GONE, non_retryable=True)
            start, end = billing_period(vps.billing_day or at.day, at)
            await repo.set_period(vps, start, end)
        return BillingPeriodOutput(start.isoformat(), end.isoformat())

    @activity.defn(name=SCHEDULE_VPS_DECOMMISSION)
    async def schedule_vps_decommission(self, data: ScheduleDecommissionInput) -> None:
        """Cancel at the provider at the end of the paid period; the row says when."""
        vps = await self._vps(data.tenant_id, data.vps_id)
        if vps.provider_instance_id:
            try:
                await self._provider(vps).cancel(vps.provider_instance_id, at_period_end=True)
            except ProviderRejected as exc:
                raise _rejected(exc) from None
        async with self.db.tenant_session(data.tenant_id) as session:
            repo = VpsRepository(session)
            row = await repo.get(vps.id, for_update=True)
            assert row is not None
            if row.status in ("active", "provisioning", "scheduled_decommission"):
                await repo.save(
                    row,
                    status="scheduled_decommission",
                    decommission_scheduled_for=dt.datetime.fromisoformat(data.at),
                )

    @activity.defn(name=MOVE_VPS_DOMAINS)
    async def move_vps_domains(self, data: VpsRef) -> MoveVpsDomainsOutput:
        async with self.db.tenant_session(data.tenant_id) as session:
            addresses = IpAddressRepository(session)
            own = await addresses.of_vps(UUID(data.vps_id))
            moves = await addresses.move_domains_off([ip.id for ip in own])
        done = [MovedDomain(m.domain, m.from_ip, m.to_ip) for m in moves]
        shared = [ip.id for ip in own if ip.pool == "shared"]
        if shared:
            # A pool server's IPs carry other tenants' domains: a platform job moves them.
            async with self.db.admin_session() as session:
                pool_moves = await move_shared_domains_off(session, shared)
                await tell_moved_tenants(
                    session,
                    pool_moves,
                    "Shared IP server decommissioned",
                    "A server of the shared IP pool is being decommissioned.",
                )
            done += [MovedDomain(m.domain, m.from_ip, m.to_ip) for m in pool_moves]
        return MoveVpsDomainsOutput(done)

    @activity.defn(name=RELEASE_VPS)
    async def release_vps(self, data: ReleaseVpsInput) -> None:
        """The server is cancelled at the provider (now: its period is over, or it failed),
        its addresses released, its status `decommissioned` or `failed` (with the error)."""
        vps = await self._vps(data.tenant_id, data.vps_id)
        if vps.provider_instance_id:
            try:
                await self._provider(vps).cancel(vps.provider_instance_id, at_period_end=False)
            except ProviderRejected as exc:
                raise _rejected(exc) from None
        async with self.db.tenant_session(data.tenant_id) as session:
            await IpAddressRepository(session).release_vps(vps.id)
            repo = VpsRepository(session)
            row = await repo.get(vps.id, for_update=True)
            assert row is not None
            if data.failed:
                await repo.save(row, status="failed", last_error=data.error)
            else:
                await repo.save(row, status="decommissioned")
