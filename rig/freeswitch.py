"""A real FreeSWITCH for tests: started with the project's deploy/freeswitch/ configuration.

The binary is found through the `DIALER_FREESWITCH` environment variable or as `freeswitch` on
PATH; the project never ships or builds FreeSWITCH. Everything binds to 127.0.0.1. The process
runs in the foreground (`-nf -nc`), is stopped by its own PID (SIGTERM, then SIGKILL), and keeps
its logs, database and runtime files in a work directory of the caller's choice.

The settings deploy/freeswitch/vars.xml reads from the environment (`DIALER_FS_*`) are how a
test points FreeSWITCH at its own ports and SIPp far ends without editing the configuration.

Sounds: the run's own sounds directory (`<workdir>/sounds`, FreeSWITCH's `-sounds`) gets the
abandon message's recorded prompts (deploy/asterisk/sounds/dialer/ as `dialer/`) and, unless the
settings name a real English sound set (`say_sounds`), espeak-ng stand-ins for the digit prompts
mod_say_en reads (`digits/0.wav` .. `digits/9.wav`, what freeswitch-sounds-en-us-callie provides
in production), which DIALER_FS_SAY_SOUNDS then points at.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final

ENV_BINARY = "DIALER_FREESWITCH"
DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy" / "freeswitch"
SOUNDS_DIR = DEPLOY_DIR.parent / "asterisk" / "sounds"
"""The recorded prompts, shared by both PBXs: copied under FreeSWITCH's sounds directory."""
LOOPBACK = "127.0.0.1"
SAY_STAND_INS = "rig-say-en"
"""Under the run's sounds directory: the espeak-ng stand-ins for the English digit prompts."""
DIGIT_WORDS: Final = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
)  # fmt: skip


class FreeswitchError(Exception):
    """FreeSWITCH could not be started or did not become ready."""


def find_freeswitch() -> str | None:
    """The binary named by DIALER_FREESWITCH, else `freeswitch` on PATH, else None."""
    named = os.environ.get(ENV_BINARY)
    if named:
        return named if os.access(named, os.X_OK) else None
    return shutil.which("freeswitch")


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that was free a moment ago (for TCP or UDP)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class FreeswitchSettings:
    """What a test chooses; passed to FreeSWITCH as DIALER_FS_* environment variables."""

    esl_port: int = 8021
    esl_password: str = field(default="rig-esl-secret", repr=False)
    sip_port: int = 5090
    trunk_proxy: str = f"{LOOPBACK}:5070"
    agent_host: str = f"{LOOPBACK}:5080"
    rtp_start: int = 24000
    rtp_end: int = 24999
    hold_ms: int = 1500
    abandon_message: str | None = None
    say_sounds: str | None = None
    """The English prompts mod_say_en reads the digits from (a directory with `digits/N.wav`);
    None: the rig renders espeak-ng stand-ins into the run's own sounds directory."""
    cdr_database: str | None = None
    """The database (migrated, on the rig's Postgres) FreeSWITCH writes its call records into
    (mod_cdr_pg_csv, table pbx_cdr); None: vars.xml's default connection, which the rig does
    not have (records then go to the spool under the run's log directory)."""

    def environment(self) -> dict[str, str]:
        env = {
            "DIALER_FS_ESL_IP": LOOPBACK,
            "DIALER_FS_ESL_PORT": str(self.esl_port),
            "DIALER_FS_ESL_PASSWORD": self.esl_password,
            "DIALER_FS_SIP_IP": LOOPBACK,
            "DIALER_FS_SIP_PORT": str(self.sip_port),
            "DIALER_FS_TRUNK_PROXY": self.trunk_proxy,
            "DIALER_FS_AGENT_REACH": "fixed",
            "DIALER_FS_AGENT_HOST": self.agent_host,
            "DIALER_FS_RTP_START": str(self.rtp_start),
            "DIALER_FS_RTP_END": str(self.rtp_end),
            "DIALER_FS_HOLD_MS": str(self.hold_ms),
        }
        if self.abandon_message:
            env["DIALER_FS_ABANDON_MESSAGE"] = self.abandon_message
        if self.cdr_database:
            env["DIALER_FS_CDR_DB"] = (
                f"host={LOOPBACK} port=5432 dbname={self.cdr_database} user=postgres "
                "connect_timeout=5 application_name=rig-freeswitch-cdr"
            )
        return env


