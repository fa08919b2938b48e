"""Warmup activities: the daily step of the ramp (today's cap in OLTP, where the send
transaction reads it) and the status changes. Idempotent: a step is keyed by its date."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.interfaces.warmups import (
    ADVANCE_WARMUP,
    SET_WARMUP_STATUS,
    AdvanceWarmupInput,
    SetWarmupStatusInput,
    WarmupProgress,
)
from penguinmails.db import Database
from penguinmails.models.infra import Warmup
from penguinmails.repositories.warmups import WarmupRepository
from penguinmails.warmup import STOP_SIGNALS, RampCurve, next_step


def _progress(w: Warmup) -> WarmupProgress:
    return WarmupProgress(w.status, w.day, w.today_cap, w.last_reason)


class WarmupActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn(name=ADVANCE_WARMUP)
    async def advance_warmup(self, data: AdvanceWarmupInput) -> WarmupProgress:
        date = dt.datetime.fromisoformat(data.at).astimezone(dt.UTC).date()
        async with self.db.tenant_session(data.tenant_id) as session:
            repo = WarmupRepository(session)
            warmup = await repo.get(UUID(data.warmup_id), for_update=True)
            if warmup is None:
                raise ApplicationError("no such warmup", type="WarmupGone", non_retryable=True)
            if warmup.status in ("completed", "stopped", "paused"):
                return _progress(warmup)
            burned = [s for s in data.signals if s in STOP_SIGNALS]
            if burned:
                await repo.finish(warmup, "stopped", "burned")
                return _progress(warmup)
            step = next_step(RampCurve.from_dict(warmup.curve), warmup.day, date, data.signals)
            await repo.advance(warmup, date, step)
            if step.done:
                await repo.finish(warmup, "completed", "target reached")
            return _progress(warmup)

    @activity.defn(name=SET_WARMUP_STATUS)
    async def set_warmup_status(self, data: SetWarmupStatusInput) -> WarmupProgress:
        async with self.db.tenant_session(data.tenant_id) as session:
            repo = WarmupRepository(session)
            warmup = await repo.get(UUID(data.warmup_id), for_update=True)
            if warmup is None:
                raise ApplicationError("no such warmup", type="WarmupGone", non_retryable=True)
            if warmup.status in ("completed", "stopped"):
                return _progress(warmup)
            if data.status == "stopped":
                await repo.finish(warmup, "stopped", data.reason or "stopped")
            elif warmup.status != data.status:
                await repo.set_status(warmup, data.status, data.reason)
            return _progress(warmup)
