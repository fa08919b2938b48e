"""What the IP and mailbox warmup workflows share (not a workflow itself): a day's ramp
step at each UTC midnight, reputation signals kept until that step, `pause`/`resume`/`stop`
as updates with validators, and continue-as-new after each day, so a 60-day warmup keeps a
history of one day.

A `burned` signal stops at once; `bounce`/`complaint` hold the next step; `blocklist`
steps it back (the ramp itself is `penguinmails.warmup`, applied by the activity).

A ramp day is a UTC day, unless the input's `day_seconds` is set (development only, where
the Temporal server cannot skip time: `WARMUP_DAY_SECONDS`): then day N ends `N *
day_seconds` after the warmup's first run, and its step is keyed by a simulated date (the
first run's UTC date + N days), so each simulated day still has a date of its own and a
retried step stays idempotent.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.interfaces.warmups import (
        ADVANCE_WARMUP,
        SET_WARMUP_STATUS,
        AdvanceWarmupInput,
        SetWarmupStatusInput,
        WarmupProgress,
    )

SIGNAL_KINDS = ("bounce", "complaint", "blocklist", "burned")
RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=5))


@dataclass
class WarmupState:
    status: str = "active"
    day: int = 0
    cap: int = 0
    reason: str | None = None
    pending_signals: list[str] = field(default_factory=list)
    days_run: int = 0  # ramp steps taken, across continue-as-new
    # With simulated days: the first run's start (ISO 8601 UTC), day 0 of the clock.
    sim_start: str | None = None


@dataclass(frozen=True)
class WarmupInput:
    tenant_id: str
    warmup_id: str
    state: WarmupState | None = None  # carried over by continue-as-new
    # Development only: a ramp day lasts this many seconds (None: real UTC days).
    day_seconds: int | None = None


@dataclass(frozen=True)
class ReputationSignal:
    kind: str  # bounce, complaint, blocklist, burned
    detail: str | None = None


@dataclass(frozen=True)
class WarmupCommand:
    reason: str | None = None


class WarmupRamp:
    # The input at construction: an update can arrive in the first activation, before the
    # run method's body, and its handler needs the ids and the carried-over state.
    @workflow.init
    def __init__(self, data: WarmupInput) -> None:
        self._state = data.state or WarmupState()
        self._tenant_id = data.tenant_id
        self._warmup_id = data.warmup_id

    async def _run(self, data: WarmupInput) -> WarmupState:
        s = self._state
        deadline, date = self._day_end(data)
        await self._until(data, deadline)
        if s.status in ("stopped", "completed"):
            await workflow.wait_condition(workflow.all_handlers_finished)
            return s
        signals = list(s.pending_signals)
        at = workflow.now().isoformat() if date is None else date.isoformat()
        progress: WarmupProgress = await workflow.execute_activity(
            ADVANCE_WARMUP,
            AdvanceWarmupInput(data.tenant_id, data.warmup_id, at, signals),
            result_type=WarmupProgress,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RETRY,
        )
        del s.pending_signals[: len(signals)]  # those that came during the step wait
        self._apply(progress)
        s.days_run += 1
        if progress.done:
            await workflow.wait_condition(workflow.all_handlers_finished)
            return s
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(replace(data, state=s))

    def _day_end(self, data: WarmupInput) -> tuple[datetime, datetime | None]:
        """When today's step is due, and the simulated date it is keyed by (None: a real
        day, keyed by the clock at the step)."""
        now = workflow.now()
        if not data.day_seconds:
            midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            return midnight, None
        s = self._state
        if s.sim_start is None:
            s.sim_start = now.isoformat()
        start = datetime.fromisoformat(s.sim_start)
        days = s.days_run + 1
        first_midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        return start + days * self._day_length(data), first_midnight + timedelta(days=days)

    @staticmethod
    def _day_length(data: WarmupInput) -> timedelta:
        return timedelta(seconds=data.day_seconds) if data.day_seconds else timedelta(days=1)

    def _ended(self) -> bool:
        s = self._state
        return s.status in ("stopped", "completed") or "burned" in s.pending_signals

    async def _until(self, data: WarmupInput, deadline: datetime) -> None:
        """Wait for the day's step at `deadline`, or less when the warmup ends; a kind of
        warmup with work during the day (the mailbox's exchange rounds) does it here."""
        await self._wait(deadline)

    async def _wait(self, deadline: datetime) -> bool:
        """Until `deadline` (True) or the warmup's end (False)."""
        remaining = deadline - workflow.now()
        if remaining <= timedelta(0):
            return not self._ended()
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(self._ended, timeout=remaining)
            return False
        return True

    def _apply(self, progress: WarmupProgress) -> None:
        s = self._state
        s.status, s.day, s.cap, s.reason = (
            progress.status,
            progress.day,
            progress.cap,
            progress.reason,
        )

    async def _set(self, status: str, reason: str | None) -> WarmupState:
        progress: WarmupProgress = await workflow.execute_activity(
            SET_WARMUP_STATUS,
            SetWarmupStatusInput(self._tenant_id, self._warmup_id, status, reason),
            result_type=WarmupProgress,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RETRY,
        )
        self._apply(progress)
        return self._state

    @workflow.signal
    def reputation(self, signal: ReputationSignal) -> None:
        if signal.kind in SIGNAL_KINDS:
            self._state.pending_signals.append(signal.kind)
        else:
            workflow.logger.warning("unknown reputation signal %r ignored", signal.kind)

    @workflow.update
    async def pause(self, command: WarmupCommand) -> WarmupState:
        return await self._set("paused", command.reason or "paused")

    @pause.validator
    def _validate_pause(self, command: WarmupCommand) -> None:
        if self._state.status not in ("active", "held"):
            raise ValueError(f"a {self._state.status} warmup cannot be paused")

    @workflow.update
    async def resume(self, command: WarmupCommand) -> WarmupState:
        return await self._set("active", command.reason or "resumed")

    @resume.validator
    def _validate_resume(self, command: WarmupCommand) -> None:
        if self._state.status != "paused":
            raise ValueError(f"a {self._state.status} warmup cannot be resumed")

    @workflow.update
    async def stop(self, command: WarmupCommand) -> WarmupState:
        return await self._set("stopped", command.reason or "stopped")

    @stop.validator
    def _validate_stop(self, command: WarmupCommand) -> None:
        if self._state.status in ("stopped", "completed"):
            raise ValueError(f"the warmup is {self._state.status} already")

    @workflow.query
    def get_state(self) -> WarmupState:
        return self._state
