"""The `hostwinds` VPS provider: a client of the Hostwinds Cloud API.

The API is one endpoint (`POST {base}/cloud/api.php`) taking form fields: `action` names
the operation and `API` carries the key. Success answers `{"success": ...}`; a refusal is
HTTP 200 with `{"error": "..."}` (the API reports its errors in the body, not the status).
Operations used: `add_instance` (template, rid, location_id), `get_instance` (serviceid),
`get_instance_ips` (serviceid), `update_rdns` (serviceid, ip, rdns) and
`cancel_instance` (serviceid, type: end_of_billing_period | immediate).

Retries: a timeout, a connection error or a 5xx is retried here a few times with
exponential backoff, then raised as `ProviderUnavailable` (the activity's retry policy
takes over); a 4xx or an error answer is `ProviderRejected`, never retried.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from penguinmails.providers import (
    ACTIVE,
    GONE,
    PENDING,
    ProviderInstance,
    ProviderRejected,
    ProviderUnavailable,
)

log = logging.getLogger(__name__)

# Hostwinds `status` values: everything else is still being built.
_ACTIVE = {"active"}
_GONE = {"terminated", "cancelled", "deleted"}
_UNKNOWN_INSTANCE = ("not found", "invalid serviceid", "no such")


class HostwindsProvider:
    name = "hostwinds"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://clients.hostwinds.com",
        template: str = "ubuntu-22.04",
        plan_rid: str = "1",
        locations: dict[str, str] | None = None,
        timeout: float = 15.0,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_key = api_key
        self.url = base_url.rstrip("/") + "/cloud/api.php"
        self.template = template
        self.plan_rid = plan_rid
        self.locations = locations or {}
        self.timeout = timeout
        self.attempts = max(attempts, 1)
        self.backoff_seconds = backoff_seconds
        self._transport = transport

    def __repr__(self) -> str:  # no key in reprs or logs
        return f"HostwindsProvider(url={self.url!r})"

    async def create(self, region: str, hostname: str) -> ProviderInstance:
        answer = await self._call(
            "add_instance",
            template=self.template,
            rid=self.plan_rid,
            location_id=self.locations.get(region, region),
            hostname=hostname,
        )
        service_id = _first(answer).get("serviceid")
        if service_id is None:
            raise ProviderRejected("hostwinds add_instance answered without a serviceid")
        return await self.status(str(service_id))

    async def status(self, instance_id: str) -> ProviderInstance:
        data = _first(await self._call("get_instance", serviceid=instance_id))
        raw = str(data.get("status", "")).lower()
        status = ACTIVE if raw in _ACTIVE else GONE if raw in _GONE else PENDING
        ips = [str(data["main_ip"])] if data.get("main_ip") else []
        ips += [str(ip) for ip in data.get("ips") or [] if str(ip) not in ips]
        return ProviderInstance(
            instance_id=str(data.get("serviceid", instance_id)),
            status=status,
            ips=ips if status == ACTIVE else [],
            created=_timestamp(data.get("created_at")),
            monthly_cost=_money(data.get("recurring_amount")),
        )

    async def list_ips(self, instance_id: str) -> list[str]:
        answer = await self._call("get_instance_ips", serviceid=instance_id)
        items = answer if isinstance(answer, list) else [answer]
        ips: list[str] = []
        for item in items:
            ip = item.get("ip") if isinstance(item, dict) else item
            if ip and str(ip) not in ips:
                ips.append(str(ip))
        return ips

    async def set_reverse_dns(self, instance_id: str, ip: str, name: str) -> None:
        await self._call("update_rdns", serviceid=instance_id, ip=ip, rdns=name)

    async def cancel(self, instance_id: str, *, at_period_end: bool = True) -> None:
        kind = "end_of_billing_period" if at_period_end else "immediate"
        try:
            await self._call("cancel_instance", serviceid=instance_id, type=kind)
        except ProviderRejected as exc:
            if any(s in str(exc).lower() for s in (*_UNKNOWN_INSTANCE, "already")):
                return  # cancelled before, or never built: nothing left to cancel
            raise

    async def _call(self, action: str, **fields: str) -> Any:
        form = {"action": action, "API": self._api_key, **fields}
        delay = self.backoff_seconds
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                async with httpx.AsyncClient(
                    timeout=self.timeout, transport=self._transport
                ) as client:
                    response = await client.post(self.url, data=form)
            except httpx.TransportError as exc:  # timeouts, refused, reset
                last = f"{type(exc).__name__}"
            else:
                if response.status_code >= 500:
                    last = f"HTTP {response.status_code}"
                elif response.status_code >= 400:
                    raise ProviderRejected(
                        f"hostwinds {action}: HTTP {response.status_code}: {_error(response)}"
                    )
                else:
                    body = _json(response)
                    if isinstance(body, dict) and "error" in body:
                        raise ProviderRejected(f"hostwinds {action}: {body['error']}")
                    if isinstance(body, dict) and "success" in body:
                        return body["success"]
                    raise ProviderRejected(f"hostwinds {action}: unexpected answer")
            log.warning("hostwinds %s attempt %d/%d: %s", action, attempt, self.attempts, last)
            if attempt < self.attempts:
                await asyncio.sleep(delay)
                delay *= 2
        raise ProviderUnavailable(f"hostwinds {action}: {last} after {self.attempts} attempts")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error(response: httpx.Response) -> str:
    body = _json(response)
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return response.reason_phrase


def _first(answer: Any) -> dict[str, Any]:
    if isinstance(answer, list):
        answer = answer[0] if answer else {}
    if not isinstance(answer, dict):
        raise ProviderRejected("hostwinds answered with an unexpected shape")
    return answer


def _timestamp(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _money(value: Any) -> Decimal | None:
    try:
        return None if value in (None, "") else Decimal(str(value))
    except InvalidOperation:
        return None


__all__ = ["HostwindsProvider"]
