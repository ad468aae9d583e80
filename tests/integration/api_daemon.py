"""A real `dialer run` daemon for the API and CLI tests: a subprocess on the real Asterisk rig
and Postgres, its HTTP API on a free loopback port, its log in a file the tests can read.

Not a test module: the test_api_* and test_cli_* modules build their fixtures from it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import text

from dialer.settings import PbxSettings
from dialer.store.engine import Database
from dialer.store.tables import ALL_TABLES
from rig.asterisk import Asterisk

REPO = Path(__file__).resolve().parents[2]

TOKENS = {
    "admin": "admin-token-7f3a9c2e51d8",
    "supervisor": "supervisor-token-4b6e0d9a",
    "agent": "agent-token-c81f27e4a9b0",  # acts as the agent named by AGENT_NAME
}
AGENT_NAME = "api-agent-self"
_LISTENING = re.compile(r"HTTP API listening on (http://127\.0\.0\.1:\d+)")


async def truncate_all(db_url: str) -> None:
    """Empty every table, so a daemon starting now loads no campaign left by other tests."""
    db = Database(db_url)
    names = ", ".join(t.name for t in ALL_TABLES)
    try:
        async with db.transaction() as session:
            await session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await db.dispose()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_tokens(path: Path) -> Path:
    lines = []
    for role, token in TOKENS.items():
        lines += ["[[tokens]]", f'name = "{role}-user"', f'role = "{role}"', f'token = "{token}"']
        if role == "agent":
            lines.append(f'agent = "{AGENT_NAME}"')
        lines.append("")
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path


def write_config(
    tmp: Path, pbx: Asterisk | PbxSettings, db_url: str, http_port: int = 0, **dialer: Any
) -> Path:
    """A daemon's config file on the Asterisk rig (its deploy login) or on the PBX `pbx` says
    (the FreeSWITCH rig's: tests.fixtures.pbx.CampaignPbx.pbx_settings)."""
    if isinstance(pbx, Asterisk):
        c = pbx.credentials
        pbx = PbxSettings(host=c.host, port=c.port, username=c.username, secret=c.secret)
    values = {
        "owner": unique("api-test"),
        "tick_s": 0.05,
        "cdr_flush_s": 0.05,
        "drain_timeout_s": 2.0,
        "autologin_agents": True,
        **dialer,
    }
    lines = [
        "[database]",
        f'url = "{db_url}"',
        "retry_for_s = 2.0",
        "[pbx]",
        f'kind = "{pbx.kind}"',
        f'host = "{pbx.host}"',
        f"port = {pbx.port}",
        f'username = "{pbx.username}"',
        f'secret = "{pbx.secret}"',
        f"reconnect_min_s = {pbx.reconnect_min_s}",
        f"reconnect_max_s = {pbx.reconnect_max_s}",
        "[dialer]",
        *(f"{k} = {_toml(v)}" for k, v in values.items()),
        "[http]",
        'host = "127.0.0.1"',
        f"port = {http_port}",
        f'tokens_file = "{write_tokens(tmp / "tokens.toml")}"',
        "access_log = true",
        "[log]",
        'level = "DEBUG"',
    ]
    path = tmp / "dialer.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path
    config: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self, role: str | None = "admin", **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)

    def stop(self, timeout_s: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise
        return int(self.proc.returncode)


def start_daemon(
    tmp: Path, config: Path, env: Mapping[str, str] | None = None, wait_s: float = 40.0
) -> Daemon:
    log_path = tmp / "daemon.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dialer", "run", "--config", str(config)],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        found = _LISTENING.search(log_path.read_text(errors="replace"))
        if found:
            return Daemon(proc, found.group(1), log_path, config)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)
    raise RuntimeError(
        f"the daemon did not start (exit {proc.returncode}):\n{log_path.read_text()[-3000:]}"
    )


T = TypeVar("T")


