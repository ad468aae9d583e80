"""No field from the API reaches the PBX unchecked: every value bound for AMI or ESL (agent
endpoints, trunk endpoints and dial prefixes, caller IDs, the abandon message's number and
sounds) that breaks the grammar of dialer/domain/pbx_values.py is a 422 naming the field, on
create and on edit, and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rig.asterisk import Asterisk
from tests.integration.api_daemon import Daemon, new_campaign, new_trunk, serve_one, unique

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
