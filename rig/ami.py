"""A small raw AMI client for the rig: readiness probes, rig tests and transcript recording.

This is test tooling, not the daemon's adapter (that is `ami_bridge/`, on panoramisk). It keeps
every message exactly as Asterisk sent it: one dict per message, a repeated header (such as
`ChanVariable`) becoming a list of its values in order, the same shape panoramisk gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from rig import DEPLOY_ASTERISK, RigError

Headers = dict[str, str | list[str]]
Recorder = Callable[[str, float, Mapping[str, str | list[str]]], None]

_EOL: Final = b"\r\n"
_EOM: Final = b"\r\n\r\n"


@dataclass(frozen=True, slots=True)
class AmiCredentials:
    host: str
    port: int
    username: str
    secret: str = field(repr=False)


def read_ami_credentials(
    manager_conf: Path = DEPLOY_ASTERISK / "manager.conf", user: str = "dialer"
) -> AmiCredentials:
    """The address and the `user`'s secret from a manager.conf (the deploy one by default)."""
    section = ""
    general: dict[str, str] = {}
    account: dict[str, str] = {}
    for raw in manager_conf.read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            section = line[1 : line.index("]")]
            continue
        if "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if section == "general":
            general[key] = value
        elif section == user:
            account[key] = value
    if "secret" not in account:
        raise RigError(f"no [{user}] with a secret in {manager_conf}")
    return AmiCredentials(
        host=general.get("bindaddr", "127.0.0.1"),
        port=int(general.get("port", "5038")),
        username=user,
        secret=account["secret"],
    )


def encode(headers: Mapping[str, object]) -> bytes:
    """Headers to AMI wire format; a list value becomes one header line per item."""
    lines: list[str] = []
    for key, value in headers.items():
        if isinstance(value, list | tuple):
            lines.extend(f"{key}: {item}" for item in value)
        else:
            lines.append(f"{key}: {value}")
    return ("\r\n".join(lines)).encode() + _EOM


