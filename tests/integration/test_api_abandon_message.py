"""The abandon message's settings and the caller ID over HTTP and the CLI, against a running
daemon: a campaign's call-back number and name prompt are validated (a 422 naming the
field), stored and shown; a campaign with no caller ID of its own uses its trunk's, and one
with neither is not started (409 saying so), nor can a dialing campaign lose its last one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from rig.asterisk import Asterisk
from tests.integration.api_daemon import Daemon, new_trunk, serve_one, unique
from tests.integration.test_cli_api import dialer

pytestmark = [pytest.mark.rig]


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory, asterisk: Asterisk, store_db_url: str
) -> Iterator[Daemon]:
    yield from serve_one(tmp_path_factory, asterisk, store_db_url, "api-abandon")


@pytest.fixture
def http(daemon: Daemon) -> Iterator[httpx.Client]:
    with daemon.client("supervisor") as client:
        yield client


def field_error(r: httpx.Response) -> tuple[list[Any], str]:
    assert r.status_code == 422, r.text
    (detail,) = r.json()["detail"]
    return detail["loc"], detail["msg"]


def test_callback_number_and_name_prompt_are_validated_stored_and_shown(
    daemon: Daemon, http: httpx.Client
) -> None:
    trunk = new_trunk(daemon)
    base = {"name": unique("msg"), "trunk": trunk["name"], "caller_id": "+15550000000"}

    loc, msg = field_error(http.post("/api/v1/campaigns", json={**base, "callback_number": "12"}))
    assert loc == ["body", "callback_number"]
    assert "leading +" in msg
    r = http.post("/api/v1/campaigns", json={**base, "callback_number": "+15550000000"})
    loc, msg = field_error(r)
    assert loc == ["body", "callback_number"]
    assert "not a valid number for country code +1 (US)" in msg
    loc, msg = field_error(http.post("/api/v1/campaigns", json={**base, "name_prompt": "../x"}))
    assert loc == ["body", "name_prompt"]
    assert "sound name" in msg

    r = http.post(
        "/api/v1/campaigns",
        json={**base, "callback_number": "+44 20 7946 0123", "name_prompt": "dialer/acme"},
    )
    assert r.status_code == 201, r.text
    c = r.json()
    assert (c["callback_number"], c["name_prompt"]) == ("+442079460123", "dialer/acme")
    shown = http.get(f"/api/v1/campaigns/{c['id']}").json()
    assert (shown["callback_number"], shown["name_prompt"]) == ("+442079460123", "dialer/acme")

    # Edits: a bad value is refused and changes nothing; '' clears.
    loc, _ = field_error(
        http.patch(f"/api/v1/campaigns/{c['id']}", json={"callback_number": "+44 20"})
    )
    assert loc == ["body", "callback_number"]
    assert http.get(f"/api/v1/campaigns/{c['id']}").json()["callback_number"] == "+442079460123"
    r = http.patch(
        f"/api/v1/campaigns/{c['id']}",
        json={"callback_number": "", "name_prompt": f"dialer/campaign-{c['id']}"},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["callback_number"], r.json()["name_prompt"]) == (
        "",
        f"dialer/campaign-{c['id']}",
    )


def test_a_campaign_needs_a_caller_id_of_its_own_or_its_trunks(
    daemon: Daemon, http: httpx.Client
) -> None:
    bare = new_trunk(daemon)
    assert bare["caller_id"] == ""
    r = http.post("/api/v1/campaigns", json={"name": unique("nocid"), "trunk": bare["name"]})
    assert r.status_code == 201, r.text  # a draft may wait for one
    c = r.json()
    assert c["caller_id"] == ""
    r = http.post(f"/api/v1/campaigns/{c['id']}/start")
    assert r.status_code == 409, r.text
    assert "has no caller_id and neither has its trunk" in r.json()["detail"]
    assert http.get(f"/api/v1/campaigns/{c['id']}").json()["status"] == "draft"

    with daemon.client("admin") as admin:
        loc, _ = field_error(admin.patch(f"/api/v1/trunks/{bare['id']}", json={"caller_id": "x"}))
        assert loc == ["body", "caller_id"]
        r = admin.patch(f"/api/v1/trunks/{bare['id']}", json={"caller_id": "+15550009999"})
        assert r.status_code == 200, r.text
        assert r.json()["caller_id"] == "+15550009999"
        r = http.post(f"/api/v1/campaigns/{c['id']}/start")
        assert r.status_code == 200, r.text
        try:
            # Running on the trunk's caller ID: the trunk may not lose it...
            r = admin.patch(f"/api/v1/trunks/{bare['id']}", json={"caller_id": ""})
            assert r.status_code == 409, r.text
            assert c["name"] in r.json()["detail"]
            listed = {t["id"]: t for t in admin.get("/api/v1/trunks").json()}
            assert listed[bare["id"]]["caller_id"] == "+15550009999"
            # ... but the campaign may get its own, and then the trunk may.
            r = http.patch(f"/api/v1/campaigns/{c['id']}", json={"caller_id": "+15550000000"})
            assert r.status_code == 200, r.text
            r = admin.patch(f"/api/v1/trunks/{bare['id']}", json={"caller_id": ""})
            assert r.status_code == 200, r.text
            # Now its own is the last one: it may not be cleared while it dials.
            r = http.patch(f"/api/v1/campaigns/{c['id']}", json={"caller_id": ""})
            assert r.status_code == 409, r.text
            assert http.get(f"/api/v1/campaigns/{c['id']}").json()["caller_id"] == "+15550000000"
        finally:
            assert http.post(f"/api/v1/campaigns/{c['id']}/stop").status_code == 200


def test_cli_sets_the_message_and_reports_a_bad_number(daemon: Daemon) -> None:
    trunk = unique("cli-msg-trunk")
    out = dialer(
        daemon, "trunk", "create", trunk, "--endpoint", "trunk", "--max-channels", "2",
        "--max-cps", "1", "--caller-id", "+15550009999",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    name = unique("cli-msg")
    out = dialer(
        daemon, "campaign", "create", name, "--trunk", trunk, "--callback-number", "020 7946 0123",
    )  # fmt: skip
    assert out.returncode == 2  # refused by the CLI itself, before anything is sent
    assert "callback_number" in out.stderr and "leading +" in out.stderr
    out = dialer(
        daemon, "campaign", "create", name, "--trunk", trunk,
        "--callback-number", "+442079460123", "--name-prompt", "dialer/acme", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert '"callback_number": "+442079460123"' in out.stdout
    assert '"caller_id": ""' in out.stdout  # the trunk's is used
    out = dialer(daemon, "campaign", "edit", name, "--name-prompt", "", "--json")
    assert out.returncode == 0, out.stderr
    assert '"name_prompt": ""' in out.stdout
