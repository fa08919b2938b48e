"""Building the engagement part of a campaign's stats from the roll-ups (a pure function of
the rows the repositories return)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

from api.schemas.campaigns import (
    EngagementCounts,
    EngagementRates,
    StepFunnel,
    VariantComparison,
)
from penguinmails.analytics import rate, two_proportion_z
from penguinmails.models.campaigns import CampaignSequenceStep, CampaignStepVariant
from penguinmails.repositories.analytics import Counts, StepVariantCounts


def rates_of(counts: Counts) -> EngagementRates:
    v, sent = counts.values, counts.values["sent"]
    return EngagementRates(
        open_rate=rate(v["opened"], sent),
        click_rate=rate(v["clicked"], sent),
        reply_rate=rate(v["replied"], sent),
        bounce_rate=rate(v["bounced"], sent),
        complaint_rate=rate(v["complained"], sent),
        unsubscribe_rate=rate(v["unsubscribed"], sent),
    )


def engagement_report(
    rows: list[StepVariantCounts],
    steps: list[CampaignSequenceStep],
    variants: list[CampaignStepVariant],
) -> dict[str, Any]:
    totals = Counts()
    by_step: dict[UUID, Counts] = defaultdict(Counts)
    by_variant: dict[tuple[UUID, UUID], Counts] = defaultdict(Counts)
    for row in rows:
        totals.add(row.counts)
        if row.step_id is not None:
            by_step[row.step_id].add(row.counts)
            if row.variant_id is not None:
                by_variant[(row.step_id, row.variant_id)].add(row.counts)
    funnel = [
        StepFunnel(
            step_id=step.id,
            step_order=step.step_order,
            counts=EngagementCounts(**by_step[step.id].values),
            rates=rates_of(by_step[step.id]),
        )
        for step in sorted(steps, key=lambda s: s.step_order)
        if step.step_type == "email"
    ]
    comparisons: list[VariantComparison] = []
    per_step: dict[UUID, list[CampaignStepVariant]] = defaultdict(list)
    for variant in variants:
        per_step[variant.step_id].append(variant)
    for step_id, options in per_step.items():
        if len(options) < 2:
            continue
        control = options[0]
        base = by_variant[(step_id, control.id)].values
        for variant in options:
            mine = by_variant[(step_id, variant.id)].values
            test = two_proportion_z(base["replied"], base["sent"], mine["replied"], mine["sent"])
            comparisons.append(
                VariantComparison(
                    step_id=step_id,
                    variant_id=variant.id,
                    label=variant.label,
                    control_variant_id=control.id,
                    sent=mine["sent"],
                    replied=mine["replied"],
                    reply_rate=rate(mine["replied"], mine["sent"]),
                    reply_rate_difference=round(
                        rate(mine["replied"], mine["sent"]) - rate(base["replied"], base["sent"]), 2
                    ),
                    z=test.z if test and variant.id != control.id else None,
                    p_value=test.p_value if test and variant.id != control.id else None,
                    significant=bool(test and test.significant and variant.id != control.id),
                )
            )
    return {
        "totals": EngagementCounts(**totals.values),
        "rates": rates_of(totals),
        "funnel": funnel,
        "variants": comparisons,
    }


__all__ = ["engagement_report", "rates_of"]
