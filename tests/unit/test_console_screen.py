"""What the agent's screen shows of a lead, and the hub that wakes open screens."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from dialer.console.screen import ScreenHub, lead_card, local_time
from dialer.core.observe import AgentChanged, CallChanged, PacingDecided


def test_the_name_comes_from_a_name_column_and_the_rest_are_fields() -> None:
    card = lead_card({"Name": "Ada Lovelace", "plan": "gold", "debt": 120.5, "vip": True})
    assert card.name == "Ada Lovelace"
    assert card.fields == {"plan": "gold", "debt": "120.5", "vip": "yes"}


def test_else_from_first_and_last_names() -> None:
    card = lead_card({"first_name": "Ivan", "Last Name": "Petrov", "city": "Tver"})
    assert card.name == "Ivan Petrov"
    assert card.fields == {"city": "Tver"}


def test_a_lead_without_a_name_keeps_every_field() -> None:
    card = lead_card({"name": " ", "account": "A-17"})
    assert card.name == ""
    assert card.fields == {"name": " ", "account": "A-17"}


def test_local_time_in_the_leads_zone() -> None:
    instant = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert local_time("America/New_York", instant) == (
        "2026-07-01T08:00:00-04:00",
        "America/New_York",
    )
    assert local_time("Europe/Moscow", instant) == ("2026-07-01T15:00:00+03:00", "Europe/Moscow")
    assert local_time("Not/AZone", instant) == ("2026-07-01T12:00:00+00:00", "UTC")


async def test_the_hub_wakes_the_screens_of_the_agent_that_changed() -> None:
    hub = ScreenHub()
    mine, also_mine, other = hub.open(7), hub.open(7), hub.open(8)
    hub.observe(AgentChanged("c", "7", "ready", 1.0))
    hub.observe(CallChanged("c", "call-1", 3, "connected", None, "7", 2.0))  # coalesced
    hub.observe(CallChanged("c", "call-2", 4, "ringing", None, None, 2.0))  # no agent
    hub.observe(PacingDecided("c", 1, 1.0, "", 3.0))
    assert mine.qsize() == 1 and also_mine.qsize() == 1 and other.qsize() == 0
    assert await mine.get() is True
    hub.shut(7, also_mine)
    hub.close()
    assert await asyncio.wait_for(mine.get(), 1) is False
    assert await asyncio.wait_for(other.get(), 1) is False
    assert also_mine.qsize() == 1  # shut before the close: not told
    assert hub.closed


def test_closing_replaces_a_pending_wake_up() -> None:
    hub = ScreenHub()
    queue = hub.open(1)
    hub.observe(AgentChanged("c", "1", "paused", 1.0))
    hub.close()
    assert queue.get_nowait() is False
    hub.shut(1, queue)
    assert hub.open_screens() == 0