def serve_one(
    factory: pytest.TempPathFactory, asterisk: Asterisk, db_url: str, label: str, **config: Any
) -> Iterator[Daemon]:
    """A test module's daemon (`yield from` it in a fixture): the tables emptied, one daemon
    started on them with `config`, stopped cleanly afterwards."""
    asyncio.run(truncate_all(db_url))
    tmp = factory.mktemp(label)
    d = start_daemon(tmp, write_config(tmp, asterisk, db_url, **config))
    yield d
    assert d.stop() == 0, d.log()[-3000:]


def serve_two(
    tmp: Path, asterisk: Asterisk, db_url: str, names: tuple[str, str], **config: Any
) -> Iterator[tuple[Daemon, Daemon]]:
    """Two daemons on one database (`yield from` it in a fixture), owners `names`, each with
    `config`, on emptied tables; both stopped cleanly afterwards."""
    asyncio.run(truncate_all(db_url))
    started: list[Daemon] = []
    try:
        for name in names:
            home = tmp / name
            home.mkdir()
            started.append(
                start_daemon(home, write_config(home, asterisk, db_url, owner=name, **config))
            )
        yield started[0], started[1]
    finally:
        for d in started:
            assert d.stop() == 0, d.log()[-3000:]


def new_trunk(daemon: Daemon, **values: Any) -> dict[str, Any]:
    """A trunk created over the API (as admin), with `values` over small defaults."""
    body = {"name": unique("trunk"), "endpoint": "trunk", "max_channels": 4, "max_cps": 2.0}
    with daemon.client("admin") as admin:
        r = admin.post("/api/v1/trunks", json={**body, **values})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def new_campaign(http: httpx.Client, trunk: str, **values: Any) -> dict[str, Any]:
    """A campaign created over the API on `trunk`, with a caller ID unless `values` say."""
    body = {"name": unique("camp"), "trunk": trunk, "caller_id": "+15550000000", **values}
    r = http.post("/api/v1/campaigns", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def wait_for(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def query(db_url: str, sql: str, **params: Any) -> list[Any]:
    """Rows of one SQL statement, read in a short-lived connection of its own."""

    async def run() -> list[Any]:
        db = Database(db_url)
        try:
            async with db.transaction() as s:
                return list(await s.execute(text(sql), params))
        finally:
            await db.dispose()

    return asyncio.run(run())


def set_up_campaign(
    daemon: Daemon,
    numbers: list[str],
    agents: list[tuple[str, str]],
    *,
    trunk: Mapping[str, Any] | None = None,
    **campaign: Any,
) -> str:
    """Over the API, as admin: a trunk (`trunk` values over 20 channels, 20 calls/s), a draft
    campaign on it (`campaign` values over short rig defaults), its agents as (name, SIP
    endpoint) pairs, and leads for the rig's `numbers`; returns the campaign's name."""
    with daemon.client("admin") as admin:
        trunk_name = unique("trunk")
        body = {"name": trunk_name, "endpoint": "trunk", "max_channels": 20, "max_cps": 20}
        r = admin.post("/api/v1/trunks", json={**body, **(trunk or {})})
        assert r.status_code == 201, r.text
        name = unique("camp")
        body = {
            "name": name,
            "trunk": trunk_name,
            "caller_id": "+15550000000",
            "ring_timeout_s": 15,
            "max_attempts": 1,
            "wrapup_s": 0.5,
            "hold_s": 1.0,
        }
        r = admin.post("/api/v1/campaigns", json={**body, **campaign})
        assert r.status_code == 201, r.text
        for agent_name, endpoint in agents:
            body = {"name": agent_name, "sip_endpoint": endpoint, "campaign": name}
            assert admin.post("/api/v1/agents", json=body).status_code == 201
        import_numbers(admin, name, numbers)
    return name


def import_numbers(admin: httpx.Client, campaign: str, numbers: list[str]) -> None:
    """Import the rig's `numbers` into `campaign` (they are test numbers: format check only)."""
    r = admin.post(
        f"/api/v1/campaigns/{campaign}/leads",
        content="phone\n" + "\n".join(numbers) + "\n",
        params={"check": "format"},
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == len(numbers), r.text
