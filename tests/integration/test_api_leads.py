"""Lead import over HTTP into the real Postgres: messy real-world files, every rejected row
reported with its line and reason, accepted rows stored even when others are bad, numbers
already in the list reported on a second import, NDJSON progress, and 100,000 rows."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from dialer.store.engine import Database
from rig.asterisk import Asterisk
from tests.integration.api_daemon import Daemon, serve_one, unique

pytestmark = [pytest.mark.rig]

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory, asterisk: Asterisk, store_db_url: str
) -> Iterator[Daemon]:
    yield from serve_one(tmp_path_factory, asterisk, store_db_url, "api-leads")


@pytest.fixture
def http(daemon: Daemon) -> Iterator[httpx.Client]:
    with daemon.client("supervisor") as client:
        yield client


@pytest.fixture
def campaign(daemon: Daemon, http: httpx.Client) -> str:
    with daemon.client("admin") as admin:
        trunk = unique("trunk")
        body = {"name": trunk, "endpoint": "trunk", "max_channels": 4, "max_cps": 2}
        assert admin.post("/api/v1/trunks", json=body).status_code == 201
    name = unique("leads")
    body = {"name": name, "trunk": trunk, "caller_id": "+15550000000"}
    assert http.post("/api/v1/campaigns", json=body).status_code == 201
    return name


def upload(http: httpx.Client, campaign: str, data: bytes | str, **params: Any) -> httpx.Response:
    ctype = params.pop("content_type", "text/csv")
    return http.post(
        f"/api/v1/campaigns/{campaign}/leads",
        content=data,
        params=params,
        headers={"Content-Type": ctype},
    )


def stored(db_url: str, campaign: str, list_name: str = "default") -> dict[str, tuple[Any, ...]]:
    async def query() -> dict[str, tuple[Any, ...]]:
        db = Database(db_url)
        try:
            async with db.transaction() as s:
                rows = await s.execute(
                    text(
                        "SELECT l.phone, l.time_zone, l.priority, l.extra, l.status "
                        "FROM leads l JOIN lead_lists ll ON ll.id = l.list_id "
                        "JOIN campaigns c ON c.id = ll.campaign_id "
                        "WHERE c.name = :c AND ll.name = :l"
                    ),
                    {"c": campaign, "l": list_name},
                )
                return {r[0]: tuple(r[1:]) for r in rows}
        finally:
            await db.dispose()

    return asyncio.run(query())


def lines_of(report: dict[str, Any]) -> dict[int, str]:
    return {r["line"]: f"{r['code']}: {r['reason']}" for r in report["rejected"]}


def test_crm_export_stores_the_good_rows_and_reports_each_bad_one(
    http: httpx.Client, campaign: str, store_db_url: str
) -> None:
    r = upload(http, campaign, (DATA / "crm_export_us.csv").read_bytes(), region="US")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["rows"] == 12
    assert report["inserted"] == 6
    assert report["rejected_count"] == 6
    assert lines_of(report) == {
        6: "bad_field: unknown time zone 'Mars/Olympus_Mons'",
        9: "invalid: not a phone number",
        10: "duplicate_in_file: duplicate of line 2",
        11: "bad_field: priority must be a whole number, got 'high'",
        12: "invalid: not a valid number in US",
        14: "bad_field: unknown country 'ZZ'",
    }
    assert report["counts"] == {
        "invalid": 2,
        "duplicate_in_file": 1,
        "already_in_list": 0,
        "bad_field": 3,
    }
    assert report["zone_sources"] == {"column": 1, "number": 4, "default": 1}
    leads = stored(store_db_url, campaign)
    assert set(leads) == {
        "+14155552671",
        "+14155552672",
        "+12125550123",
        "+442079460959",
        "+33698765432",
        "+18005550199",
    }
    tz, priority, extra, status = leads["+14155552672"]
    assert (tz, priority, status) == ("America/Los_Angeles", 5, "new")
    assert extra == {"id": "2", "name": "Jane Roe"}
    assert leads["+12125550123"][0] == "America/New_York"
    assert leads["+12125550123"][2]["notes"] == "two\nlines of notes"
    assert leads["+18005550199"][0] == "UTC"

    # The same file again: every good number is now already in the list.
    again = upload(http, campaign, (DATA / "crm_export_us.csv").read_bytes(), region="US").json()
    assert again["inserted"] == 0
    assert again["counts"]["already_in_list"] == 6
    assert lines_of(again)[2] == "already_in_list: already in the list"


@pytest.mark.parametrize(
    ("name", "region", "inserted", "rejected"),
    [
        ("excel_fr_semicolon_bom.csv", "FR", 4, {7, 8, 10}),
        ("cp1252_tabs.txt", "FR", 3, set()),
        ("excel_utf16.txt", None, 2, set()),
        ("numbers_only.txt", None, 3, set()),
        ("unquoted_comma.csv", "US", 2, {3}),
    ],
)
def test_messy_files(
    http: httpx.Client,
    campaign: str,
    name: str,
    region: str | None,
    inserted: int,
    rejected: set[int],
) -> None:
    params = {"region": region} if region else {}
    r = upload(http, campaign, (DATA / name).read_bytes(), list=unique("list"), **params)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["inserted"] == inserted
    assert {x["line"] for x in report["rejected"]} == rejected


def test_json_import_into_a_named_list(
    http: httpx.Client, campaign: str, store_db_url: str
) -> None:
    r = upload(
        http,
        campaign,
        (DATA / "leads.json").read_bytes(),
        content_type="application/json",
        list="from-json",
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["format"] == "json"
    assert report["list_name"] == "from-json"
    assert report["inserted"] == 3
    assert lines_of(report) == {
        3: "invalid: not a phone number",
        4: "bad_field: no phone field",
        7: "duplicate_in_file: duplicate of line 1",
    }
    leads = stored(store_db_url, campaign, "from-json")
    assert leads["+33612345678"][0] == "Europe/Paris"
    assert leads["+14155552671"][1] == 3
    lists = {x["name"]: x for x in http.get(f"/api/v1/campaigns/{campaign}/lists").json()}
    assert lists["from-json"]["leads"]["new"] == 3


def test_errors_before_anything_is_stored(http: httpx.Client, campaign: str) -> None:
    r = upload(http, campaign, "phone\n0612345678\n", region="XX")
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "region"]
    r = upload(http, campaign, "phone\n+14155550100\n", time_zone="Mars/Base")
    assert r.json()["detail"][0]["loc"] == ["query", "time_zone"]
    r = upload(http, campaign, (DATA / "excel_fr_semicolon_bom.csv").read_bytes(), delimiter=",")
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body"]
    assert "no phone column" in detail["msg"]
    r = upload(http, campaign, "")
    assert r.status_code == 422
    assert r.json()["detail"][0]["msg"] == "the file is empty"
    r = upload(http, "no-such-campaign", "phone\n+14155550100\n")
    assert r.status_code == 404
    assert http.get(f"/api/v1/campaigns/{campaign}/lists").json() == []


def test_ndjson_progress_stream(http: httpx.Client, campaign: str) -> None:
    numbers = (f"+1212{555 + i // 10_000}{i % 10_000:04d}" for i in range(12_000))
    body = "phone\n" + "\n".join(numbers) + "\n"
    with http.stream(
        "POST",
        f"/api/v1/campaigns/{campaign}/leads",
        content=body,
        params={"check": "possible"},
        headers={"Content-Type": "text/csv", "Accept": "application/x-ndjson"},
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        items = [json.loads(line) for line in r.iter_lines() if line]
    progress = [i for i in items if "phase" in i]
    done = [p["done"] for p in progress]
    assert (done[0], done[-1]) == (0, 12_000)
    assert done == sorted(set(done))
    assert len(done) >= 4  # progress during the import, not only at its ends
    assert {p["phase"] for p in progress} == {"importing"}
    # The total is estimated from the bytes read until the body has all been read.
    assert progress[-1]["total"] == 12_000
    assert all(p["done"] <= p["total"] <= 13_000 for p in progress), progress
    assert items[-1]["report"]["inserted"] == 12_000


def test_hundred_thousand_rows_in_seconds(
    http: httpx.Client, campaign: str, store_db_url: str
) -> None:
    # Mixed real-world shapes: national with punctuation, international, trunk prefix 1,
    # and a few bad rows.
    lines = ["first_name,last_name,Phone Number,email"]
    for i in range(100_000):
        n = f"{201 + 7 * (i // 10_000):03d}{i % 10_000:04d}"  # unique per i
        shape = i % 4
        if shape == 0:
            phone = f"(212) {n[:3]}-{n[3:]}"
        elif shape == 1:
            phone = f"+1 415 {n[:3]} {n[3:]}"
        elif shape == 2:
            phone = f"1-646-{n[:3]}-{n[3:]}"
        else:
            phone = f"718.{n[:3]}.{n[3:]}"
        if i % 10_000 == 9_999:
            phone = "unknown"
        lines.append(f"First{i},Last{i},{phone},p{i}@example.com")
    data = ("\n".join(lines) + "\n").encode()
    started = time.perf_counter()
    r = upload(http, campaign, data, region="US", list="big")
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.text[:500]
    report = r.json()
    assert report["rows"] == 100_000
    assert report["counts"]["invalid"] == 10
    assert report["counts"]["duplicate_in_file"] == 0
    assert report["inserted"] + report["rejected_count"] == 100_000
    assert report["inserted"] == 99_990
    assert len(stored(store_db_url, campaign, "big")) == report["inserted"]
    print(f"100,000 rows over HTTP: {elapsed:.2f} s (server {report['seconds']:.2f} s)")
    assert elapsed < 30, f"{elapsed:.1f} s"
