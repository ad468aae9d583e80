"""No field from the API reaches the PBX unchecked: every value bound for AMI or ESL (agent
endpoints, trunk endpoints and dial prefixes, caller IDs, the abandon message's number and
sounds) that breaks the grammar of dialer/domain/pbx_values.py is a 422 naming the field, on
create and on edit, and nothing is stored.

Malformed input of any kind is a 4xx naming the problem, never a 500: over-long fields and
records, very wide or huge CSV headers, deeply nested JSON, bytes that are not UTF-8, NUL
characters, NaN; in lead imports (a whole-file problem is a 422 and nothing is stored, a bad row
is rejected alone) and in every JSON body. A streamed import of 20,000 rows keeps only the
first 1,000 rejected rows in its report and counts the rest."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from dialer.store.engine import Database
from rig.asterisk import Asterisk
from tests.integration.api_daemon import (
    REPO,
    Daemon,
    new_campaign,
    new_trunk,
    serve_one,
    unique,
    write_config,
)

pytestmark = [pytest.mark.rig]

CRLF_SYSTEM = "x\r\nApplication: System\r\nData: touch /tmp/dialer-injected"
CRLF_DIAL = "x\r\nApplication: Dial\r\nData: PJSIP/+19005550100@trunk"
TOLL = "+19005550100@trunk"
# What an attacker would try in a name (an endpoint): header injection, a dial string through a
# trunk, another channel technology, a NUL, one over long.
NAME_ATTEMPTS = [
    CRLF_SYSTEM,
    CRLF_DIAL,
    "agent1\nApplication: System",
    TOLL,
    "PJSIP/x",
    "agent1,x",
    "agent1 x",
    "agent1\x00",
    "a" * 65,
]
# ... and in a number (caller IDs, the call-back number, a dial prefix).
NUMBER_ATTEMPTS = [
    "+15550000000\r\nApplication: System",
    "+15550000000\r\nApplication: Dial",
    TOLL,
    "PJSIP/x",
    "+15550000000\x00",
    "1" * 30,
]
SOUND_ATTEMPTS = [
    "dialer/x\r\nApplication: System",
    "dialer/x,System(id)",
    "dialer/x&/etc/passwd",
    "dialer/x\x00",
    "a" * 300,
]


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory, asterisk: Asterisk, store_db_url: str
) -> Iterator[Daemon]:
    yield from serve_one(tmp_path_factory, asterisk, store_db_url, "api-inputs")


@pytest.fixture
def admin(daemon: Daemon) -> Iterator[httpx.Client]:
    with daemon.client("admin") as client:
        yield client


def refused(r: httpx.Response, field: str) -> None:
    """A 422 whose errors name `field` (pydantic's `loc` ends with it)."""
    assert r.status_code == 422, r.text
    fields = [e["loc"][-1] for e in r.json()["detail"]]
    assert field in fields, r.text


@pytest.mark.parametrize("bad", NAME_ATTEMPTS)
def test_agent_endpoints(admin: httpx.Client, bad: str) -> None:
    name = unique("ann")
    r = admin.post("/api/v1/agents", json={"name": name, "sip_endpoint": bad})
    refused(r, "sip_endpoint")
    assert admin.get(f"/api/v1/agents/{name}").status_code == 404


@pytest.mark.parametrize("bad", NAME_ATTEMPTS)
def test_trunk_endpoints(daemon: Daemon, admin: httpx.Client, bad: str) -> None:
    name = unique("trunk")
    body = {"name": name, "endpoint": bad, "max_channels": 1, "max_cps": 1}
    refused(admin.post("/api/v1/trunks", json=body), "endpoint")
    assert name not in [t["name"] for t in admin.get("/api/v1/trunks").json()]
    trunk = new_trunk(daemon)
    refused(admin.patch(f"/api/v1/trunks/{trunk['name']}", json={"endpoint": bad}), "endpoint")
    assert admin.get("/api/v1/trunks").json()  # still served
    (stored,) = [t for t in admin.get("/api/v1/trunks").json() if t["name"] == trunk["name"]]
    assert stored["endpoint"] == "trunk"


@pytest.mark.parametrize("bad", [*NUMBER_ATTEMPTS, "+1900", "9+", "9 9"])
def test_dial_prefixes(daemon: Daemon, admin: httpx.Client, bad: str) -> None:
    body = {"name": unique("trunk"), "endpoint": "trunk", "max_channels": 1, "max_cps": 1}
    refused(admin.post("/api/v1/trunks", json={**body, "dial_prefix": bad}), "dial_prefix")
    trunk = new_trunk(daemon)
    r = admin.patch(f"/api/v1/trunks/{trunk['name']}", json={"dial_prefix": bad})
    refused(r, "dial_prefix")


@pytest.mark.parametrize("bad", NUMBER_ATTEMPTS)
def test_caller_ids(daemon: Daemon, admin: httpx.Client, bad: str) -> None:
    body = {"name": unique("trunk"), "endpoint": "trunk", "max_channels": 1, "max_cps": 1}
    refused(admin.post("/api/v1/trunks", json={**body, "caller_id": bad}), "caller_id")
    trunk = new_trunk(daemon)
    refused(admin.patch(f"/api/v1/trunks/{trunk['name']}", json={"caller_id": bad}), "caller_id")
    camp = {"name": unique("camp"), "trunk": trunk["name"], "caller_id": bad}
    refused(admin.post("/api/v1/campaigns", json=camp), "caller_id")
    c = new_campaign(admin, trunk["name"])
    refused(admin.patch(f"/api/v1/campaigns/{c['name']}", json={"caller_id": bad}), "caller_id")


@pytest.mark.parametrize("bad", NUMBER_ATTEMPTS)
def test_callback_numbers(daemon: Daemon, admin: httpx.Client, bad: str) -> None:
    trunk = new_trunk(daemon)
    c = new_campaign(admin, trunk["name"])
    r = admin.patch(f"/api/v1/campaigns/{c['name']}", json={"callback_number": bad})
    refused(r, "callback_number")


@pytest.mark.parametrize("field", ["name_prompt", "machine_message"])
@pytest.mark.parametrize("bad", SOUND_ATTEMPTS)
def test_sound_names(daemon: Daemon, admin: httpx.Client, field: str, bad: str) -> None:
    trunk = new_trunk(daemon)
    c = new_campaign(admin, trunk["name"])
    refused(admin.patch(f"/api/v1/campaigns/{c['name']}", json={field: bad}), field)
    camp: dict[str, Any] = {"name": unique("camp"), "trunk": trunk["name"], field: bad}
    refused(admin.post("/api/v1/campaigns", json=camp), field)


def test_good_values_still_pass(daemon: Daemon, admin: httpx.Client) -> None:
    trunk = new_trunk(daemon, endpoint="trunk", dial_prefix="9", caller_id="+15550000000")
    assert (trunk["endpoint"], trunk["dial_prefix"]) == ("trunk", "9")
    body = {"name": unique("ann"), "sip_endpoint": unique("agent")}
    r = admin.post("/api/v1/agents", json=body)
    assert r.status_code == 201, r.text


# -- malformed files and bodies ------------------------------------------------------------


@pytest.fixture
def campaign(daemon: Daemon, admin: httpx.Client) -> str:
    return str(new_campaign(admin, new_trunk(daemon)["name"])["name"])


def post_file(
    admin: httpx.Client, campaign: str, data: bytes | Iterator[bytes], ctype: str = "text/csv"
) -> httpx.Response:
    return admin.post(
        f"/api/v1/campaigns/{campaign}/leads",
        content=data,
        params={"check": "format"},
        headers={"Content-Type": ctype},
    )


def body_refused(r: httpx.Response, words: str) -> str:
    """A 422 about the body whose message has `words`; returns the message."""
    assert r.status_code == 422, r.text[:500]
    (problem,) = r.json()["detail"]
    assert problem["loc"][0] == "body" and words in problem["msg"], problem
    return str(problem["msg"])


def leads_in(admin: httpx.Client, campaign: str) -> int:
    lists = admin.get(f"/api/v1/campaigns/{campaign}/lists").json()
    return sum(sum(x["leads"].values()) for x in lists)


WIDE = ",".join(["phone", *(f"c{i}" for i in range(1000))]).encode()
FILES_REFUSED = [
    (WIDE + b"\n+15550000001\n", "the header has 1001 columns: at most 200"),
    (b"phone," + b"h" * 300_000 + b"\n", "line 1: a record longer than 65536"),
    (b"phone,note\n+15550000001," + b"n" * 100_000 + b"\n", "line 2: a record longer than"),
    (b"phone,na\x00me\n+15550000001,x\n", "the header contains a NUL character"),
    (b"phone,name\n+15550000001,H\xc3\xa9l\xc3\xa8ne\n+15550000002,caf\xe9\n", "line 3: byte 0xe9"),
    (b"phone," + b"x" * 500 + b"\n", "column 2's name has 500 characters: at most 200"),
]


@pytest.mark.parametrize(("data", "words"), FILES_REFUSED)
def test_csv_files_that_cannot_be_read_are_422_and_store_nothing(
    admin: httpx.Client, campaign: str, data: bytes, words: str
) -> None:
    body_refused(post_file(admin, campaign, data), words)
    assert leads_in(admin, campaign) == 0


JSON_FILES_REFUSED = [
    (b"[" * 50_000 + b"]" * 50_000, "element 1: nested too deeply"),
    (b'[{"phone": "+15550000001", "name": "caf\xe9"}]', "line 1: byte 0xe9 is not UTF-8"),
    (b'[{"phone": "+15550000001", "x": NaN}]', "NaN is not a number JSON allows"),
    (b'[{"phone": "+15550000001"}, {"phone": ', "not valid JSON: element 2"),
]


@pytest.mark.parametrize(("data", "words"), JSON_FILES_REFUSED)
def test_json_files_that_cannot_be_read_are_422_and_store_nothing(
    admin: httpx.Client, campaign: str, data: bytes, words: str
) -> None:
    body_refused(post_file(admin, campaign, data, "application/json"), words)
    assert leads_in(admin, campaign) == 0


def test_rows_with_a_long_field_or_a_nul_are_rejected_alone(
    admin: httpx.Client, campaign: str
) -> None:
    csv_file = (
        b"phone,note\n+15550000001,fine\n+15550000002," + b"n" * 5000 + b"\n+15550000003,a\x00b\n"
    )
    r = post_file(admin, campaign, csv_file)
    assert r.status_code == 200, r.text[:500]
    report = r.json()
    assert report["inserted"] == 1
    assert {x["line"]: x["reason"] for x in report["rejected"]} == {
        3: "field 'note' has 5000 characters: at most 4000",
        4: "field 'note' contains a NUL character",
    }
    json_file = json.dumps(
        [{"phone": "+15550000004"}, {"phone": "+15550000005\u0000"}, {"phone": "5" * 5000}]
    ).encode()
    r = post_file(admin, campaign, json_file, "application/json")
    assert r.status_code == 200, r.text[:500]
    assert r.json()["inserted"] == 1
    assert [x["reason"] for x in r.json()["rejected"]] == [
        "contains a NUL character",
        "field 'phone' has 5000 characters: at most 4000",
    ]


BODIES_REFUSED = [
    (b"[" * 100_000 + b"]" * 100_000, ["body"], "nested too deeply"),
    (b'{"name": {"a": ' * 40 + b"1" + b"}" * 80, ["body", "name", "a"], "nested too deeply"),
    (b'{"name": "caf\xe9", "endpoint": "trunk"}', ["body"], "not UTF-8: byte 0xe9 at offset 13"),
    (b'{"name": "t", "endpoint": "trunk", "max_channels": 1, "max_cps": NaN}', ["body"], "NaN"),
    (b'{"name": "t", "max_channels": ' + b"9" * 5000 + b"}", ["body"], "5000 digits"),
    (b'{"name": "t", "endpoint": ["trunk\\u0000"]}', ["body", "endpoint", 0], "NUL"),
]


@pytest.mark.parametrize(("body", "loc", "words"), BODIES_REFUSED)
def test_malformed_json_bodies_are_422_naming_the_problem(
    admin: httpx.Client, body: bytes, loc: list[Any], words: str
) -> None:
    for method, path in [("POST", "/api/v1/trunks"), ("PATCH", "/api/v1/campaigns/x")]:
        r = admin.request(method, path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text[:500]
        (problem,) = r.json()["detail"]
        assert problem["loc"] == loc and words in problem["msg"], problem


def test_a_streamed_import_keeps_the_first_rejected_rows_and_counts_all(
    daemon: Daemon, admin: httpx.Client, campaign: str
) -> None:
    """20,000 rows sent in pieces without a declared length; 1,500 of them bad."""

    def rows() -> Iterator[bytes]:
        yield b"phone,note\n"
        for i in range(20_000):
            phone = "n/a" if i % 40 == 0 else f"+1555{i:07d}"
            yield f"{phone},row {i}\n".encode()

    def pieces() -> Iterator[bytes]:
        buf = b""
        for row in rows():
            buf += row
            if len(buf) > 50_000:
                yield buf
                buf = b""
        yield buf

    r = post_file(admin, campaign, pieces())
    assert r.status_code == 200, r.text[:500]
    report = r.json()
    assert (report["rows"], report["inserted"], report["rejected_count"]) == (20_000, 19_500, 500)
    assert len(report["rejected"]) == 500
    r = post_file(admin, campaign, pieces())  # again: every number is now in the list
    report = r.json()
    assert (report["inserted"], report["rejected_count"]) == (0, 20_000)
    assert report["counts"] == {
        "invalid": 500,
        "duplicate_in_file": 0,
        "already_in_list": 19_500,
        "bad_field": 0,
    }
    kept = report["rejected"]
    assert len(kept) == 1_000
    assert [x["line"] for x in kept] == list(range(2, 1_002))  # the first by line
    assert leads_in(admin, campaign) == 19_500
    lag = [
        line
        for line in httpx.get(f"{daemon.url}/metrics").text.splitlines()
        if line.startswith("dialer_event_loop_lag_seconds_count")
    ]
    assert lag and float(lag[0].split()[-1]) > 0, lag


def test_a_file_unreadable_half_way_stores_nothing_and_says_so_in_the_stream(
    admin: httpx.Client, campaign: str
) -> None:
    good = b"".join(b"+1555%07d\n" % i for i in range(50_000))
    data = b"phone\n" + good + b"+15559999999 caf\xc3\xa9\n" + b"x\xff\n"

    def pieces() -> Iterator[bytes]:  # the bad byte comes long after the header
        yield from (data[at : at + 65_536] for at in range(0, len(data), 65_536))

    with admin.stream(
        "POST",
        f"/api/v1/campaigns/{campaign}/leads",
        content=pieces(),
        params={"check": "format"},
        headers={"Content-Type": "text/csv", "Accept": "application/x-ndjson"},
    ) as r:
        assert r.status_code == 200
        items = [json.loads(line) for line in r.iter_lines() if line]
    assert "byte 0xff is not UTF-8" in items[-1]["error"], items[-1]
    assert items[-1]["error"].startswith("nothing was stored")
    body_refused(post_file(admin, campaign, pieces()), "line 50003: byte 0xff is not UTF-8")
    assert leads_in(admin, campaign) == 0


# -- no log line carries a number or a secret --------------------------------------------

CANARY_PHONE = "+15558675309"
CANARY_DIGITS = CANARY_PHONE[2:]  # what would be left of it in any unmasked form
CANARY_SECRET = "Canary-s3cret-Qx7v"
REFUSE_CANARY = [
    """CREATE OR REPLACE FUNCTION canary_refused() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.extra ->> 'refuse' = 'yes' THEN
            RAISE EXCEPTION 'refused % with %', NEW.phone, NEW.extra;
        END IF;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER canary_refused BEFORE INSERT ON leads "
    "FOR EACH ROW EXECUTE FUNCTION canary_refused()",
]
DROP_CANARY = ["DROP TRIGGER canary_refused ON leads", "DROP FUNCTION canary_refused()"]


def execute(db_url: str, statements: list[str]) -> None:
    async def run() -> None:
        db = Database(db_url)
        try:
            async with db.transaction() as s:
                for sql in statements:
                    await s.execute(text(sql))
        finally:
            await db.dispose()

    asyncio.run(run())


def failed_start(tmp: Path, config: Path) -> tuple[int, str]:
    """Exit code and output of `dialer run` that is expected to give up."""
    run = subprocess.run(
        [sys.executable, "-m", "dialer", "run", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return run.returncode, run.stdout + run.stderr


def test_no_log_line_carries_the_canary_number_or_secret(
    daemon: Daemon,
    admin: httpx.Client,
    campaign: str,
    asterisk: Asterisk,
    store_db_url: str,
    tmp_path: Path,
) -> None:
    """The canaries go through every path that logs: imports (stored, repeated and refused
    rows), bad requests naming them in the path, the query and the body, an unknown token, a
    write the database refuses with a message quoting them, a PBX refusing the login, a
    database refusing the connection. No log line may carry either."""
    p, s = CANARY_PHONE, CANARY_SECRET
    rows = f"phone,priority,password\n{p},1,{s}\n{p},2,{s}\n{p}9,{s},{s}\n{p},1,a\x00{s}\n"
    assert post_file(admin, campaign, rows.encode()).status_code == 200
    assert post_file(admin, campaign, rows.encode()).status_code == 200  # all in the list now
    leads = json.dumps([{"phone": p, "token": s}, {"phone": f"{p}\u0000", "secret": s}])
    assert post_file(admin, campaign, leads.encode(), "application/json").status_code == 200
    assert admin.get(f"/api/v1/campaigns/{p}").status_code == 404
    assert admin.get(f"/api/v1/leads/{p}/why").status_code == 404
    r = admin.post(
        f"/api/v1/campaigns/{campaign}/leads",
        params={"phone_column": p, "token": s, "password": s},
        content=f"phone\n{p}\n",
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 422
    assert admin.post("/api/v1/trunks", json={"name": s, "endpoint": p}).status_code == 422
    r = httpx.get(f"{daemon.url}/api/v1/status", headers={"Authorization": f"Bearer {s}"})
    assert r.status_code == 401

    execute(store_db_url, REFUSE_CANARY)
    try:
        refused = f"phone,refuse,password\n{p},yes,{s}\n".encode()
        r = admin.post(
            f"/api/v1/campaigns/{campaign}/leads",
            params={"check": "format", "list": "refused"},
            content=refused,
            headers={"Content-Type": "text/csv"},
        )
        assert r.status_code == 422 and "SQLSTATE P0001" in r.text, r.text
        with admin.stream(
            "POST",
            f"/api/v1/campaigns/{campaign}/leads",
            params={"check": "format", "list": "refused"},
            content=refused,
            headers={"Content-Type": "text/csv", "Accept": "application/x-ndjson"},
        ) as stream:
            last = [json.loads(line) for line in stream.iter_lines() if line][-1]
        assert "SQLSTATE P0001" in last["error"], last
    finally:
        execute(store_db_url, DROP_CANARY)

    config = write_config(tmp_path, asterisk, store_db_url, owner=unique("canary"))
    text_ = config.read_text()
    wrong_secret = re.sub(r'secret = ".*"', f'secret = "{s}"', text_)
    config.write_text(wrong_secret)
    ami_code, ami_log = failed_start(tmp_path, config)
    assert ami_code == 4, ami_log[-2000:]
    no_db = wrong_secret.replace(store_db_url, f"postgresql+asyncpg://postgres:{s}@127.0.0.1:9/x")
    config.write_text(no_db)
    db_code, db_log = failed_start(tmp_path, config)
    assert db_code == 3, db_log[-2000:]

    logs = daemon.log() + ami_log + db_log
    for canary in (CANARY_DIGITS, s):
        leaks = [line for line in logs.splitlines() if canary in line]
        assert not leaks, leaks[:5]
    # The paths did log: the canaries went by masked.
    assert "+15*******09" in daemon.log()
    assert "SQLSTATE P0001" in daemon.log()
