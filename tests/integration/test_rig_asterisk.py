"""The rig's Asterisk boots with the project's deploy/asterisk configuration, and AMI takes the
deploy credentials (and refuses others)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rig.ami import AmiClient, event, first
from rig.asterisk import Asterisk

pytestmark = pytest.mark.rig


def test_boots_fast_with_the_deploy_config(asterisk: Asterisk) -> None:
    assert asterisk.boot_seconds is not None
    assert asterisk.boot_seconds < 10
    assert "Asterisk 22." in asterisk.cli("core show version")
    modules = asterisk.cli("module show like pjsip")
    assert "chan_pjsip.so" in modules
    assert "Running" in modules
    # The deploy transport, bound to loopback only.
    assert "127.0.0.1:5060" in asterisk.cli("pjsip show transports")
    dialplan = asterisk.cli("dialplan show dialer-customer")
    # The hold is the very first step (a customer bridged before its dialplan started comes
    # back to s,1; deploy/asterisk/extensions.conf).
    assert re.search(r"'s' =>\s+1\. Wait\(", dialplan), dialplan
    assert "dialer-abandon" in dialplan


def test_every_configured_module_is_running(asterisk: Asterisk) -> None:
    wanted = [
        line.split("=", 1)[1].strip()
        for line in (asterisk.deploy / "modules.conf").read_text().splitlines()
        if line.startswith("load =")
    ]
    shown = asterisk.cli("module show")
    running = {
        parts[0] for parts in (line.split() for line in shown.splitlines()) if "Running" in parts
    }
    assert sorted(set(wanted) - running) == []


def test_abandon_message_is_installed(asterisk: Asterisk) -> None:
    listing = asterisk.cli("core show file formats")
    assert "wav" in listing
    sound = asterisk.root / "usr/share/asterisk/sounds/dialer/abandon.wav"
    assert sound.read_bytes() == (asterisk.deploy / "sounds/dialer/abandon.wav").read_bytes()


async def test_ami_login_with_deploy_credentials(asterisk: Asterisk) -> None:
    creds = asterisk.credentials
    client = await AmiClient.connect(creds.host, creds.port)
    try:
        assert client.banner.startswith("Asterisk Call Manager/")
        response = await client.login(creds.username, creds.secret)
        assert first(response, "Response") == "Success"
        _, booted = await client.wait_for(event("FullyBooted"), 5)
        assert first(booted, "Status") == "Fully Booted"
        pong = await client.request("Ping")
        assert first(pong, "Ping") == "Pong"
    finally:
        await client.close()


async def test_ami_login_with_wrong_secret_is_refused(asterisk: Asterisk) -> None:
    creds = asterisk.credentials
    client = await AmiClient.connect(creds.host, creds.port)
    try:
        started = client.elapsed()
        response = await client.login(creds.username, creds.secret + "-wrong")
        assert first(response, "Response") == "Error"
        assert first(response, "Message") == "Authentication failed"
        # Asterisk answers a failed login after about a second, then closes the connection.
        assert client.elapsed() - started > 0.5
        assert await client.wait_closed(5)
    finally:
        await client.close()


def test_status_in_another_process_sees_this_asterisk(asterisk: Asterisk) -> None:
    """`python -m rig.asterisk status` (and so `stop`) in another terminal finds the Asterisk
    that `start` or a test runs: its pidfile is read inside the chroot."""
    out = subprocess.run(
        [sys.executable, "-m", "rig.asterisk", "status"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == f"asterisk running, pid {asterisk.pid}"
