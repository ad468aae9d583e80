"""The HTTP API refuses a campaign that needs a capability its PBX adapter does not declare
(answering-machine detection, on FreeSWITCH): start, resume and switching AMD on while it dials
are 409 with the capability named, and nothing changes.

In-process, on the test database: the API app over an engine whose adapter is FreeSWITCH's,
never started. Each refusal comes before the engine is asked anything, so no PBX is needed;
what a PBX does with a call is shown on the rig."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dialer.api import queries
from dialer.api.app import build_app
from dialer.api.auth import TokenTable
from dialer.api.context import ApiContext
from dialer.engine.engine import Engine
from dialer.pbx import Capability
from dialer.settings import DatabaseSettings, DialerSettings, HttpSettings, PbxSettings, Settings
from dialer.store import campaigns as campaign_repo
from dialer.store.engine import Database
from dialer.store.records import CampaignStatus
from dialer.store.rules_gateway import RulesStore
from esl_bridge.adapter import build

TOKEN = "capabilities-test-admin-token"
AMD = Capability.ANSWERING_MACHINE_DETECTION.value


@pytest.fixture
async def api(
    store_db: Database, store_db_url: str, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database=DatabaseSettings(url=store_db_url),
        pbx=PbxSettings(kind="freeswitch", port=8021, secret="unused"),
        dialer=DialerSettings(owner="capabilities", state_dir=str(tmp_path)),
        http=HttpSettings(admin_token=TOKEN),
    )
    adapter = build(settings.pbx)  # as the registry builds it; not started
    assert AMD not in {c.value for c in adapter.capabilities}
    engine = Engine(adapter, RulesStore(store_db, "capabilities#1", 300.0), settings.dialer)
    ctx = ApiContext(settings, store_db, engine, TokenTable.from_settings(settings.http))
    transport = httpx.ASGITransport(app=build_app(ctx))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://dialer.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        yield client


async def test_a_campaign_needing_amd_is_refused_on_a_pbx_without_it(
    api: httpx.AsyncClient, store_db: Database
) -> None:
    r = await api.post(
        "/api/v1/trunks",
        json={"name": "carrier", "endpoint": "trunk", "max_channels": 4, "max_cps": 2.0},
    )
    assert r.status_code == 201, r.text
    body = {"name": "screened", "trunk": "carrier", "caller_id": "+15550000000"}
    r = await api.post("/api/v1/campaigns", json={**body, "amd_enabled": True})
    assert r.status_code == 201, r.text  # a draft may ask for it: it dials nothing

    r = await api.post("/api/v1/campaigns/screened/start")
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert f"{AMD} (for amd_enabled)" in detail and "'screened'" in detail
    assert (await api.get("/api/v1/campaigns/screened")).json()["status"] == "draft"

    # Paused with AMD off (as if started without it): resuming is fine to ask, switching AMD
    # on is refused, and with AMD on (stored by hand) resuming is refused.
    r = await api.patch("/api/v1/campaigns/screened", json={"amd_enabled": False})
    assert r.status_code == 200, r.text
    campaign_id = r.json()["id"]
    async with store_db.transaction() as s:
        await campaign_repo.set_campaign_status(s, campaign_id, CampaignStatus.PAUSED)
    r = await api.patch("/api/v1/campaigns/screened", json={"amd_enabled": True})
    assert r.status_code == 409 and AMD in r.json()["detail"], r.text
    got = (await api.get("/api/v1/campaigns/screened")).json()
    assert (got["amd_enabled"], got["status"]) == (False, "paused")
    async with store_db.transaction() as s:
        await queries.update_campaign(s, campaign_id, {"amd_enabled": True})
    r = await api.post("/api/v1/campaigns/screened/resume")
    assert r.status_code == 409 and AMD in r.json()["detail"], r.text
    assert (await api.get("/api/v1/campaigns/screened")).json()["status"] == "paused"
