"""A read-only Event Socket observer for rig tests: what FreeSWITCH executed, seen from outside.

Test tooling, not the daemon's adapter (that is `esl_bridge/client.py`): one event-socket
connection of its own, subscribed to the events that say which dialplan applications ran and
which files were played (CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE with `Application` and
`Application-Data`, PLAYBACK_START / PLAYBACK_STOP with `Playback-File-Path`), plus answer and
hang-up. It keeps every event in order, with its own `Event-Date-Timestamp` (FreeSWITCH's clock,
microseconds), and sends nothing but its login and subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Final

from esl_bridge import codec

OBSERVED: Final = (
    "CHANNEL_ANSWER",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "CHANNEL_HANGUP_COMPLETE",
)


class EslObserverError(Exception):
    """The observer could not log in or subscribe, or an awaited event did not come."""


def timestamp(event: codec.Event) -> float:
    """The event's time (FreeSWITCH's `Event-Date-Timestamp`), in seconds."""
    return int(event.get("Event-Date-Timestamp") or "0") / 1e6


class EslObserver:
    """Collects FreeSWITCH's events on a connection of its own. Use `connect()`, then `close()`."""

    def __init__(self) -> None:
        self.events: list[codec.Event] = []
        self._replies: asyncio.Queue[codec.Message] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._closed = False
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls, port: int, password: str, names: Sequence[str] = OBSERVED, host: str = "127.0.0.1"
    ) -> EslObserver:
        self = cls()
        reader, self._writer = await asyncio.open_connection(host, port)
        self._task = asyncio.create_task(self._read(reader))
        try:
            greeting = await self._reply()
            if not isinstance(greeting, codec.AuthRequest):
                raise EslObserverError(f"no auth/request greeting: {greeting}")
            for command in (codec.auth_command(password), codec.event_command(names)):
                reply = await self._send(command)
                if not isinstance(reply, codec.CommandReply) or not reply.ok:
                    raise EslObserverError(f"the event socket refused the observer: {reply}")
        except BaseException:
            await self.close()
            raise
        return self

    async def _read(self, reader: asyncio.StreamReader) -> None:
        decoder = codec.Decoder()
        try:
            while data := await reader.read(65536):
                for message in decoder.feed(data):
                    if isinstance(message, codec.Event):
                        self.events.append(message)
                        self._changed.set()
                    else:
                        self._replies.put_nowait(message)
        finally:
            self._closed = True
            self._changed.set()

    async def _reply(self, within: float = 10.0) -> codec.Message:
        return await asyncio.wait_for(self._replies.get(), within)

    async def _send(self, data: bytes) -> codec.Message:
        assert self._writer is not None
        self._writer.write(data)
        await self._writer.drain()
        return await self._reply()

    async def wait_for(
        self, match: Callable[[codec.Event], bool], within: float = 15.0, start: int = 0
    ) -> codec.Event:
        """The first event from index `start` on that matches, waiting up to `within` s."""
        deadline = time.monotonic() + within
        checked = start
        while True:
            for event in self.events[checked:]:
                if match(event):
                    return event
            checked = max(checked, len(self.events))
            left = deadline - time.monotonic()
            if left <= 0 or self._closed:
                raise EslObserverError(f"no matching event within {within} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()


def event(name: str, uid: str, **headers: str) -> Callable[[codec.Event], bool]:
    """A matcher: event `name` about channel `uid`, with these header values."""

    def match(e: codec.Event) -> bool:
        return (
            e.name == name
            and e.get("Unique-ID") == uid
            and all(e.get(k) == v for k, v in headers.items())
        )

    return match


def of(events: Sequence[codec.Event], uid: str, name: str, **headers: str) -> list[codec.Event]:
    """Every event `name` about channel `uid` with these header values, in order."""
    match = event(name, uid, **headers)
    return [e for e in events if match(e)]
