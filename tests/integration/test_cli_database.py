"""The database-side commands as a person runs them: `dialer migrate` on a database that does not
exist says how to create it (or creates it with --create), and `dialer migrate`, `dialer leads
why` and `dialer dnc` read only the database settings, while `dialer run` stays strict."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from rig.db import SERVER_URL
from tests.fixtures.db import database_name

REPO = Path(__file__).resolve().parents[2]


def dialer(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_")}
    return subprocess.run(
        [sys.executable, "-m", "dialer", *args],
        cwd=REPO,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def drop(database: str) -> None:
    async def run() -> None:
        engine = create_async_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_migrate_a_missing_database_says_how_to_create_it_or_creates_it() -> None:
    name = f"{database_name()}_created"
    url = make_url(SERVER_URL).set(database=name).render_as_string(hide_password=False)
    drop(name)
    try:
        out = dialer("migrate", env={"DIALER_DATABASE_URL": url})
        assert out.returncode == 3
        assert f'database "{name}" does not exist on the server at 127.0.0.1:5432' in out.stderr
        assert f"createdb -h 127.0.0.1 -p 5432 -U postgres {name}" in out.stderr
        assert "dialer migrate --create" in out.stderr
        made = dialer("migrate", "--create", "--url", url)
        assert made.returncode == 0, made.stderr
        assert f'created database "{name}"' in made.stdout
        assert "database migrated to head" in made.stdout
        again = dialer("migrate", "--create", "--url", url)  # exists: just migrated
        assert again.returncode == 0 and "created" not in again.stdout
    finally:
        drop(name)


def test_database_commands_need_no_pbx_settings(tmp_path: Path, store_db_url: str) -> None:
    config = tmp_path / "dialer.toml"  # no pbx.secret, and a tokens file that is not there
    config.write_text(f'[database]\nurl = "{store_db_url}"\n[http]\ntokens_file = "none.toml"\n')
    migrate = dialer("migrate", "--config", str(config))
    assert migrate.returncode == 0, migrate.stderr
    dnc = dialer("dnc", "list", "--config", str(config))
    assert dnc.returncode == 0, dnc.stderr
    why = dialer("leads", "why", "424242", "--config", str(config))
    assert why.returncode == 1 and "no lead with id 424242" in why.stderr
    no_file = dialer("dnc", "list", env={"DIALER_DATABASE_URL": store_db_url})
    assert no_file.returncode == 0, no_file.stderr
    run = dialer("run", "--config", str(config))
    assert run.returncode == 2 and "pbx.secret: must be set" in run.stderr
