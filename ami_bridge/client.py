"""The Asterisk adapter: `dialer.pbx.Pbx` over AMI, with panoramisk doing the wire protocol.

Why the panoramisk `Manager` is subclassed:
- It re-sends unanswered actions after a reconnect unless they are "forgetable"; a re-sent
  Originate dials a person twice. Here every action is forgetable; after a reconnect the
  engine reconciles its calls by their own ids with `CoreShowChannels` instead.
- Its reconnect is a fixed-delay loop that retries even bad credentials. Here the connect and
  the login are ours: a refused login at start-up is `PbxAuthError`, a closed port
  `PbxUnavailable`; a lost link is retried with exponential back-off and watched with pings by
  the plumbing both adapters share (dialer/pbx_link.py).
- It runs coroutine callbacks with `ensure_future` and drops their exceptions. Here the event
  callback is a plain function that translates and enqueues; the engine consumes the queue.
- Actions cut off by a lost connection never get a reply; every await here has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from panoramisk import Manager

from ami_bridge import actions
from ami_bridge.adapter import CAPABILITIES
from ami_bridge.translate import AmiTranslator, live_channel, peers_by_bridge
from dialer import pbx
from dialer.pbx_link import PbxLink
from dialer.settings import PbxSettings
from dialer.tasks import OwnedTasks

logger = logging.getLogger(__name__)

_ACTION_TIMEOUT_S = 5.0
_PING_EVERY_S = 5.0
_CLOSE_WAIT_S = 3.0
_HANGUP_RETRY_S = 10.0  # a channel of ours not made this long after its hang-up never will be


class _AllForgetable:
    """`x in forgetable_actions` is always true: panoramisk re-sends nothing after a reconnect."""

    def __contains__(self, item: object) -> bool:
        return True


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk's Manager without its own login, ping and reconnect (the client does those)."""

    def __init__(self, on_lost: Any, **config: Any) -> None:
        super().__init__(**config)
        self._on_lost = on_lost

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.cancelled() or f.exception() is not None:
            return  # the client awaits the same task and handles the error
        _transport, protocol = f.result()
        self._connected = True
        self.protocol = protocol
        protocol.queue = deque()
        protocol.factory = self
        protocol.log = self.log
        protocol.config = self.config
        protocol.encoding = self.encoding = self.config["encoding"]
        self.responses = protocol.responses = {}

    def connection_lost(self, exc: object) -> None:
        self._connected = False
        self._on_lost(exc)


def tls_context(settings: PbxSettings) -> ssl.SSLContext | None:
    """The TLS context for AMI over TLS (`pbx.tls`), None for plain TCP. The certificate is
    checked against `pbx.tls_ca` (else the system's trust store) and must name `pbx.host`."""
    if not settings.tls:
        return None
    return ssl.create_default_context(cafile=settings.tls_ca or None)


