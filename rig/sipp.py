"""SIPp user agents for the rig: the carrier trunk and the agents' headsets, on loopback ports.

Each `Sipp` is one SIPp process in server (UAS) mode, started and stopped by its PID. SIPp runs
in the foreground without a terminal (`-nostdin`); its screen goes to a file and its statistics
to a CSV file in .rig/run/, read back by `stats()`.

Both scenarios send RTP for the whole life of every answered call (rig/audio.py: speech, then
silence, looped), as real phones and carriers do: Asterisk hangs up a channel that receives no
RTP for its endpoint's rtp_timeout. The trunk's clips also serve answering-machine detection.
The files are made on first use and passed to SIPp as `-key` values, which SIPp needs at
start-up. `media=False` keeps the signalling and sends no RTP on answered calls (the AMD clips
still play, once): for benchmarks that want to measure calls without media.

Stopping sends SIGUSR1 (SIPp's soft quit: it stops taking calls, lets live ones end, writes the
final screen and statistics), then SIGTERM, then SIGKILL.

By hand: `python -m rig.sipp [trunk] [headsets]` (both by default) starts them on the ports the
rig's Asterisk sends calls to and stays in the foreground until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from rig import SIPP_SCENARIOS, RigError, audio, run_dir

TRUNK_SCENARIO = SIPP_SCENARIOS / "trunk_uas.xml"
HEADSET_SCENARIO = SIPP_SCENARIOS / "headset_uas.xml"
DOWN_SCENARIO = SIPP_SCENARIOS / "trunk_down.xml"


@dataclass(frozen=True, slots=True)
class Invite:
    """One INVITE the trunk received, from its log line (rig/sipp/trunk_uas.xml `<log>`)."""

    user: str  # the Request-URI's user part: the dialed number
    from_header: str
    pai: str  # P-Asserted-Identity, '' when absent


_INVITE_LINE = re.compile(r"^INVITE ruri=(sip:)?(?P<user>\S*) from=(?P<from_>.*) pai=(?P<pai>.*)$")


@dataclass(frozen=True, slots=True)
class SippStats:
    """Cumulative counters from SIPp's statistics file (the last line)."""

    incoming_calls: int
    successful_calls: int
    failed_calls: int
    current_calls: int
    raw: dict[str, str]


def _udp_port_bound(port: int) -> bool:
    """Whether some socket is bound to 127.0.0.1:`port`/udp (read from /proc/net/udp)."""
    wanted = f"0100007F:{port:04X}"
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(line.split()[1] == wanted for line in lines if len(line.split()) > 1)


