"""`dialer run` as a person runs it: bad input gives a clear error and a non-zero exit, and
SIGTERM drains live calls and closes their records."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from dialer.store.engine import Database
from dialer.store.name_lock import NameLock
from rig.asterisk import Asterisk
from rig.campaign import seed
from rig.numbers import Behaviour, make_number

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(tmp_path: Path, asterisk: Asterisk | None, url: str, **pbx: object) -> Path:
    secret = asterisk.credentials.secret if asterisk is not None else "x"
    port = asterisk.credentials.port if asterisk is not None else free_port()
    values = {"secret": secret, "port": port, **pbx}
    lines = [
        "[database]",
        f'url = "{url}"',
        "retry_for_s = 1.0",
        "connect_timeout_s = 2.0",
        "[pbx]",
        *(f"{k} = {v!r}".replace("'", '"') for k, v in values.items()),
        "[dialer]",
        "owner = 'cli-test'",
        "tick_s = 0.05",
        "cdr_flush_s = 0.05",
        "drain_timeout_s = 1.0",
        "[http]",
        "port = 0",
    ]
    path = tmp_path / "dialer.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def dialer(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dialer", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_invalid_configuration_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[pbx]\nsecret = "x"\nport = "abc"\n')
    out = dialer("run", "--config", str(path))
    assert out.returncode == 2
    assert "pbx.port: expected an integer" in out.stderr


def test_invalid_environment_override_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text('[pbx]\nsecret = "x"\n')
    out = dialer("run", "--config", str(path), env={"DIALER_DIALER_TICK_S": "-1"})
    assert out.returncode == 2
    assert "dialer.tick_s: must be greater than 0" in out.stderr


def test_postgres_unreachable(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://postgres:pw@127.0.0.1:{free_port()}/dialer"
    started = time.monotonic()
    out = dialer("run", "--config", str(config(tmp_path, None, url)))
    assert out.returncode == 3
    assert "database unreachable at 127.0.0.1" in out.stderr
    assert "pw" not in out.stderr.replace("postgres", "")  # the password is masked
    assert time.monotonic() - started < 20  # retried for retry_for_s, then gave up


def test_ami_port_closed(tmp_path: Path, store_db_url: str) -> None:
    port = free_port()
    out = dialer("run", "--config", str(config(tmp_path, None, store_db_url, port=port)))
    assert out.returncode == 3
    assert f"cannot connect to Asterisk AMI at 127.0.0.1:{port}" in out.stderr
    assert "retrying" in out.stderr  # it retried before giving up


@pytest.mark.rig
def test_wrong_ami_secret_is_a_clear_error_not_a_retry_loop(
    tmp_path: Path, asterisk: Asterisk, store_db_url: str
) -> None:
    path = config(tmp_path, asterisk, store_db_url, secret="not-the-secret")
    started = time.monotonic()
    out = dialer("run", "--config", str(path))
    assert out.returncode == 4
    assert "refused user 'dialer'" in out.stderr
    assert "check pbx.username and pbx.secret" in out.stderr
    assert "not-the-secret" not in out.stderr
    assert "retrying" not in out.stderr
    assert time.monotonic() - started < 10


async def _count(db: Database, sql: str, **params: Any) -> Any:
    async with db.transaction() as s:
        return (await s.execute(text(sql), params)).scalar_one()


@pytest.mark.rig
@pytest.mark.slow
async def test_sigterm_drains_and_closes_every_record(
    tmp_path: Path,
    asterisk: Asterisk,
    sipp_trunk: Any,
    agent_headsets: Any,
    store_db: Database,
    store_db_url: str,
) -> None:
    numbers = [make_number(Behaviour.ANSWER, 0.3, 60.0, i) for i in range(10)]
    seeded = await seed(store_db, name="sigterm", numbers=numbers, agents=2)
    path = config(tmp_path, asterisk, store_db_url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dialer",
        "run",
        "--config",
        str(path),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        connected = 0
        while connected < 2 and loop.time() < deadline:
            await asyncio.sleep(0.2)
            connected = await _count(
                store_db,
                "SELECT count(*) FROM call_attempts WHERE campaign_id = :c",
                c=seeded.campaign_id,
            )
        assert connected == 2, "two calls should be up (one per agent)"
        await asyncio.sleep(1.0)  # let them be answered and bridged
        proc.send_signal(signal.SIGTERM)
        _out, err_bytes = await asyncio.wait_for(proc.communicate(), 30)
        err = err_bytes.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert proc.returncode == 0, err
    assert "stopping: no new calls" in err
    open_rows = await _count(
        store_db,
        "SELECT count(*) FROM call_attempts WHERE campaign_id = :c AND hangup_at IS NULL",
        c=seeded.campaign_id,
    )
    assert open_rows == 0
    results = await _count(
        store_db,
        "SELECT string_agg(result, ',' ORDER BY result) FROM call_attempts WHERE campaign_id = :c",
        c=seeded.campaign_id,
    )
    assert results == "connected,connected"
    dialing = await _count(
        store_db,
        "SELECT count(*) FROM leads WHERE campaign_id = :c AND status = 'dialing'",
        c=seeded.campaign_id,
    )
    assert dialing == 0
    assert "+1555" not in err  # phone numbers never reach the log unmasked


async def test_a_second_daemon_with_a_running_daemons_name_is_refused(
    tmp_path: Path, store_db_url: str
) -> None:
    """Names must be unique among running daemons (a restarted one takes over its predecessor's
    calls): one whose name a living process holds exits 2, before it touches the PBX."""
    db = Database(store_db_url)
    held = NameLock(db, "cli-test")
    await held.acquire()
    try:
        port = free_port()  # no PBX there: the refusal must come first
        path = config(tmp_path, None, store_db_url, port=port)
        out = await asyncio.to_thread(dialer, "run", "--config", str(path))
        assert out.returncode == 2, out.stderr
        assert "another daemon named 'cli-test' is running" in out.stderr
        assert "Asterisk" not in out.stderr
    finally:
        await held.release()
        await db.dispose()
    # Released, the name is free again: the same daemon now gets as far as the PBX.
    out = await asyncio.to_thread(dialer, "run", "--config", str(path))
    assert out.returncode == 3, out.stderr
