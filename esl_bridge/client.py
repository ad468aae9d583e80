"""The FreeSWITCH adapter: `dialer.pbx.Pbx` over the event socket (inbound ESL), asyncio only.

One TCP connection carries commands and events. FreeSWITCH answers commands in the order they
were sent (command/reply, api/response), interleaved with events, so replies are matched to a
FIFO of futures; an unanswered command within the timeout drops the connection (a late reply
would be matched to the wrong command).

- start(): connect, `auth`, subscribe (`event plain ...`), filters on the dialer's legs.
  A refused password is PbxAuthError; nothing listening is PbxUnavailable.
- A lost link is reported as ConnectionLost and retried with exponential back-off; once back,
  the live channels are listed (`show channels` / `show calls` as JSON) and reported as
  ConnectionRestored; a `strepoch` every few seconds notices a link dead without a reset. That
  plumbing is shared with the Asterisk adapter (dialer/pbx_link.py). Nothing is re-sent: an
  originate whose reply was lost is found (or not) among the live channels by its own id.
- Originates are `bgapi` with Job-UUID = origination_uuid = the dialer's channel id.
- connect()/abandon() wait until the leg runs its dialplan extension (its originate job said
  +OK): an uuid_transfer sent at CHANNEL_ANSWER was overridden by the originate's own transfer
  into the dialplan (seen on FreeSWITCH 1.10.12).
- hangup() of a leg whose channel does not exist yet is remembered and done when it appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from dialer import pbx
from dialer.pbx_link import PbxLink
from dialer.settings import PbxSettings
from dialer.tasks import OwnedTasks
from esl_bridge import codec, commands
from esl_bridge.adapter import CAPABILITIES
from esl_bridge.translate import LEG_KINDS, LEG_VARIABLE, WANTED_EVENTS, EslTranslator
from esl_bridge.translate import live_channels as parse_live_channels

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EslOptions:
    """FreeSWITCH specifics not in PbxSettings (which names the three extensions)."""

    context: str = "dialer"
    command_timeout_s: float = 5.0
    ready_timeout_s: float = 2.0  # how long connect/abandon wait for a leg to reach its dialplan
    ping_every_s: float = 5.0


class _NotSent(pbx.PbxUnavailable):
    """The command was not written: no connection."""


class _Link:
    """One event-socket connection and the replies it still owes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.pending: deque[asyncio.Future[codec.Message]] = deque()
        self.down = False
        self.reason = ""

    def fail_pending(self, reason: str) -> None:
        while self.pending:
            fut = self.pending.popleft()
            if not fut.done():
                fut.set_exception(pbx.PbxUnavailable(reason))


