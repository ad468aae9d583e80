"""The `dialer` command as a person runs it against a running daemon: campaigns, lead import
with its progress bar, agents, status, JSON output for scripts, and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.asterisk import Asterisk
from tests.integration.api_daemon import REPO, TOKENS, Daemon, serve_one, unique

pytestmark = [pytest.mark.rig]

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory, asterisk: Asterisk, store_db_url: str
) -> Iterator[Daemon]:
    yield from serve_one(tmp_path_factory, asterisk, store_db_url, "cli")


def dialer(
    daemon: Daemon | None, *args: str, role: str | None = "admin", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_API_")}
    if daemon is not None:
        env["DIALER_API_URL"] = daemon.url
    if role is not None:
        env["DIALER_API_TOKEN"] = TOKENS[role]
    return subprocess.run(
        [sys.executable, "-m", "dialer", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def campaign(daemon: Daemon) -> str:
    trunk = unique("cli-trunk")
    out = dialer(
        daemon, "trunk", "create", trunk, "--endpoint", "trunk", "--max-channels", "5",
        "--max-cps", "2",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert trunk in out.stdout
    name = unique("cli")
    out = dialer(
        daemon, "campaign", "create", name, "--trunk", trunk, "--caller-id", "+15550000000",
        "--disposition", "sale=Sale", "--disposition", "no_sale", "--max-attempts", "4",
        role="supervisor",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "draft" in out.stdout
    return name


def test_campaign_commands(daemon: Daemon, campaign: str) -> None:
    out = dialer(daemon, "campaign", "list", role="supervisor")
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert header.split()[:3] == ["ID", "NAME", "STATUS"]
    assert any(campaign in row and "draft" in row for row in rows)

    listed = json.loads(dialer(daemon, "campaign", "list", "--json").stdout)
    mine = next(c for c in listed if c["name"] == campaign)
    assert mine["max_attempts"] == 4

    out = dialer(daemon, "campaign", "edit", campaign, "--wrapup", "2.5", "--json")
    assert json.loads(out.stdout)["wrapup_s"] == 2.5

    out = dialer(
        daemon, "campaign", "edit", campaign, "--amd", "--machine-message",
        "dialer/machine-message", "--json",
    )  # fmt: skip
    edited = json.loads(out.stdout)
    assert (edited["amd_enabled"], edited["machine_message"]) == (True, "dialer/machine-message")
    out = dialer(daemon, "campaign", "edit", campaign, "--no-amd")
    assert out.returncode == 0, out.stderr
    assert "amd_enabled" in out.stdout and "False" in out.stdout
    # Refused by the CLI itself (the daemon's grammar), before anything is sent.
    out = dialer(daemon, "campaign", "edit", campaign, "--machine-message", "../x")
    assert out.returncode == 2
    assert "machine_message" in out.stderr

    out = dialer(daemon, "campaign", "dispositions", campaign)
    assert "sale" in out.stdout
    assert "Sale" in out.stdout

    out = dialer(daemon, "campaign", "start", campaign, role="supervisor")
    assert (out.returncode, out.stdout.strip()) == (0, f"campaign {campaign}: running")
    out = dialer(daemon, "campaign", "start", campaign, role="supervisor")
    assert out.returncode == 1
    assert "cannot start a campaign that is running" in out.stderr

    out = dialer(daemon, "campaign", "stats", campaign, "--window", "600")
    assert out.returncode == 0, out.stderr
    assert "abandonment rate" in out.stdout
    assert "LAST 600 S" in out.stdout  # the window's column
    stats = json.loads(dialer(daemon, "campaign", "stats", campaign, "--json").stdout)
    assert stats["live"]["loaded"] is True

    out = dialer(daemon, "status")
    assert out.returncode == 0, out.stderr
    assert "asterisk at 127.0.0.1" in out.stdout
    assert "connected" in out.stdout
    assert campaign in out.stdout
    assert dialer(daemon, "campaign", "pause", campaign).stdout.strip().endswith("paused")
    assert dialer(daemon, "campaign", "stop", campaign).stdout.strip().endswith("stopped")


def test_leads_import_with_progress_bar_and_rejected_rows(
    daemon: Daemon, campaign: str, tmp_path: Path
) -> None:
    rejected = tmp_path / "rejected.csv"
    out = dialer(
        daemon, "leads", "import", str(DATA / "crm_export_us.csv"), "--campaign", campaign,
        "--region", "US", "--list", "crm", "--progress", "always",
        "--rejected-file", str(rejected), role="supervisor",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "100%" in out.stderr
    assert "importing [" in out.stderr
    assert "12 rows read from crm_export_us.csv into list 'crm': 6 stored, 6 rejected" in (
        out.stdout
    )
    table = out.stdout.split("\n\n", 1)[1]
    assert "LINE" in table
    assert "unknown time zone 'Mars/Olympus_Mons'" in table
    assert "duplicate of line 2" in table
    lines = rejected.read_text().splitlines()
    assert lines[0] == "line,code,reason,value"
    assert len(lines) == 7

    out = dialer(daemon, "leads", "lists", "--campaign", campaign)
    assert "crm" in out.stdout
    assert "new=6" in out.stdout


def test_import_of_a_100k_row_file_as_json_output(
    daemon: Daemon, campaign: str, tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"
    rows = [f"+1212{200 + i // 10_000:03d}{i % 10_000:04d}" for i in range(100_000)]
    path.write_text("phone\n" + "\n".join(rows) + "\n")
    out = dialer(
        daemon, "leads", "import", str(path), "--campaign", campaign, "--list", "big",
        "--check", "possible", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # no progress bar when stderr is not a terminal
    report = json.loads(out.stdout)
    assert (report["rows"], report["inserted"], report["rejected_count"]) == (100_000, 100_000, 0)


def test_agents_commands(daemon: Daemon) -> None:
    name = unique("cli-agent")
    out = dialer(daemon, "agent", "create", name, "--endpoint", "agent9")
    assert out.returncode == 0, out.stderr
    out = dialer(daemon, "agents", role="supervisor")
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if name in line)
    assert "agent9" in row
    assert "logged_out" in row
    out = dialer(daemon, "agent", "pause", name, "--reason", "lunch")
    assert out.returncode == 1
    assert f"agent {name} is not logged in" in out.stderr


def test_errors_are_clear(daemon: Daemon, campaign: str) -> None:
    out = dialer(daemon, "status", role=None)
    assert out.returncode == 1
    assert "missing bearer token" in out.stderr
    assert "DIALER_API_TOKEN" in out.stderr
    out = dialer(daemon, "trunk", "create", "t", "--endpoint", "x", "--max-channels", "1",
                 "--max-cps", "1", role="supervisor")  # fmt: skip
    assert out.returncode == 1
    assert "role supervisor may not do this" in out.stderr
    out = dialer(daemon, "campaign", "start", "no-such-campaign")
    assert out.returncode == 1
    assert "no campaign named 'no-such-campaign'" in out.stderr
    out = dialer(daemon, "campaign", "edit", campaign, "--hold", "9")
    assert out.returncode == 1
    assert "body.hold_s" in out.stderr
    out = dialer(None, "status", "--url", "http://127.0.0.1:9")
    assert out.returncode == 3
    assert "cannot reach the dialer at http://127.0.0.1:9" in out.stderr