def render_digit_stand_ins(target: Path) -> list[Path]:
    """`target/digits/0.wav` .. `9.wav`, the words spoken by espeak-ng (through sox, as the
    abandon message's prompts): stand-ins for the English digit prompts, which the rig does not
    install. Raises FreeswitchError when espeak-ng or sox is missing or fails."""
    # Imported here so that `rig.freeswitch` can be imported to find the binary alone.
    from dialer.prompts import PromptError, render

    paths = []
    try:
        for digit, word in enumerate(DIGIT_WORDS):
            path = target / "digits" / f"{digit}.wav"
            if not path.exists():
                render(word, path)
            paths.append(path)
    except PromptError as exc:
        raise FreeswitchError(f"cannot make the digit prompts' stand-ins: {exc}") from exc
    return paths


class Freeswitch:
    """One FreeSWITCH process. Use as a context manager, or call start() and stop()."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        settings: FreeswitchSettings | None = None,
        conf_dir: Path = DEPLOY_DIR,
    ) -> None:
        self.binary = binary
        self.workdir = workdir
        self.settings = settings or FreeswitchSettings()
        self.conf_dir = conf_dir
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path:
        return self.workdir / "log" / "freeswitch.log"

    @property
    def sounds_dir(self) -> Path:
        """FreeSWITCH's sounds directory (`-sounds`): relative sound paths are under it."""
        return self.workdir / "sounds"

    @property
    def say_sounds(self) -> Path:
        """Where mod_say_en reads the digits from (`dialer_say_sounds` in vars.xml)."""
        if self.settings.say_sounds:
            return Path(self.settings.say_sounds)
        return self.sounds_dir / SAY_STAND_INS

    def prepare_sounds(self) -> None:
        """The abandon message's prompts (vars.xml names them relative to the sounds
        directory) and, without a real English sound set, the digits' stand-ins."""
        shutil.copytree(SOUNDS_DIR, self.sounds_dir, dirs_exist_ok=True)
        if not self.settings.say_sounds:
            render_digit_stand_ins(self.say_sounds)

    def command(self) -> list[str]:
        dirs = {
            name: self.workdir / name
            for name in ("log", "db", "run", "temp", "cache", "recordings", "storage", "sounds")
        }
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        cmd = [self.binary, "-nf", "-nc", "-nonat", "-nonatmap", "-conf", str(self.conf_dir)]
        for name, path in dirs.items():
            cmd += [f"-{name}", str(path)]
        return cmd

    def start(self, timeout: float = 30.0) -> None:
        """Start FreeSWITCH and wait until its event socket takes our password."""
        if self._proc is not None:
            raise FreeswitchError("already started")
        env = {
            **os.environ,
            **self.settings.environment(),
            # vars.xml's default is where the English sound set goes, not installed here.
            "DIALER_FS_SAY_SOUNDS": str(self.say_sounds),
        }
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = self.command()
        self.prepare_sounds()
        out = (self.workdir / "freeswitch.out").open("wb")
        try:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
            )
        finally:
            out.close()
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                tail = self._tail()
                raise FreeswitchError(f"FreeSWITCH exited during start-up:\n{tail}")
            try:
                status = self.api("sofia status")
            except OSError as exc:
                last_error = str(exc)
            else:
                # A line "dialer  profile  sip:mod_sofia@127.0.0.1:5090  RUNNING (0)".
                if any(
                    line.split()[:2] == ["dialer", "profile"] and "RUNNING" in line
                    for line in status.splitlines()
                ):
                    return
                last_error = f"SIP profile 'dialer' not running yet: {status.strip()[:300]}"
            time.sleep(0.2)
        raise FreeswitchError(f"FreeSWITCH not ready after {timeout:.0f} s: {last_error}")

    def api(self, command: str, timeout: float = 5.0) -> str:
        """Run one `api` command over a fresh event-socket connection (for set-up and checks)."""
        # Imported here so that `rig.freeswitch` can be imported to find the binary alone.
        from esl_bridge import codec

        s = self.settings
        with socket.create_connection((LOOPBACK, s.esl_port), timeout=timeout) as sock:
            decoder = codec.Decoder()
            pending: list[codec.Message] = []

            def next_message() -> codec.Message:
                while not pending:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionResetError("event socket closed")
                    pending.extend(decoder.feed(data))
                return pending.pop(0)

            if not isinstance(next_message(), codec.AuthRequest):
                raise OSError("no auth/request greeting")
            sock.sendall(codec.auth_command(s.esl_password))
            reply = next_message()
            if not isinstance(reply, codec.CommandReply) or not reply.ok:
                raise OSError(f"event socket refused the password: {reply}")
            sock.sendall(codec.api_command(command))
            while True:
                message = next_message()
                if isinstance(message, codec.ApiResponse):
                    sock.sendall(codec.encode_command("exit"))
                    return message.body

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM by PID, wait, then SIGKILL."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def _tail(self, lines: int = 30) -> str:
        for path in (self.workdir / "freeswitch.out", self.log_path):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()
                if text:
                    return "\n".join(text[-lines:])
        return "(no output)"

    def __enter__(self) -> Freeswitch:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