class EslPbx:
    """`dialer.pbx.Pbx` for FreeSWITCH."""

    capabilities = CAPABILITIES

    def __init__(self, settings: PbxSettings, options: EslOptions | None = None) -> None:
        self._settings = settings
        self._options = options or EslOptions()
        self._dialplan = commands.Dialplan(
            context=self._options.context,
            customer=settings.customer_context,
            agent=settings.agent_context,
            abandon=settings.abandon_context,
        )
        self._translator = EslTranslator()
        self._pbx_link = PbxLink(
            "FreeSWITCH event socket",
            "event socket",
            logger,
            reconnect_min_s=settings.reconnect_min_s,
            reconnect_max_s=settings.reconnect_max_s,
            ping_every_s=self._options.ping_every_s,
        )
        self._link: _Link | None = None
        self._tasks = OwnedTasks(logger, "ESL")
        self._ready_waiters: dict[str, asyncio.Event] = {}
        self._kill_on_create: set[str] = set()

    # -- connection -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._pbx_link.up

    async def start(self) -> None:
        await self.connect_once()
        self._pbx_link.start(self, self._tasks, "esl")

    async def close(self) -> None:
        self._pbx_link.closing = True
        await self._tasks.cancel_all()
        link, self._link = self._link, None
        self._pbx_link.close()
        if link is not None:
            link.down = True
            link.fail_pending("adapter closed")
            link.writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await link.writer.wait_closed()
        for waiter in self._ready_waiters.values():
            waiter.set()

    async def connect_once(self) -> None:
        s = self._settings
        where = f"{s.host}:{s.port}"
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(s.host, s.port), s.connect_timeout_s
            )
        except (OSError, TimeoutError) as exc:
            raise pbx.PbxUnavailable(
                f"cannot connect to the FreeSWITCH event socket at {where}: {exc}"
            ) from None
        link = _Link(reader, writer)
        loop = asyncio.get_running_loop()
        greeting: asyncio.Future[codec.Message] = loop.create_future()
        link.pending.append(greeting)  # the first message is the greeting, not a reply
        self._link = link
        self._tasks.spawn(self._read_loop(link), "esl-read")
        try:
            first = await asyncio.wait_for(asyncio.shield(greeting), s.connect_timeout_s)
            if isinstance(first, codec.RudeRejection):
                raise pbx.PbxAuthError(
                    f"FreeSWITCH at {where} refused the connection (event socket ACL): "
                    f"{first.text.strip()}"
                )
            if not isinstance(first, codec.AuthRequest):
                raise pbx.PbxUnavailable(f"unexpected greeting from {where}: {first}")
            reply = await self._request(codec.auth_command(s.secret), link=link)
            if not isinstance(reply, codec.CommandReply) or not reply.ok:
                text = reply.reply_text if isinstance(reply, codec.CommandReply) else reply
                raise pbx.PbxAuthError(
                    f"FreeSWITCH at {where} refused the event-socket password ({text}); "
                    "check pbx.secret against event_socket.conf.xml"
                )
            for command in self._subscription():
                reply = await self._request(command, link=link)
                if not isinstance(reply, codec.CommandReply) or not reply.ok:
                    raise pbx.PbxError(f"FreeSWITCH refused the subscription: {reply}")
        except TimeoutError:
            self._drop(link, "no greeting")
            raise pbx.PbxUnavailable(f"no event-socket greeting from {where}") from None
        except pbx.PbxError:
            self._drop(link, "start-up failed")
            raise
        self._pbx_link.connected()
        logger.info("connected to the FreeSWITCH event socket at %s", where)

    @staticmethod
    def _subscription() -> list[bytes]:
        # Filters are OR-ed: an event passes if any filter matches (mod_event_socket.c).
        return [
            codec.event_command(WANTED_EVENTS),
            *(codec.filter_command(f"variable_{LEG_VARIABLE}", kind) for kind in LEG_KINDS),
            codec.filter_command("Event-Name", "BACKGROUND_JOB"),
        ]

    async def _read_loop(self, link: _Link) -> None:
        decoder = codec.Decoder()
        reason = "closed by FreeSWITCH"
        try:
            while True:
                data = await link.reader.read(65536)
                if not data:
                    break
                for message in decoder.feed(data):
                    self._dispatch(link, message)
        except (OSError, codec.EslProtocolError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        self._drop(link, link.reason or reason)

    def _dispatch(self, link: _Link, message: codec.Message) -> None:
        if isinstance(message, codec.Event):
            self._on_event(message)
        elif isinstance(message, codec.DisconnectNotice):
            link.reason = "FreeSWITCH sent a disconnect notice"
        elif isinstance(message, codec.OtherFrame):
            logger.debug("ignoring a %s frame", message.content_type)
        elif link.pending:
            fut = link.pending.popleft()
            if not fut.done():
                fut.set_result(message)
        else:
            logger.warning("unexpected %s from FreeSWITCH with no command pending", message)

    def _drop(self, link: _Link, reason: str) -> None:
        """The link is dead (or must be): fail its commands, report the loss once."""
        if link.down:
            return
        link.down = True
        link.fail_pending(reason)
        link.writer.close()
        if self._link is link:
            self._link = None
            self._pbx_link.lost(reason)

    def drop(self, reason: str) -> None:
        if self._link is not None:
            self._drop(self._link, reason)

    def reconcile(self, live: list[pbx.LiveChannel]) -> None:
        known = self._translator.known()
        for channel in live:
            if channel.channel_id in known:
                self._translator.adopt(channel)
        gone = self._translator.forget_missing({c.channel_id for c in live})
        if gone:
            logger.info("%d channel(s) ended while the event socket was down", len(gone))
        self._wake_ready_waiters()

    async def ping(self) -> None:
        await self._api("strepoch")

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    # -- commands ---------------------------------------------------------------------------

    async def _request(self, data: bytes, link: _Link | None = None) -> codec.Message:
        """Send one command and wait for its reply. `link` is given only during start-up."""
        if link is None:
            link = self._link if self._pbx_link.up else None
        if link is None or link.down:
            raise _NotSent("not connected to the FreeSWITCH event socket")
        fut: asyncio.Future[codec.Message] = asyncio.get_running_loop().create_future()
        link.pending.append(fut)
        link.writer.write(data)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), self._options.command_timeout_s)
        except TimeoutError:
            self._drop(link, "a command got no reply")
            raise pbx.PbxUnavailable("FreeSWITCH did not answer a command in time") from None

    async def _api(self, command: str) -> str:
        reply = await self._request(codec.api_command(command))
        if not isinstance(reply, codec.ApiResponse):
            raise pbx.PbxError(f"unexpected reply to api {command.split()[0]}: {reply}")
        return reply.body

    # -- events -----------------------------------------------------------------------------

    def _emit(self, event: pbx.PbxEvent) -> None:
        self._pbx_link.emit(event)

    def _on_event(self, event: codec.Event) -> None:
        for out in self._translator.event(event, self._now()):
            self._emit(out)
            if isinstance(out, pbx.OriginateAccepted) and out.channel_id in self._kill_on_create:
                self._kill_on_create.discard(out.channel_id)
                self._tasks.spawn(self._kill(out.channel_id, "ORIGINATOR_CANCEL"), "esl-kill")
            elif isinstance(out, pbx.HungUp | pbx.OriginateFailed):
                self._kill_on_create.discard(out.channel_id)
        if event.name == "BACKGROUND_JOB" or event.name == "CHANNEL_HANGUP_COMPLETE":
            self._wake_ready_waiters()

    def _wake_ready_waiters(self) -> None:
        known = self._translator.known()
        for channel_id in list(self._ready_waiters):
            if channel_id not in known or self._translator.ready(channel_id):
                self._ready_waiters.pop(channel_id).set()

    async def _wait_ready(self, channel_id: str) -> None:
        """Wait (bounded) until the leg runs its dialplan extension; unknown legs pass."""
        if channel_id not in self._translator.known() or self._translator.ready(channel_id):
            return
        waiter = self._ready_waiters.setdefault(channel_id, asyncio.Event())
        try:
            await asyncio.wait_for(waiter.wait(), self._options.ready_timeout_s)
        except TimeoutError:
            logger.warning(
                "channel %s not in its dialplan after %.1f s; trying anyway",
                channel_id,
                self._options.ready_timeout_s,
            )

    def events(self) -> AsyncIterator[pbx.PbxEvent]:
        return self._pbx_link.events()

    def drain_ready(self) -> list[pbx.PbxEvent]:
        """Events already queued, without waiting (for tests that read the stream in steps)."""
        return self._pbx_link.drain_ready()

    # -- the Pbx port -----------------------------------------------------------------------

    async def originate_customer(self, call: pbx.CustomerCall) -> None:
        await self._originate(
            call.channel_id,
            lambda: commands.originate_customer(call, self._dialplan, LEG_VARIABLE),
        )

    async def originate_agent(self, leg: pbx.AgentLeg) -> None:
        await self._originate(
            leg.channel_id, lambda: commands.originate_agent(leg, self._dialplan, LEG_VARIABLE)
        )

    async def _originate(self, channel_id: str, build: Callable[[], str]) -> None:
        try:
            command = build()
        except ValueError as exc:
            # Bad data for one attempt (a malformed number) fails that attempt, not the daemon.
            self._emit(pbx.OriginateFailed(channel_id, f"invalid originate: {exc}", self._now()))
            return
        if not self._pbx_link.up:
            raise pbx.PbxUnavailable("not connected to the FreeSWITCH event socket")
        self._translator.originate_sent(channel_id)
        try:
            reply = await self._request(codec.bgapi_command(command, channel_id))
        except _NotSent:
            self._translator.withdraw(channel_id)  # nothing was sent for it
            raise
        except pbx.PbxUnavailable as exc:
            # Sent, but the reply was lost with the link: never re-sent; the channel shows up
            # (or not) in the live channels listed after the reconnect.
            logger.warning("originate %s sent but unconfirmed (%s)", channel_id, exc)
            return
        if not isinstance(reply, codec.CommandReply) or not reply.ok:
            text = reply.reply_text if isinstance(reply, codec.CommandReply) else str(reply)
            for event in self._translator.originate_refused(channel_id, text, self._now()):
                self._emit(event)

    async def connect(self, channel_id: str, agent_channel_id: str) -> None:
        await asyncio.gather(self._wait_ready(channel_id), self._wait_ready(agent_channel_id))
        body = await self._api(commands.bridge(channel_id, agent_channel_id))
        if not body.startswith("+OK"):
            raise pbx.PbxError(f"uuid_bridge refused: {body.strip()}")

    async def abandon(self, channel_id: str) -> None:
        await self._wait_ready(channel_id)
        body = await self._api(commands.transfer_abandon(channel_id, self._dialplan))
        if not body.startswith("+OK"):
            raise pbx.PbxError(f"uuid_transfer to the abandon message refused: {body.strip()}")

    async def hangup(self, channel_id: str) -> None:
        if channel_id in self._translator.known() and not self._translator.answered(channel_id):
            # Not answered yet: a cancel. If the channel does not exist yet, kill it on creation.
            self._translator.cancel_requested(channel_id)
            self._kill_on_create.add(channel_id)
            if await self._kill(channel_id, "ORIGINATOR_CANCEL"):
                self._kill_on_create.discard(channel_id)
        else:
            await self._kill(channel_id, "NORMAL_CLEARING")

    async def _kill(self, channel_id: str, cause: str) -> bool:
        """uuid_kill; False if there is no such channel (not yet, or not any more)."""
        body = await self._api(commands.kill(channel_id, cause))
        if body.startswith("+OK"):
            return True
        if "No such channel" in body:
            logger.debug("hangup: channel %s is not there (yet or any more)", channel_id)
            return False
        raise pbx.PbxError(f"uuid_kill refused: {body.strip()}")

    async def live_channels(self) -> list[pbx.LiveChannel]:
        channels = await self._api("show channels as json")
        calls = await self._api("show calls as json")
        try:
            return parse_live_channels(channels, calls)
        except ValueError as exc:
            raise pbx.PbxError(f"unreadable channel listing: {exc}") from None
