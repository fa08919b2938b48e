"""The campaign engine's pure parts: workflow ids, the pause reasons both sides know, and a
campaign's sending window read from its configuration."""

from __future__ import annotations

from datetime import date, time

import pytest

from activities.interfaces.campaigns import PAUSE_REASONS
from penguinmails.models.campaigns import PAUSE_REASONS as SCHEMA_PAUSE_REASONS
from penguinmails.scheduling import InvalidWindow, window_from_config
from workflows.names import (
    SEARCH_ATTRIBUTES,
    campaign_workflow_id,
    lead_sequence_prefix,
    lead_sequence_workflow_id,
)


def test_workflow_ids_follow_kind_tenant_entity() -> None:
    assert campaign_workflow_id("t", "c") == "campaign:t:c"
    assert lead_sequence_workflow_id("t", "c", "l") == "lead-sequence:t:c:l"
    assert lead_sequence_workflow_id("t", "c", "l").startswith(lead_sequence_prefix("t", "c"))


def test_search_attributes_stay_within_the_dev_servers_ten_keywords() -> None:
    names = [key.name for key in SEARCH_ATTRIBUTES]
    assert "CampaignStatus" in names and len(set(names)) == len(names) <= 10


def test_the_workflows_pause_reasons_are_the_schemas() -> None:
    assert tuple(PAUSE_REASONS) == tuple(SCHEMA_PAUSE_REASONS)


def test_a_campaign_window_from_its_configuration_or_business_hours() -> None:
    default = window_from_config({})
    assert (default.start, default.end, default.days) == (time(9), time(17), frozenset(range(1, 6)))
    window = window_from_config(
        {
            "sending_window": {
                "start": "22:00",
                "end": "02:30",
                "days": [6, 7],
                "holidays": ["2026-12-26"],
            }
        }
    )
    assert window.overnight and window.days == frozenset({6, 7})
    assert window.holidays == frozenset({date(2026, 12, 26)})
    for bad in (
        {"start": "9am"},
        {"days": ["x"]},
        {"start": "10:00", "end": "10:00"},
        {"days": []},
    ):
        with pytest.raises(InvalidWindow):
            window_from_config({"sending_window": bad})
