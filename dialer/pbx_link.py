"""The plumbing both PBX adapters need around their one connection, written once: the event
queue, the up/down state, the reconnect loop with back-off, and the keepalive ping.

Rules:
- The adapter's callbacks only enqueue (`emit`); the engine reads the queue (`events`).
- `lost(reason)` marks the link down once and reports ConnectionLost (not while closing):
  losses seen twice (a ping that failed, then the socket's own close) are one loss.
- Whenever the link is down the reconnect loop tries the adapter's `connect_once` after
  `backoff_delays` (exponential, capped), until it works. Then it lists the live channels,
  lets the adapter reconcile its own records with them, and reports ConnectionRestored. If
  that listing fails the link is dropped again without a second ConnectionLost (the engine was
  never told it was back) and the loop starts over. Nothing is re-sent: an originate whose
  reply was lost is found (or not) among the live channels by its own id.
- A link that dies without a TCP reset (a cable pulled, a NAT forgetting the flow) is noticed
  only by a request left unanswered: the keepalive pings every few seconds while the link is
  up, and a failed ping drops the link (the adapter's `drop`), which reports the loss.

`backoff_delays` is pure; `PbxLink` does the asyncio part and knows nothing of AMI or ESL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

from dialer import pbx
from dialer.tasks import OwnedTasks


def backoff_delays(first_s: float, max_s: float) -> Iterator[float]:
    """The waits before each reconnect try: `first_s`, then doubled each time, at most `max_s`."""
    if not 0 < first_s <= max_s:
        raise ValueError(f"back-off needs 0 < first ({first_s}) <= max ({max_s})")
    return _doubling(first_s, max_s)


def _doubling(delay: float, max_s: float) -> Iterator[float]:
    while True:
        yield delay
        delay = min(delay * 2, max_s)


class LinkOwner(Protocol):
    """What the shared plumbing asks of an adapter."""

    async def connect_once(self) -> None:
        """Connect and log in, then call `PbxLink.connected`; a PbxError if it could not."""

    async def live_channels(self) -> list[pbx.LiveChannel]:
        """The channels the PBX has now (a PbxError if it cannot say)."""
        ...

    def reconcile(self, live: list[pbx.LiveChannel]) -> None:
        """Bring the adapter's own records in line with the PBX's channels after a reconnect."""

    async def ping(self) -> None:
        """A request that must be answered in time; a PbxError otherwise."""

    def drop(self, reason: str) -> None:
        """Close the connection now, if there is one (it reports its loss through `lost`)."""


class PbxLink:
    """One adapter's link state, event queue, reconnect loop and keepalive.

    `what` names the link in logs ("lost the AMI connection: ..."), `short` in the shorter
    lines ("AMI reconnect failed ...")."""

    def __init__(
        self,
        what: str,
        short: str,
        logger: logging.Logger,
        *,
        reconnect_min_s: float,
        reconnect_max_s: float,
        ping_every_s: float,
    ) -> None:
        backoff_delays(reconnect_min_s, reconnect_max_s)  # checks the bounds now
        self._what = what
        self._short = short
        self._logger = logger
        self._reconnect_min_s = reconnect_min_s
        self._reconnect_max_s = reconnect_max_s
        self._ping_every_s = ping_every_s
        self._queue: asyncio.Queue[pbx.PbxEvent] = asyncio.Queue()
        self._lost = asyncio.Event()
        self.up = False
        self.closing = False

    @staticmethod
    def now() -> float:
        return asyncio.get_running_loop().time()

    # -- events -----------------------------------------------------------------------------

    def emit(self, event: pbx.PbxEvent) -> None:
        self._queue.put_nowait(event)

    async def events(self) -> AsyncIterator[pbx.PbxEvent]:
        while True:
            yield await self._queue.get()

    def drain_ready(self) -> list[pbx.PbxEvent]:
        """Events already queued, without waiting (for tests that read the stream in steps)."""
        out: list[pbx.PbxEvent] = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out

    # -- up and down ------------------------------------------------------------------------

    def connected(self) -> None:
        """The adapter connected and logged in."""
        self.up = True
        self._lost.clear()

    def lost(self, reason: str) -> None:
        """The link dropped (reported once, and not while closing)."""
        if not self.up:
            return
        self.up = False
        self._lost.set()
        if not self.closing:
            self._logger.warning("lost the %s: %s", self._what, reason)
            self.emit(pbx.ConnectionLost(reason, self.now()))

    def start(self, owner: LinkOwner, tasks: OwnedTasks, prefix: str) -> None:
        """Run the reconnect loop and the keepalive in `tasks` (cancelled with them)."""
        tasks.spawn(self._supervise(owner), f"{prefix}-supervise")
        tasks.spawn(self._keepalive(owner), f"{prefix}-ping")

    def close(self) -> None:
        """No more reports: the adapter is closing."""
        self.closing = True
        self.up = False

    # -- the loops --------------------------------------------------------------------------

    async def _supervise(self, owner: LinkOwner) -> None:
        while True:
            await self._lost.wait()
            owner.drop("reconnecting")  # whatever is left of the old connection
            await self._reconnect(owner)
            try:
                live = await owner.live_channels()
            except pbx.PbxError as exc:
                self._logger.warning("could not list live channels after reconnect: %s", exc)
                self.up = False  # silently: ConnectionLost was reported, no restore since
                self._lost.set()
                owner.drop("reconciliation failed")
                continue
            owner.reconcile(live)
            self.emit(pbx.ConnectionRestored(tuple(live), self.now()))

    async def _reconnect(self, owner: LinkOwner) -> None:
        delays = backoff_delays(self._reconnect_min_s, self._reconnect_max_s)
        delay = next(delays)
        while True:
            await asyncio.sleep(delay)
            try:
                await owner.connect_once()
            except pbx.PbxError as exc:
                delay = next(delays)
                self._logger.warning(
                    "%s reconnect failed (%s); next try in %.1f s", self._short, exc, delay
                )
                continue
            return

    async def _keepalive(self, owner: LinkOwner) -> None:
        while True:
            await asyncio.sleep(self._ping_every_s)
            if not self.up:
                continue
            try:
                await owner.ping()
            except pbx.PbxError as exc:
                if self.up:
                    self._logger.warning(
                        "%s ping unanswered (%s); dropping the connection", self._short, exc
                    )
                    owner.drop(f"ping unanswered: {exc}")
                    self.lost(f"ping unanswered: {exc}")
