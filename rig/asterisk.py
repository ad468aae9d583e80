"""Run the rig's Asterisk: the chroot built by scripts/rig/build-asterisk.sh, the project's
deploy/asterisk configuration copied in, plus a rig overlay that points the trunk and the agents'
phones at SIPp on loopback.

Facts this relies on (seen on this project's Debian 12 hosts): Asterisk runs in the
foreground as root inside the chroot (`asterisk -f -U root -G root </dev/null`; `-c` without a
terminal spins), it needs /proc mounted in the chroot, and its directories must be owned by root
(the package's asterisk uid means something else on the host).

Usage: `python -m rig.asterisk start|stop|status|cli CMD` (start stays in the foreground until
Ctrl-C), or the `asterisk` pytest fixture.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from rig import DEPLOY_ASTERISK, RigError, asterisk_root, rig_dir, run_dir
from rig.ami import AmiCredentials, probe_login, read_ami_credentials

COMPLETE_MARKER = ".rig-complete"
"""File the build script writes into the chroot once debootstrap and the fix-ups succeeded."""

_OWNED_BY_ROOT = ("var/lib/asterisk", "var/log/asterisk", "var/spool/asterisk", "etc/asterisk")
_SIP_PORT = 5060
SHORT_RTP_TRUNK = "trunk-short-rtp"
SHORT_RTP_AGENT = "agent-short-rtp"
SHORT_RTP_SILENT_AGENT = "silent-agent-short-rtp"


@dataclass(frozen=True, slots=True)
class RigOverlay:
    """Where the rig's SIPp processes listen, written as /etc/asterisk/pjsip_local.conf.

    Every agent endpoint (agent1 ... agentN) points at the one headset SIPp, which answers any
    number of calls at once.

    Three more endpoints keep the deploy's settings but hang up after only
    `short_rtp_timeout_s` without RTP, so a test can show in seconds what the deploy's 60 s
    (trunk) and 120 s (agents) do: `SHORT_RTP_TRUNK` (the carrier, as `trunk`),
    `SHORT_RTP_AGENT` (a headset) and `SHORT_RTP_SILENT_AGENT` (a headset that sends no RTP:
    rig/sipp/headset_uas.xml stays quiet for a Request-URI user starting with "silent").
    Nothing else dials them.
    """

    trunk_port: int = 5070
    headset_port: int = 5080
    agents: int = 50
    observer: str = "rig-observer"
    """A read-only AMI account (manager_local.conf) that also gets the "dialplan" class
    (Newexten, VarSet), which the deploy's `dialer` account leaves out: tests watch which
    applications the dialplan runs with it."""
    observer_secret: str = "rig-observer-secret"
    cdr_database: str | None = None
    """The database (migrated, on the rig's Postgres) Asterisk writes its call records into
    (cdr_pgsql_local.conf); None: cdr_pgsql stays unloaded."""
    short_rtp_timeout_s: int = 4

    def agent_names(self) -> list[str]:
        return [f"agent{i}" for i in range(1, self.agents + 1)]

    def pjsip_local(self) -> str:
        lines = [
            "; Written by the test rig (rig/asterisk.py): SIPp on loopback plays the carrier",
            "; and the agents' headsets. Not for production.",
            "",
            "[trunk]",
            "type = aor",
            f"contact = sip:127.0.0.1:{self.trunk_port}",
            "",
        ]
        for name in self.agent_names():
            lines += [
                f"[{name}](dialer-agent-endpoint)",
                f"aors = {name}",
                "",
                f"[{name}]",
                "type = aor",
                f"contact = sip:{name}@127.0.0.1:{self.headset_port}",
                "",
            ]
        timeout = f"rtp_timeout = {self.short_rtp_timeout_s}"
        lines += [
            "; Short RTP timeouts, for the rig's media tests only.",
            f"[{SHORT_RTP_TRUNK}](dialer-trunk-endpoint)",
            "aors = trunk",
            timeout,
            "",
        ]
        for name in (SHORT_RTP_AGENT, SHORT_RTP_SILENT_AGENT):
            lines += [
                f"[{name}](dialer-agent-endpoint)",
                f"aors = {name}",
                timeout,
                "",
                f"[{name}]",
                "type = aor",
                f"contact = sip:{name}@127.0.0.1:{self.headset_port}",
                "",
            ]
        return "\n".join(lines)

    def manager_local(self) -> str:
        return "\n".join(
            [
                "; Written by the test rig (rig/asterisk.py): a read-only observer. Not for",
                "; production.",
                f"[{self.observer}]",
                f"secret = {self.observer_secret}",
                "deny = 0.0.0.0/0.0.0.0",
                "permit = 127.0.0.1/255.255.255.255",
                "read = system,call,user,dialplan",
                "write =",
                "",
            ]
        )

    def observer_credentials(self, dialer: AmiCredentials) -> AmiCredentials:
        """The observer's login, on the address of the deploy's `dialer` account."""
        return AmiCredentials(dialer.host, dialer.port, self.observer, self.observer_secret)

    def cdr_pgsql_local(self) -> str | None:
        if self.cdr_database is None:
            return None
        return "\n".join(
            [
                "; Written by the test rig (rig/asterisk.py): Asterisk's call records into the",
                "; test database. Not for production.",
                "[global]",
                "hostname = 127.0.0.1",
                "port = 5432",
                f"dbname = {self.cdr_database}",
                "user = postgres",
                "appname = rig-asterisk-cdr",
                "table = pbx_cdr",
                "",
            ]
        )

    @staticmethod
    def logger_local() -> str:
        return "full.log => notice,warning,error,verbose(3)\n"


def missing_reason(root: Path) -> str | None:
    """Why the chroot at `root` cannot be used, or None if it looks complete."""
    if not root.is_dir():
        return f"no Asterisk chroot at {root}: run scripts/rig/build-asterisk.sh {root}"
    if not (root / COMPLETE_MARKER).is_file():
        return (
            f"the Asterisk chroot at {root} is incomplete (no {COMPLETE_MARKER}): "
            f"run scripts/rig/build-asterisk.sh {root}"
        )
    if not (root / "usr/sbin/asterisk").exists():
        return f"{root} has no usr/sbin/asterisk: rebuild it with scripts/rig/build-asterisk.sh"
    return None


def _port_in_use(port: int, kind: int) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _in_root(root: Path, rel: str) -> Path:
    """`root`/`rel` with an absolute symlink at `rel` followed inside `root`, not on the host."""
    path = root / rel
    if path.is_symlink():
        target = Path(os.readlink(path))
        if target.is_absolute():
            return root / target.relative_to("/")
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Asterisk:
    """One Asterisk process in the rig's chroot."""

    def __init__(
        self,
        root: Path | None = None,
        deploy: Path = DEPLOY_ASTERISK,
        overlay: RigOverlay | None = None,
    ) -> None:
        self.root = root if root is not None else asterisk_root()
        self.deploy = deploy
        self.overlay = overlay if overlay is not None else RigOverlay()
        self.credentials: AmiCredentials = read_ami_credentials(deploy / "manager.conf")
        self.process: subprocess.Popen[bytes] | None = None
        self.boot_seconds: float | None = None
        self._mounted_proc = False
        self._lock: int | None = None
        self.output = run_dir() / "asterisk.out"

    # ------------------------------------------------------------------ helpers

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def pidfile(self) -> Path:
        """Asterisk's pidfile as the host sees it. In the chroot var/run is a symlink to /run,
        absolute: followed from outside it names the host's /run, where there is no pidfile,
        and `status` and `stop` would not see an Asterisk another process started."""
        return _in_root(self.root, "var/run") / "asterisk/asterisk.pid"

    @property
    def log_dir(self) -> Path:
        return self.root / "var/log/asterisk"

    def running_pid(self) -> int | None:
        """The PID of an Asterisk running in this chroot (ours or left over), if any."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _pid_alive(pid):
            return None
        try:
            exe = Path(f"/proc/{pid}/exe").resolve()
            proc_root = Path(f"/proc/{pid}/root").resolve()
        except OSError:
            return None
        if exe.name != "asterisk" or proc_root != self.root.resolve():
            return None
        return pid

    def install_config(self) -> None:
        """Replace the chroot's /etc/asterisk with deploy/asterisk plus the rig overlay."""
        etc = self.root / "etc/asterisk"
        stock = self.root / "etc/asterisk.dist"
        if etc.is_dir() and not stock.exists():
            # Keep Debian's sample configuration once, for reference; the rig owns etc/asterisk.
            etc.rename(stock)
        if etc.exists():
            shutil.rmtree(etc)
        etc.mkdir(parents=True)
        for conf in sorted(self.deploy.glob("*.conf")):
            shutil.copy2(conf, etc / conf.name)
        (etc / "pjsip_local.conf").write_text(self.overlay.pjsip_local())
        (etc / "logger_local.conf").write_text(self.overlay.logger_local())
        (etc / "manager_local.conf").write_text(self.overlay.manager_local())
        cdr = self.overlay.cdr_pgsql_local()
        if cdr is not None:
            (etc / "cdr_pgsql_local.conf").write_text(cdr)
        sounds = self.root / "usr/share/asterisk/sounds"
        for sound in sorted((self.deploy / "sounds").rglob("*")):
            if sound.is_file():
                target = sounds / sound.relative_to(self.deploy / "sounds")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(sound, target)

    def _prepare_root(self) -> None:
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        for rel in _OWNED_BY_ROOT:
            path = self.root / rel
            path.mkdir(parents=True, exist_ok=True)
            if path.stat().st_uid != 0:
                subprocess.run(["chown", "-R", "root:root", str(path)], check=True)
        proc = self.root / "proc"
        if not (proc / "self").exists():
            subprocess.run(["mount", "-t", "proc", "proc", str(proc)], check=True)
            self._mounted_proc = True

    def _unmount_proc(self) -> None:
        if self._mounted_proc:
            subprocess.run(["umount", str(self.root / "proc")], check=False)
            self._mounted_proc = False

    # ---------------------------------------------------------------- lifecycle

    def _acquire(self, wait_s: float) -> None:
        """Take the rig: an exclusive lock (.rig/asterisk.lock) and free AMI and SIP ports.

        Another test session or the demo may be using the rig; wait up to `wait_s` for it.
        """
        deadline = time.monotonic() + wait_s
        lock = os.open(rig_dir() / "asterisk.lock", os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(lock)
                    raise RigError(
                        f"the rig is in use by another process (lock {rig_dir()}/asterisk.lock) "
                        f"for more than {wait_s:.0f} s"
                    ) from None
                time.sleep(0.2)
        self._lock = lock
        busy: list[str] = []
        while True:
            busy = [
                f"127.0.0.1:{port} ({what})"
                for port, kind, what in (
                    (self.credentials.port, socket.SOCK_STREAM, "AMI"),
                    (_SIP_PORT, socket.SOCK_DGRAM, "SIP"),
                )
                if _port_in_use(port, kind)
            ]
            if not busy or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if busy:
            self._release()
            raise RigError(f"{', '.join(busy)} in use by another process for {wait_s:.0f} s")

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor drops the flock
            self._lock = None

    def start(self, timeout: float = 30.0, wait_for_rig_s: float = 60.0) -> float:
        """Start Asterisk and wait until AMI accepts the deploy login and it is fully booted.

        Waits up to `wait_for_rig_s` if another process holds the rig or its ports. Returns the
        boot time in seconds. Raises RigError with the reason if it cannot start.
        """
        reason = missing_reason(self.root)
        if reason is not None:
            raise RigError(reason)
        if os.geteuid() != 0:
            raise RigError("the Asterisk rig needs root (chroot, mount)")
        self._acquire(wait_for_rig_s)
        try:
            left_over = self.running_pid()
            if left_over is not None:
                raise RigError(
                    f"an Asterisk is already running in {self.root} (pid {left_over}) without "
                    "holding the rig's lock; stop it with `python -m rig.asterisk stop`"
                )
            return self._start(timeout)
        except BaseException:
            self._release()
            raise

    def _start(self, timeout: float) -> float:
        self.install_config()
        self._prepare_root()
        started = time.monotonic()
        with self.output.open("ab") as out:
            self.process = subprocess.Popen(
                ["chroot", str(self.root), "asterisk", "-f", "-U", "root", "-G", "root"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        seen = "not tried"
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                self._unmount_proc()
                raise RigError(f"asterisk exited with {code} while booting; see {self.output}")
            ready, seen = probe_login(self.credentials, timeout=1.0)
            if ready:
                self.boot_seconds = time.monotonic() - started
                return self.boot_seconds
            time.sleep(0.05)
        self.stop()
        raise RigError(f"asterisk did not finish booting in {timeout:.0f} s ({seen})")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop our Asterisk by its PID (SIGTERM, then SIGKILL), and unmount /proc."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._unmount_proc()
        self._release()

    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run one CLI command in the running Asterisk (`asterisk -rx`) and return its output."""
        result = subprocess.run(
            ["chroot", str(self.root), "asterisk", "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RigError(f"asterisk -rx {command!r} failed: {result.stderr.strip()}")
        return result.stdout

    def version(self) -> str:
        result = subprocess.run(
            ["chroot", str(self.root), "asterisk", "-V"],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def __enter__(self) -> Asterisk:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def stop_left_over(root: Path | None = None) -> int | None:
    """Stop an Asterisk left running in the rig's chroot by an earlier run (by its pidfile)."""
    rig = Asterisk(root)
    pid = rig.running_pid()
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        if (rig.root / "proc/self").exists():  # the `start` process may unmount it first
            subprocess.run(
                ["umount", str(rig.root / "proc")], check=False, stderr=subprocess.DEVNULL
            )
    return pid


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"start", "stop", "status", "cli"}:
        print("usage: python -m rig.asterisk start|stop|status|cli COMMAND", file=sys.stderr)
        return 2
    if argv[0] == "stop":
        pid = stop_left_over()
        print(f"stopped asterisk pid {pid}" if pid else "no asterisk running in the rig")
        return 0
    rig = Asterisk()
    if argv[0] == "status":
        pid = rig.running_pid()
        print(f"asterisk running, pid {pid}" if pid else "asterisk not running")
        return 0 if pid else 1
    if argv[0] == "cli":
        print(rig.cli(" ".join(argv[1:])), end="")
        return 0
    print("starting asterisk (waits while another process holds the rig)", flush=True)
    seconds = rig.start()
    print(f"asterisk pid {rig.pid} booted in {seconds:.2f} s; Ctrl-C stops it", flush=True)
    try:
        while rig.process is not None and rig.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        rig.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