class Sipp:
    """One SIPp UAS process listening on 127.0.0.1:`port`."""

    def __init__(
        self,
        name: str,
        scenario: Path,
        port: int,
        media_port: int,
        keys: Mapping[str, str] | None = None,
        *,
        media: bool = True,
    ) -> None:
        """`keys` are SIPp `-key NAME VALUE` pairs; None gives the trunk and headset scenarios
        their audio files (rig/audio.py), streamed for the whole call unless `media` is False,
        and other scenarios none."""
        self.name = name
        self.scenario = scenario
        self.port = port
        self.media_port = media_port
        self.keys = dict(keys) if keys is not None else None
        self.media = media
        self.process: subprocess.Popen[bytes] | None = None
        base = run_dir() / f"sipp-{name}"
        self.stat_file = base.with_suffix(".csv")
        self.screen_file = base.with_suffix(".screen")
        self.error_file = base.with_suffix(".errors")
        self.log_file = base.with_suffix(".log")
        self.output = base.with_suffix(".out")

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def key_args(self) -> list[str]:
        if self.keys is not None:
            return [arg for key, value in self.keys.items() for arg in ("-key", key, value)]
        scenario = self.scenario.resolve()
        if scenario == TRUNK_SCENARIO.resolve():
            return audio.trunk_keys(self.media)
        if scenario == HEADSET_SCENARIO.resolve():
            return audio.headset_keys(self.media)
        return []

    def command(self) -> list[str]:
        sipp = shutil.which("sipp")
        if sipp is None:
            raise RigError("sipp is not installed (apt-get install sip-tester)")
        return [
            sipp,
            "-sf",
            str(self.scenario),
            "-t",
            "u1",
            "-i",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-ci",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-mp",
            str(self.media_port),
            "-nostdin",
            "-trace_stat",
            "-stf",
            str(self.stat_file),
            "-fd",
            "1",
            "-trace_screen",
            "-screen_file",
            str(self.screen_file),
            "-trace_err",
            "-error_file",
            str(self.error_file),
            "-trace_logs",
            "-log_file",
            str(self.log_file),
            *self.key_args(),
        ]

    def start(self, timeout: float = 5.0) -> None:
        if self.process is not None:
            return
        if _udp_port_bound(self.port):
            raise RigError(f"127.0.0.1:{self.port}/udp is already in use (SIPp {self.name})")
        for path in (self.stat_file, self.screen_file, self.error_file, self.log_file):
            path.unlink(missing_ok=True)
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                tail = self.output.read_text(errors="replace")[-2000:]
                raise RigError(f"sipp {self.name} exited with {code}: {tail}")
            if _udp_port_bound(self.port):
                return
            time.sleep(0.02)
        self.stop()
        raise RigError(f"sipp {self.name} did not bind 127.0.0.1:{self.port} in {timeout} s")

    def stop(self, timeout: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGUSR1, timeout), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            os.kill(process.pid, sig)
            try:
                process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def stats(self) -> SippStats:
        """The cumulative counters SIPp last wrote (it writes them every second)."""
        try:
            text = self.stat_file.read_text(errors="replace")
        except OSError as exc:
            raise RigError(f"no statistics from sipp {self.name} yet: {exc}") from exc
        rows = list(csv.reader(text.splitlines(), delimiter=";"))
        if len(rows) < 2:
            raise RigError(f"no statistics from sipp {self.name} yet")
        row = dict(zip(rows[0], rows[-1], strict=False))

        def count(key: str) -> int:
            return int(row.get(key, "0") or 0)

        return SippStats(
            incoming_calls=count("IncomingCall(C)"),
            successful_calls=count("SuccessfulCall(C)"),
            failed_calls=count("FailedCall(C)"),
            current_calls=count("CurrentCall"),
            raw=row,
        )

    def invites(self) -> list[Invite]:
        """Every INVITE logged so far by a scenario that logs them (the trunk's), oldest first."""
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            found = _INVITE_LINE.match(line.strip())
            if found is not None:
                out.append(Invite(found["user"], found["from_"].strip(), found["pai"].strip()))
        return out

    def __enter__(self) -> Sipp:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def trunk(port: int = 5070, media_port: int = 6000, *, media: bool = True) -> Sipp:
    """The carrier: behaviour per call from the dialed number (rig/numbers.py); answered calls
    send RTP until they end (unless `media` is False)."""
    return Sipp("trunk", TRUNK_SCENARIO, port, media_port, media=media)


def trunk_down(port: int = 5070, media_port: int = 6000) -> Sipp:
    """A carrier that is down: 503 to every call (run it in the trunk's place, on its port)."""
    return Sipp("trunk-down", DOWN_SCENARIO, port, media_port)


def headsets(port: int = 5080, media_port: int = 6100, *, media: bool = True) -> Sipp:
    """Every agent's headset: answers at once, sends RTP (unless `media` is False) and stays up
    until Asterisk hangs up."""
    return Sipp("headsets", HEADSET_SCENARIO, port, media_port, media=media)


def main(argv: list[str]) -> int:
    """Run the trunk and/or the headsets in the foreground until SIGINT or SIGTERM."""
    makers = {"trunk": trunk, "headsets": headsets}
    names = argv or list(makers)
    if any(name not in makers for name in names):
        print("usage: python -m rig.sipp [trunk] [headsets]", file=sys.stderr)
        return 2

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    running: list[Sipp] = []
    try:
        for name in names:
            sipp = makers[name]()
            sipp.start()
            running.append(sipp)
            print(f"sipp {name} pid {sipp.pid} on 127.0.0.1:{sipp.port}", flush=True)
        print("Ctrl-C or SIGTERM stops them", flush=True)
        while all(s.process is not None and s.process.poll() is None for s in running):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for sipp in running:
            sipp.stop()
            try:
                st = sipp.stats()
            except RigError:
                continue
            print(
                f"sipp {sipp.name}: {st.incoming_calls} calls, {st.successful_calls} "
                f"successful, {st.failed_calls} failed",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
