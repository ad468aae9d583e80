"""`dialer --help` and friends through the command itself: every API subcommand is listed and
explains its options; bad usage exits 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def dialer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dialer", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_top_level_help_lists_the_api_commands() -> None:
    out = dialer("--help")
    assert out.returncode == 0
    for command in ("campaign", "leads", "agents", "agent", "callback", "trunks", "status"):
        assert f"    {command} " in out.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("campaign", "--help"), ("start", "pause", "resume", "stop", "stats", "create", "edit")),
        (("campaign", "start", "--help"), ("NAME", "--url", "DIALER_API_TOKEN", "--json")),
        (("leads", "import", "--help"), ("FILE", "--campaign", "--region", "--progress")),
        (("agent", "--help"), ("login", "ready", "pause", "logout", "dispose")),
        (("agent", "pause", "--help"), ("--reason",)),
        (("agents", "--help"), ("move", "--campaign")),
        (("agents", "move", "--help"), ("AGENT", "CAMPAIGN", "after its current call")),
        (("callback", "--help"), ("LEAD_ID", "--at", "--agent")),
    ],
)
def test_subcommand_help(args: tuple[str, ...], expected: tuple[str, ...]) -> None:
    out = dialer(*args)
    assert out.returncode == 0, out.stderr
    for text in expected:
        assert text in out.stdout


def test_bad_usage_exits_2() -> None:
    out = dialer("campaign", "start")
    assert out.returncode == 2
    assert "the following arguments are required: NAME" in out.stderr
    out = dialer("leads", "import", "x.csv")
    assert out.returncode == 2
    assert "--campaign" in out.stderr
