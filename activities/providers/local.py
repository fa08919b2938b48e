"""The `local` VPS provider: servers on this machine, for `make run` and the tests.

It hands out loopback addresses 127.0.0.2-254 (127.0.0.1 stays the stack's; another /24
of 127/8 when told), each to one
live server at a time whichever tenant ordered it, as a provider owns its address space:
its state is one JSON file shared by every process (an exclusive file lock around each
change). A server becomes active after a short delay and a number of status checks. It can
be told to fail at any stage (`fail`), persistently, so a worker in another process fails
too; `unavailable` makes the next calls of a stage fail as a 5xx would (retried).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from penguinmails.providers import (
    ACTIVE,
    GONE,
    PENDING,
    ProviderInstance,
    ProviderRejected,
    ProviderUnavailable,
)

T = TypeVar("T")
STAGES = ("create", "status", "list_ips", "set_reverse_dns", "cancel")
FIRST_HOST, LAST_HOST = 2, 254


class LocalProvider:
    name = "local"

    def __init__(
        self,
        state_path: Path,
        *,
        activate_after_seconds: float = 2.0,
        activate_after_checks: int = 1,
        monthly_cost: Decimal = Decimal("5.00"),
        subnet: str = "127.0.0",
    ) -> None:
        self.state_path = state_path
        self.activate_after_seconds = activate_after_seconds
        self.activate_after_checks = activate_after_checks
        self.monthly_cost = monthly_cost
        self.subnet = subnet  # the /24 it hands out (tests give each provider its own)

    # -- failure injection -----------------------------------------------------------------

    def fail(self, stage: str, *, times: int | None = None, unavailable: bool = False) -> None:
        """Make `stage` fail: every call (times=None) or the next `times` calls; as a refusal
        (non-retryable) or, with `unavailable`, as an outage (retryable)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; one of {', '.join(STAGES)}")
        with self._state() as state:
            state["failures"][stage] = {"times": times, "unavailable": unavailable}

    def heal(self) -> None:
        with self._state() as state:
            state["failures"] = {}

    # -- VpsProvider -----------------------------------------------------------------------

    async def create(self, region: str, hostname: str) -> ProviderInstance:
        def run(state: dict[str, Any]) -> ProviderInstance:
            self._maybe_fail(state, "create")
            taken = {
                ip for s in state["servers"].values() if s["status"] != GONE for ip in s["ips"]
            }
            hosts = (f"{self.subnet}.{h}" for h in range(FIRST_HOST, LAST_HOST + 1))
            free = [ip for ip in hosts if ip not in taken]
            if not free:
                raise ProviderRejected("local provider: no loopback address left")
            instance_id = f"local-{uuid.uuid4().hex[:12]}"
            now = dt.datetime.now(dt.UTC)
            state["servers"][instance_id] = {
                "region": region,
                "hostname": hostname,
                "ips": [free[0]],
                "status": PENDING,
                "created": now.isoformat(),
                "checks": 0,
                "rdns": {},
                "cancel_at_period_end": False,
            }
            return self._instance(instance_id, state["servers"][instance_id])

        return await self._run(run)

    async def status(self, instance_id: str) -> ProviderInstance:
        def run(state: dict[str, Any]) -> ProviderInstance:
            self._maybe_fail(state, "status")
            server = self._server(state, instance_id)
            server["checks"] += 1
            age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(server["created"])
            if (
                server["status"] == PENDING
                and server["checks"] >= self.activate_after_checks
                and age.total_seconds() >= self.activate_after_seconds
            ):
                server["status"] = ACTIVE
            return self._instance(instance_id, server)

        return await self._run(run)

    async def list_ips(self, instance_id: str) -> list[str]:
        def run(state: dict[str, Any]) -> list[str]:
            self._maybe_fail(state, "list_ips")
            return list(self._server(state, instance_id)["ips"])

        return await self._run(run)

    async def set_reverse_dns(self, instance_id: str, ip: str, name: str) -> None:
        def run(state: dict[str, Any]) -> None:
            self._maybe_fail(state, "set_reverse_dns")
            server = self._server(state, instance_id)
            if ip not in server["ips"]:
                raise ProviderRejected(f"local provider: {ip} is not an address of {instance_id}")
            server["rdns"][ip] = name

        await self._run(run)

    async def cancel(self, instance_id: str, *, at_period_end: bool = True) -> None:
        def run(state: dict[str, Any]) -> None:
            self._maybe_fail(state, "cancel")
            server = state["servers"].get(instance_id)
            if server is None or server["status"] == GONE:
                return
            if at_period_end:
                server["cancel_at_period_end"] = True
            else:
                server["status"] = GONE  # its addresses go back to the pool

        await self._run(run)

    # -- what tests and the dev stack read ---------------------------------------------------

    def servers(self) -> dict[str, dict[str, Any]]:
        with self._state() as state:
            return dict(state["servers"])

    def terminate_due(self, instance_id: str) -> None:
        """What the provider does at the end of the paid period of a server cancelled then."""
        with self._state() as state:
            server = state["servers"].get(instance_id)
            if server is not None and server["cancel_at_period_end"]:
                server["status"] = GONE

    # -- internals ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[[dict[str, Any]], T]) -> T:
        def locked() -> T:
            with self._state() as state:
                return fn(state)

        return await asyncio.to_thread(locked)

    @contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.state_path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    state = json.loads(self.state_path.read_text())
                except FileNotFoundError:
                    state = {"servers": {}, "failures": {}}
                try:
                    yield state
                finally:  # an injected failure counts down even as it raises
                    tmp = self.state_path.with_suffix(".tmp")
                    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
                    tmp.replace(self.state_path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _maybe_fail(state: dict[str, Any], stage: str) -> None:
        failure = state["failures"].get(stage)
        if failure is None:
            return
        if failure["times"] is not None:
            failure["times"] -= 1
            if failure["times"] <= 0:
                del state["failures"][stage]
        if failure["unavailable"]:
            raise ProviderUnavailable(f"local provider: {stage} unavailable (told to fail)")
        raise ProviderRejected(f"local provider: {stage} refused (told to fail)")

    @staticmethod
    def _server(state: dict[str, Any], instance_id: str) -> dict[str, Any]:
        server = state["servers"].get(instance_id)
        if server is None:
            raise ProviderRejected(f"local provider: no server {instance_id}")
        return server  # type: ignore[no-any-return]

    def _instance(self, instance_id: str, server: dict[str, Any]) -> ProviderInstance:
        return ProviderInstance(
            instance_id=instance_id,
            status=server["status"],
            ips=list(server["ips"]) if server["status"] == ACTIVE else [],
            created=dt.datetime.fromisoformat(server["created"]),
            monthly_cost=self.monthly_cost,
        )


__all__ = ["STAGES", "LocalProvider"]