def decode(block: bytes) -> Headers:
    """One AMI message (without its blank line) to a header dict."""
    headers: Headers = {}
    for line in block.decode(errors="replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            key, sep, value = line.partition(":")
            if not sep:
                continue
        if key in headers:
            old = headers[key]
            headers[key] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            headers[key] = value
    return headers


def first(headers: Mapping[str, str | list[str]], key: str) -> str:
    """A header's value ('' if absent; the first one if repeated)."""
    value = headers.get(key, "")
    if isinstance(value, list):
        return value[0] if value else ""
    return value


class AmiClient:
    """An asyncio AMI connection that keeps every message it receives, in order.

    `messages` holds all received messages (events and responses); `wait_for` scans them from a
    cursor so a test can wait for an event that may already have arrived.
    """

    _ids = itertools.count(1)

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        banner: str,
        recorder: Recorder | None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.banner = banner
        self._recorder = recorder
        self._t0 = time.monotonic()
        self.messages: list[Headers] = []
        self.times: list[float] = []
        self._changed = asyncio.Condition()
        self._closed = False
        self._task = asyncio.create_task(self._read_loop(), name="rig-ami-reader")

    @classmethod
    async def connect(
        cls, host: str = "127.0.0.1", port: int = 5038, recorder: Recorder | None = None
    ) -> AmiClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        banner = (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
        if not banner.startswith("Asterisk Call Manager"):
            writer.close()
            raise RigError(f"not an AMI banner: {banner!r}")
        return cls(reader, writer, banner, recorder)

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    async def _read_loop(self) -> None:
        try:
            while True:
                block = await self._reader.readuntil(_EOM)
                headers = decode(block[: -len(_EOM)])
                now = self.elapsed()
                if self._recorder is not None:
                    self._recorder("in", now, headers)
                async with self._changed:
                    self.messages.append(headers)
                    self.times.append(now)
                    self._changed.notify_all()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._closed = True
            async with self._changed:
                self._changed.notify_all()

    async def send(self, action: str, **headers: str | Sequence[str]) -> str:
        """Send an action and return its ActionID (without waiting for the response)."""
        action_id = str(headers.pop("ActionID", f"rig-{next(self._ids)}"))
        message: dict[str, object] = {"Action": action, "ActionID": action_id, **headers}
        if self._recorder is not None:
            shown = {k: ("********" if k.lower() == "secret" else v) for k, v in message.items()}
            self._recorder("out", self.elapsed(), {k: _as_header(v) for k, v in shown.items()})
        self._writer.write(encode(message))
        await self._writer.drain()
        return action_id

    async def wait_for(
        self,
        predicate: Callable[[Headers], bool],
        wait_s: float = 10.0,
        start: int = 0,
    ) -> tuple[int, Headers]:
        """The first message at index >= `start` that satisfies `predicate`, and its index."""
        deadline = time.monotonic() + wait_s
        index = start
        async with self._changed:
            while True:
                while index < len(self.messages):
                    if predicate(self.messages[index]):
                        return index, self.messages[index]
                    index += 1
                if self._closed:
                    raise RigError("AMI connection closed while waiting")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching AMI message")
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    continue

    async def request(
        self, action: str, wait_s: float = 10.0, **headers: str | Sequence[str]
    ) -> Headers:
        """Send an action and wait for its Response (list events stay in `messages`)."""
        start = len(self.messages)
        action_id = await self.send(action, **headers)
        _, response = await self.wait_for(
            lambda m: "Response" in m and first(m, "ActionID") == action_id, wait_s, start
        )
        return response

    async def request_list(
        self, action: str, wait_s: float = 10.0, **headers: str | Sequence[str]
    ) -> tuple[Headers, list[Headers]]:
        """An action answered by a list of events (`EventList: start` ... `EventList: Complete`)."""
        start = len(self.messages)
        action_id = await self.send(action, **headers)
        index, response = await self.wait_for(
            lambda m: "Response" in m and first(m, "ActionID") == action_id, wait_s, start
        )
        if first(response, "Response") != "Success":
            return response, []
        end, _ = await self.wait_for(
            lambda m: first(m, "ActionID") == action_id and first(m, "EventList") == "Complete",
            wait_s,
            index,
        )
        items = [
            m
            for m in self.messages[index + 1 : end]
            if "Event" in m and first(m, "ActionID") == action_id
        ]
        return response, items

    async def wait_closed(self, wait_s: float = 5.0) -> bool:
        """Wait until Asterisk closes the connection; whether it did within `wait_s`."""
        deadline = time.monotonic() + wait_s
        async with self._changed:
            while not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)
        return True

    async def login(self, username: str, secret: str) -> Headers:
        return await self.request("Login", Username=username, Secret=secret)

    async def close(self) -> None:
        if not self._writer.is_closing():
            self._writer.close()
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(self._writer.wait_closed(), 2)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _as_header(value: object) -> str | list[str]:
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    return str(value)


def probe_login(credentials: AmiCredentials, timeout: float = 2.0) -> tuple[bool, str]:
    """Connect, log in and wait for FullyBooted, blocking. Returns (ready, what was seen).

    Used while Asterisk boots: the port opens before every module is loaded, and only the
    FullyBooted event, sent to a session at login once the boot is over, says all is ready.
    """
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((credentials.host, credentials.port), timeout) as sock:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            data = b""
            login = encode(
                {
                    "Action": "Login",
                    "ActionID": "probe",
                    "Username": credentials.username,
                    "Secret": credentials.secret,
                    "Events": "system",
                }
            )
            sent = False
            logged_in = False
            while time.monotonic() < deadline:
                if not sent and _EOL in data:
                    data = data.split(_EOL, 1)[1]
                    sock.sendall(login)
                    sent = True
                while _EOM in data:
                    block, data = data.split(_EOM, 1)
                    headers = decode(block)
                    if first(headers, "ActionID") == "probe":
                        if first(headers, "Response") != "Success":
                            return False, f"login refused: {first(headers, 'Message')}"
                        logged_in = True
                    if first(headers, "Event") == "FullyBooted":
                        sock.sendall(encode({"Action": "Logoff"}))
                        return True, "fully booted"
                sock.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    return False, "connection closed"
                data += chunk
            return False, "logged in, not fully booted yet" if logged_in else "no login answer"
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"


def event(name: str, uid: str | None = None, **headers: str) -> Callable[[Headers], bool]:
    """A `wait_for` predicate: event `name`, of channel `uid` (Uniqueid or DestUniqueid), with
    the given header values."""

    def match(message: Headers) -> bool:
        if first(message, "Event") != name:
            return False
        if uid is not None and uid not in (
            first(message, "Uniqueid"),
            first(message, "DestUniqueid"),
        ):
            return False
        return all(first(message, key) == value for key, value in headers.items())

    return match
