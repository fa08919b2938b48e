"""The plan catalogue's vocabulary: which limits and features a plan carries (as data in
`plans.limits` / `plans.features`), and the plan a new tenant starts on."""

from __future__ import annotations

# The limits of a plan, in `plans.limits` (a missing key or null: no limit). Monthly sends
# are taken by the outbox's reserve step (`OutboxRepository.take_month_slot`); the others
# where the object is created.
LIMITS = ("mailboxes", "domains", "active_leads", "emails_per_month", "users", "api_keys")
FEATURES = ("ab_variants", "webhooks", "dedicated_ips")
TRIAL_PLAN = "trial"
TRIAL_DAYS = 14

# What Stripe reports, in the order a subscription normally lives (DESIGN: as Stripe says).
PAID_STATUSES = ("active", "trialing", "past_due")


class PlanLimitExceeded(Exception):
    """Creating one more would pass the plan's limit (the API answers 402 `plan_limit`)."""

    def __init__(self, limit: str, allowed: int, used: int) -> None:
        super().__init__(f"the plan allows {allowed} {limit}; {used} in use")
        self.limit = limit
        self.allowed = allowed
        self.used = used