class AmiPbx:
    """`dialer.pbx.Pbx` for Asterisk."""

    capabilities = CAPABILITIES

    def __init__(self, settings: PbxSettings) -> None:
        self._settings = settings
        self._ctx = actions.Contexts(
            customer=settings.customer_context,
            agent=settings.agent_context,
            abandon=settings.abandon_context,
        )
        self._translator = AmiTranslator()
        self._pbx_link = PbxLink(
            "AMI connection",
            "AMI",
            logger,
            reconnect_min_s=settings.reconnect_min_s,
            reconnect_max_s=settings.reconnect_max_s,
            ping_every_s=_PING_EVERY_S,
        )
        self._manager: _Manager | None = None
        self._tasks = OwnedTasks(logger, "AMI")
        self._names: dict[str, str] = {}  # Uniqueid -> channel name, for actions that need names
        self._tls = tls_context(settings)  # made once: the CA file is read at start-up
        # Channels we originated that have not ended (no Hangup, no failed Originate): a hang-up
        # of one of them that finds no channel is tried again (see `hangup`).
        self._ours: set[str] = set()
        self._hanging_up: set[str] = set()  # those being tried again
        self._hangups_done = asyncio.Event()  # set while `_hanging_up` is empty
        self._hangups_done.set()

    # -- connection -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._pbx_link.up

    async def start(self) -> None:
        await self.connect_once()
        self._pbx_link.start(self, self._tasks, "ami")

    async def close(self) -> None:
        # Hang-ups still being tried (channels not made yet) end first, within a few seconds.
        if self._pbx_link.up:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hangups_done.wait(), _CLOSE_WAIT_S)
        self._pbx_link.closing = True
        await self._tasks.cancel_all()
        if self._manager is not None:
            self._manager.close()
        self._pbx_link.close()

    async def connect_once(self) -> None:
        s = self._settings
        loop = asyncio.get_running_loop()
        manager = _Manager(
            self._connection_lost,
            host=s.host,
            port=s.port,
            loop=loop,
            events="off",
            ping_delay=3600,
            forgetable_actions=_AllForgetable(),
            ssl=self._tls or False,
        )
        manager.register_event("*", self._on_event)
        where = f"{s.host}:{s.port}" + (" over TLS" if self._tls is not None else "")
        try:
            await asyncio.wait_for(manager.connect(), s.connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            # A refused TLS handshake leaves the socket open (a ResourceWarning at collection).
            with contextlib.suppress(Exception):
                manager.close()
            raise pbx.PbxUnavailable(f"cannot connect to Asterisk AMI at {where}: {exc}") from None
        self._manager = manager
        try:
            reply = await self._call(
                {"Action": "Login", "Username": s.username, "Secret": s.secret, "Events": "on"},
                logging_in=True,
            )
        except pbx.PbxError:
            manager.close()
            raise
        if not reply.success:
            manager.close()
            message = reply.get("Message") or "login refused"
            raise pbx.PbxAuthError(
                f"Asterisk AMI at {where} refused user {s.username!r}: {message} "
                "(check pbx.username and pbx.secret against manager.conf)"
            )
        self._translator.reset()
        self._names.clear()
        self._pbx_link.connected()
        logger.info("connected to Asterisk AMI at %s as %s", where, s.username)

    def _connection_lost(self, exc: object) -> None:
        self._pbx_link.lost(str(exc))

    def reconcile(self, live: list[pbx.LiveChannel]) -> None:
        # Ours that ended while the link was down will send no Hangup now.
        self._ours &= {channel.channel_id for channel in live}

    async def ping(self) -> None:
        await self._call({"Action": "Ping"})

    def drop(self, reason: str) -> None:
        """Close the connection as if Asterisk had (panoramisk then reports the loss)."""
        manager = self._manager
        if manager is not None and manager.protocol is not None:
            manager.protocol.connection_lost(None)

    # -- events -----------------------------------------------------------------------------

    def _on_event(self, _manager: object, message: Any) -> None:
        at = asyncio.get_running_loop().time()
        name = message.get("Event")
        if name == "Newchannel":
            self._names[message.get("Uniqueid", "")] = message.get("Channel", "")
        for event in self._translator.event(message, at):
            self._pbx_link.emit(event)
        if name == "Hangup":
            uid = message.get("Uniqueid", "")
            self._names.pop(uid, None)
            self._ours.discard(uid)

    def events(self) -> AsyncIterator[pbx.PbxEvent]:
        return self._pbx_link.events()

    def drain_ready(self) -> list[pbx.PbxEvent]:
        """Events already queued, without waiting (for tests that read the stream in steps)."""
        return self._pbx_link.drain_ready()

    # -- actions ----------------------------------------------------------------------------

    def _send(
        self, action: dict[str, object], as_list: bool | None = None, *, logging_in: bool = False
    ) -> asyncio.Future[Any]:
        manager = self._manager
        if (not self._pbx_link.up and not logging_in) or manager is None:
            raise pbx.PbxUnavailable("not connected to Asterisk AMI")
        if manager.protocol is None or manager.protocol.closed:
            raise pbx.PbxUnavailable("not connected to Asterisk AMI")
        fut: asyncio.Future[Any] = manager.send_action(
            actions.wire_checked(action), as_list=as_list
        )
        return fut

    async def _call(
        self, action: dict[str, object], as_list: bool | None = None, *, logging_in: bool = False
    ) -> Any:
        fut = self._send(action, as_list, logging_in=logging_in)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), _ACTION_TIMEOUT_S)
        except TimeoutError:
            raise pbx.PbxUnavailable(f"AMI action {action.get('Action')} got no reply") from None

    async def originate_customer(self, call: pbx.CustomerCall) -> None:
        self._originate_built(lambda: actions.originate_customer(call, self._ctx), call.channel_id)

    async def originate_agent(self, leg: pbx.AgentLeg) -> None:
        self._originate_built(lambda: actions.originate_agent(leg, self._ctx), leg.channel_id)

    def _originate_built(self, build: Callable[[], dict[str, object]], channel_id: str) -> None:
        """Bad data for one call (no caller ID, an endpoint that is no endpoint name) fails that
        call or that log-in, as an OriginateFailed event, not the daemon."""
        try:
            action = build()
        except ValueError as exc:
            at = asyncio.get_running_loop().time()
            self._pbx_link.emit(pbx.OriginateFailed(channel_id, f"invalid originate: {exc}", at))
            return
        self._originate(action, channel_id)

    def _originate(self, action: dict[str, object], channel_id: str) -> None:
        fut = self._send(action)
        self._ours.add(channel_id)

        def done(f: asyncio.Future[Any]) -> None:
            if f.cancelled() or f.exception() is not None:
                return
            replies = f.result()
            last = replies[-1] if isinstance(replies, list) else replies
            at = asyncio.get_running_loop().time()
            for event in self._translator.originate_response(last, channel_id, at):
                if isinstance(event, pbx.OriginateFailed):  # no channel now, none to come
                    self._ours.discard(channel_id)
                self._pbx_link.emit(event)

        fut.add_done_callback(done)

    def _channel(self, channel_id: str) -> str:
        return self._names.get(channel_id) or channel_id

    async def connect(self, channel_id: str, agent_channel_id: str) -> None:
        customer = self._channel(channel_id)
        reply = await self._call(actions.bridge(customer, self._channel(agent_channel_id)))
        if not reply.success:
            raise pbx.PbxError(f"bridge refused: {reply.get('Message')}")
        # Only after the bridge: the dialplan reads DIALER_BRIDGED=1 as "came back from a
        # bridge", even at its first step (a channel bridged before its dialplan started comes
        # back to s,1), so it must never be set on a channel still waiting to be bridged. A
        # bridge that ends before this lands (within the round trip) leaves the customer to the
        # abandon message, as a call no agent spoke on. The bridge stands whatever happens to
        # the Setvar: never raise from here (the engine would take the call for unconnected and
        # send it to the abandon message).
        try:
            marked = await self._call(actions.mark_bridged(customer))
        except pbx.PbxError as exc:
            logger.warning("bridged call %s not marked: %s", channel_id, exc)
            return
        if not marked.success:  # the customer hung up in the meantime: nothing left to mark
            logger.info("bridged call %s not marked: %s", channel_id, marked.get("Message"))

    async def abandon(self, channel_id: str) -> None:
        reply = await self._call(actions.redirect_abandon(self._channel(channel_id), self._ctx))
        if not reply.success:
            raise pbx.PbxError(f"redirect to the abandon message refused: {reply.get('Message')}")

    async def hangup(self, channel_id: str) -> None:
        """Hang up a channel. One of ours that Asterisk says is not there has not been made yet
        (an Originate's channel is made in a thread of its own, so a Hangup right behind the
        Originate can find none; seen on the rig): it is tried again until it ends."""
        reply = await self._call(actions.hangup(self._channel(channel_id)))
        if reply.success:
            return
        if channel_id not in self._ours:
            raise pbx.PbxError(f"hangup refused: {reply.get('Message')}")
        if channel_id not in self._hanging_up:
            self._hanging_up.add(channel_id)
            self._hangups_done.clear()
            self._tasks.spawn(self._hang_up_when_made(channel_id), "ami-hangup")

    async def _hang_up_when_made(self, channel_id: str) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + _HANGUP_RETRY_S
        delay = 0.05
        try:
            while channel_id in self._ours:
                if loop.time() > give_up:
                    logger.warning("hangup: channel %s never appeared; giving up", channel_id)
                    return
                await asyncio.sleep(delay)
                delay = min(2 * delay, 1.0)
                with contextlib.suppress(pbx.PbxError):
                    reply = await self._call(actions.hangup(self._channel(channel_id)))
                    if reply.success:
                        return
        finally:
            self._hanging_up.discard(channel_id)
            if not self._hanging_up:
                self._hangups_done.set()

    async def live_channels(self) -> list[pbx.LiveChannel]:
        replies = await self._call(actions.core_show_channels(), as_list=True)
        out: list[pbx.LiveChannel] = []
        for message in replies if isinstance(replies, list) else [replies]:
            channel = live_channel(message)
            if channel is not None:
                out.append(channel)
                self._names.setdefault(channel.channel_id, channel.name)
        return peers_by_bridge(out)
