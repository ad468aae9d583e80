"""The PBX test rig: a real Asterisk 22 (in a chroot) and SIPp on loopback.

Dev tooling only, importable from the repository root as `rig`: used by the pytest fixtures in
tests/fixtures/rig.py, the demo, the benchmarks and scripts/rig/. Nothing in `dialer/` or
`ami_bridge/` imports it.

Everything the rig starts binds to 127.0.0.1 and is stopped by its PID.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEPLOY_ASTERISK = REPO / "deploy" / "asterisk"
SIPP_SCENARIOS = Path(__file__).resolve().parent / "sipp"


def rig_dir() -> Path:
    """Where the rig keeps its chroot and run-time files (`DIALER_RIG_DIR`, default `.rig/`)."""
    return Path(os.environ.get("DIALER_RIG_DIR", str(REPO / ".rig")))


def asterisk_root() -> Path:
    """The Asterisk chroot (`DIALER_RIG_ASTERISK_ROOT`, default `.rig/asterisk-root`)."""
    default = rig_dir() / "asterisk-root"
    return Path(os.environ.get("DIALER_RIG_ASTERISK_ROOT", str(default)))


def run_dir() -> Path:
    """Logs and statistics of the current rig processes (`.rig/run`)."""
    path = rig_dir() / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


class RigError(Exception):
    """The rig cannot run: missing chroot, port in use, a process that would not start."""
