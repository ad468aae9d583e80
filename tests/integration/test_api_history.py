"""A restart does not reset a campaign's abandonment: `dialer run` restores the rolling windows,
the life count and the pacer's estimates from the CDRs in Postgres, as /stats, /metrics and the
pacing phase show, and a second start picks up what was written meanwhile."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from dialer.store import campaigns as campaign_repo
from dialer.store.engine import Database
from dialer.store.leads import add_leads
from dialer.store.records import CampaignStatus, NewLead, PacingMode
from rig.asterisk import Asterisk
from tests.integration.api_daemon import Daemon, start_daemon, truncate_all, unique, write_config
from tests.integration.cdr_history import history_rows, write_rows

pytestmark = [pytest.mark.rig]

_LEAD = text("SELECT id FROM leads WHERE list_id = :l")


async def seed(url: str, name: str, *, with_history: bool) -> tuple[Any, ...]:
    db = Database(url)
    try:
        async with db.transaction() as s:
            trunk = await campaign_repo.create_trunk(
                s, name=unique("trunk"), endpoint="trunk", max_channels=5, max_cps=5.0
            )
            c = await campaign_repo.create_campaign(
                s,
                name=name,
                trunk_id=trunk.id,
                caller_id="+15550000000",
                pacing_mode=PacingMode.PREDICTIVE,
                status=CampaignStatus.RUNNING,
            )
            lst = await campaign_repo.create_lead_list(s, c.id, "history")
            await add_leads(s, lst.id, [NewLead(phone="+15551230000")])
            lead_id = (await s.execute(_LEAD, {"l": lst.id})).scalar_one()
        expected = None
        if with_history:
            rows, expected = history_rows(c.id, lead_id, trunk.id, datetime.now(UTC))
            await write_rows(db, rows)
        return c.id, trunk.id, lead_id, expected
    finally:
        await db.dispose()


async def add_abandoned(url: str, campaign_id: int, trunk_id: int, lead_id: int, n: int) -> None:
    """`n` more abandoned calls in the last 24 hours, as another daemon would have written."""
    now = datetime.now(UTC)
    rows, _ = history_rows(campaign_id, lead_id, trunk_id, now, owner="other")
    day = [
        r
        for r in rows
        if r["result"] == "abandoned" and now - r["originated_at"] < timedelta(hours=23)
    ]
    extra = [{**day[i % len(day)], "id": str(uuid.uuid4())} for i in range(n)]
    db = Database(url)
    try:
        await write_rows(db, extra)
    finally:
        await db.dispose()


def samples(d: Daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with d.client(None) as http:
        text_ = http.get("/metrics").text
    out = {}
    for family in text_string_to_metric_families(text_):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def wait_for_sample(d: Daemon, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    deadline = time.monotonic() + 10
    while True:
        found = samples(d).get(key)
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"{name}{labels} not exported"
        time.sleep(0.2)


def live(d: Daemon, campaign: str) -> dict[str, Any]:
    with d.client("supervisor") as http:
        r = http.get(f"/api/v1/campaigns/{campaign}/stats")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["live"]
    return data


def compliance(d: Daemon, campaign: str) -> dict[str, Any]:
    """The campaign's abandonment as the regulators count it, from the CDRs."""
    with d.client("supervisor") as http:
        r = http.get(f"/api/v1/campaigns/{campaign}/stats")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["compliance"]
    return data


def windows(d: Daemon, campaign: str) -> dict[str, tuple[int, int]]:
    deadline = time.monotonic() + 10
    while True:
        found = live(d, campaign)
        if found["loaded"] and found["abandonment"]:
            return {w: (v["answered"], v["abandoned"]) for w, v in found["abandonment"].items()}
        assert time.monotonic() < deadline, f"campaign {campaign} not loaded: {found}"
        time.sleep(0.2)


def test_abandonment_and_estimates_survive_a_restart(
    tmp_path: Path, asterisk: Asterisk, store_db_url: str
) -> None:
    asyncio.run(truncate_all(store_db_url))
    name, fresh = unique("restored"), unique("fresh")
    cid, trunk_id, lead_id, expected = asyncio.run(seed(store_db_url, name, with_history=True))
    asyncio.run(seed(store_db_url, fresh, with_history=False))
    config = write_config(tmp_path, asterisk, store_db_url)

    d = start_daemon(tmp_path, config)
    try:
        got = windows(d, name)
        assert got == {"24h": expected.day, "30d": expected.month, "life": expected.life}
        rate = live(d, name)["abandonment"]["24h"]["rate"]
        assert rate == pytest.approx(8 / 208)
        labels = {"campaign": name, "window": "24h"}
        assert wait_for_sample(d, "dialer_abandonment_ratio", **labels) == pytest.approx(rate)
        assert wait_for_sample(d, "dialer_abandonment_window_answered_calls", **labels) == 208
        life = {"campaign": name, "window": "life"}
        assert wait_for_sample(d, "dialer_abandonment_window_abandoned_calls", **life) == 68
        # The UK gauge has the stored machine verdicts too (5 in the last 24 hours, 10 % of
        # them taken for people): it gives the figure the API computes from the CDRs.
        day = compliance(d, name)["last_24h"]
        assert day["machines"] == 5
        assert day["uk_rate"] == pytest.approx((8 + 0.5) / (208 + 0.5))
        assert wait_for_sample(d, "dialer_abandonment_window_machine_calls", **labels) == 5
        uk = wait_for_sample(d, "dialer_abandonment_uk_ratio", **labels)
        assert uk == pytest.approx(day["uk_rate"])
        # The predictive pacer has its estimates: past warm-up, unlike a campaign with no past.
        assert live(d, name)["pacing"] == "no agents: none ready or busy"
        assert live(d, fresh)["pacing"].startswith("warm-up")
        assert windows(d, fresh) == {"24h": (0, 0), "30d": (0, 0), "life": (0, 0)}
    finally:
        assert d.stop() == 0, d.log()[-3000:]

    # Meanwhile another daemon abandoned 10 more calls; the next start counts them, and the
    # 24-hour window (28 of 218) is now over the 3% cap: the pacer starts capped.
    asyncio.run(add_abandoned(store_db_url, cid, trunk_id, lead_id, 10))
    d = start_daemon(tmp_path, config)
    try:
        got = windows(d, name)
        assert got["24h"] == (expected.day[0] + 10, expected.day[1] + 10)
        assert got["life"] == (expected.life[0] + 10, expected.life[1] + 10)
        assert live(d, name)["pacing"].startswith("capped")
        assert "history restored: 18/218 abandoned over 24 h" in d.log()
    finally:
        assert d.stop() == 0, d.log()[-3000:]
