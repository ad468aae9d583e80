"""The composition root: builds the database, the PBX adapter and the engine, runs them, and
tears them down in reverse order.

Signals: the first SIGINT/SIGTERM starts a graceful drain (no new calls; live calls finish
within `dialer.drain_timeout_s`; CDRs flushed); a second SIGINT forces the exit. The handlers
only set flags.

Exit codes: 0 clean stop, 2 invalid configuration, 3 a dependency unreachable (database, PBX),
4 the PBX refused our credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from dialer import pbx, pbx_registry
from dialer.api.app import start_api
from dialer.api.auth import TokenTable
from dialer.api.server import HttpServer, HttpStartError
from dialer.domain.identity import ProcessIdentity
from dialer.engine.engine import Engine
from dialer.engine.follow import CampaignFollower
from dialer.metrics import CONTENT_TYPE, Metrics
from dialer.pacing.base import TAKE_BACK_OVER, Pacer
from dialer.pacing.modes import PacingSettings, make_pacer
from dialer.pacing.predictive import PredictiveSettings
from dialer.publish.mqtt import start_publisher
from dialer.settings import ConfigError, Settings, mask_url
from dialer.store.engine import Database
from dialer.store.errors import StoreUnavailable
from dialer.store.name_lock import NameLock, NameTaken
from dialer.store.records import Campaign
from dialer.store.rules_gateway import RulesStore

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
_NAME_WAIT_S = 10.0
_NAME_CHECK_S = 5.0


def default_pacer(campaign: Campaign, take_back_over: float = TAKE_BACK_OVER) -> Pacer:
    """The campaign's pacer, from its pacing mode (one per campaign: it keeps estimates);
    `take_back_over` is the predictive pacer's `cancel_over` (dialer.take_back_over)."""
    predictive = PredictiveSettings(cancel_over=take_back_over)
    return make_pacer(
        PacingSettings(
            mode=campaign.pacing_mode,
            lines_per_agent=campaign.lines_per_agent,
            predictive=predictive,
        )
    )


def build_pbx(settings: Settings) -> pbx.Pbx:
    """The adapter registered under `pbx.kind` (dialer/pbx_registry.py)."""
    return pbx_registry.adapter_for(settings.pbx.kind).build(settings.pbx)


class App:
    def __init__(
        self, settings: Settings, pacer_factory: Callable[[Campaign], Pacer] | None = None
    ) -> None:
        self.settings = settings
        self.engine: Engine | None = None
        self.http: HttpServer | None = None  # the HTTP API, once it listens (.port, .url)
        self.metrics = Metrics()  # its exposition() is served at /metrics
        self._pacer_factory = pacer_factory
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._signals = 0
        self.started = asyncio.Event()

    def request_stop(self) -> None:
        self._signals += 1
        if self._signals == 1:
            logger.info("stopping: no new calls; live calls may finish")
            self._stop.set()
        else:
            logger.warning("second signal: stopping now")
            self._force.set()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.request_stop)

    async def serve(self, install_signals: bool = True) -> int:
        if install_signals:
            self._install_signals()
        s = self.settings
        try:
            tokens = TokenTable.from_settings(s.http)
        except ConfigError as exc:
            logger.error("invalid configuration: %s", exc)
            return EXIT_CONFIG
        db = Database(s.database.url, connect_timeout_s=s.database.connect_timeout_s)
        try:
            await self._retry(db.ping, s.database.retry_for_s, "database")
        except StoreUnavailable as exc:
            logger.error(
                "database unreachable: %s (database.url=%s)", exc, mask_url(s.database.url)
            )
            await db.dispose()
            return EXIT_UNREACHABLE
        # One running daemon per name: it takes over what earlier processes of its name left.
        name_lock = NameLock(db, s.dialer.owner_name())
        try:
            await self._take_name(name_lock)
        except NameTaken as exc:
            logger.error("%s", exc)
            await db.dispose()
            return EXIT_CONFIG
        try:
            adapter = build_pbx(s)
        except pbx_registry.UnknownPbxKind as exc:
            logger.error("invalid configuration: pbx.kind: %s", exc)
            await name_lock.release()
            await db.dispose()
            return EXIT_CONFIG
        try:
            await self._retry(adapter.start, s.database.retry_for_s, "PBX")
        except pbx.PbxAuthError as exc:
            logger.error("%s", exc)
            await name_lock.release()
            await db.dispose()
            return EXIT_AUTH
        except pbx.PbxUnavailable as exc:
            logger.error("%s", exc)
            await name_lock.release()
            await db.dispose()
            return EXIT_UNREACHABLE
        # The store applies the rules at the lease and is the engine's dial guard.
        # A new identity at every start: a restarted daemon takes over what its predecessor of
        # the same name left instead of renewing its leases as if nothing had happened.
        identity = ProcessIdentity.new(s.dialer.owner_name())
        logger.info("process identity %s", identity.owner)
        rules_store = RulesStore(
            db,
            identity.owner,
            s.dialer.lease_s,
            on_rules=lambda cid, rules: self.metrics.set_amd_false_positive_rate(
                cid, rules.effective_amd_false_positive_rate
            ),
        )
        store = self.metrics.timed_store(rules_store)
        engine = Engine(
            adapter,
            store,
            s.dialer,
            self._pacer_factory
            or (lambda campaign: default_pacer(campaign, s.dialer.take_back_over)),
            guard=rules_store,
            history=rules_store,
            agent_leases=rules_store,  # an agent belongs to one daemon at a time
            owner=identity.owner,
        )
        self.engine = engine
        self.metrics.watch(engine)
        publisher = (
            start_publisher(s.mqtt, engine, self.metrics, identity.owner)
            if s.mqtt.enabled
            else None
        )
        http: HttpServer | None = None
        following: asyncio.Task[None] | None = None
        watching: asyncio.Task[None] | None = None
        try:
            await engine.load()
            if s.http.enabled:
                try:
                    http, api = await start_api(
                        s, db, engine, tokens, lambda: (self.metrics.exposition(), CONTENT_TYPE)
                    )
                except HttpStartError as exc:
                    logger.error("%s", exc)
                    return EXIT_CONFIG
                self.http = http
            runner = asyncio.create_task(engine.run(), name="engine")
            watching = asyncio.create_task(self._keep_name(name_lock), name="name-lock")
            if s.dialer.campaign_poll_s > 0:
                # Campaigns started, paused or edited through another daemon.
                follower = CampaignFollower(engine, rules_store, s.dialer.campaign_poll_s)
                following = asyncio.create_task(follower.run(), name="campaign-follower")
            self.started.set()
            stop = asyncio.create_task(self._stop.wait())
            await asyncio.wait({runner, stop}, return_when=asyncio.FIRST_COMPLETED)
            if following is not None:
                following.cancel()  # no campaign starts while live calls drain
            if http is not None:
                api.stopping = True  # the API refuses new work while live calls drain
            if runner.done():
                stop.cancel()
                runner.result()  # re-raise an engine crash
            drain = asyncio.create_task(engine.drain(s.dialer.drain_timeout_s))
            force = asyncio.create_task(self._force.wait())
            await asyncio.wait({drain, force}, return_when=asyncio.FIRST_COMPLETED)
            force.cancel()
            if not drain.done():
                drain.cancel()
                if not await engine.cdr.flush():
                    engine.cdr.spill()  # the database is away: the next start replays them
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        finally:
            if watching is not None:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
            if following is not None:
                following.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await following
            if http is not None:
                await http.stop()
            if publisher is not None:
                await publisher.aclose()
            await self.metrics.aclose()
            await adapter.close()
            await name_lock.release()
            await db.dispose()
        logger.info("stopped")
        return EXIT_OK

    async def _take_name(self, lock: NameLock) -> None:
        """Take the daemon's name, waiting a few seconds for a predecessor just killed (its
        database session ends a moment after the process)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _NAME_WAIT_S
        while True:
            try:
                await lock.acquire()
                return
            except NameTaken:
                if loop.time() >= deadline or self._stop.is_set():
                    raise
                await asyncio.sleep(0.5)

    async def _keep_name(self, lock: NameLock) -> None:
        """Check now and then that this process still holds its name; stop if another process
        took it (after a database restart dropped the lock's connection)."""
        while True:
            await asyncio.sleep(_NAME_CHECK_S)
            try:
                await lock.check()
            except NameTaken as exc:
                logger.error("%s; stopping", exc)
                self.request_stop()
                return
            except Exception as exc:  # the database is down: the next check retries
                logger.debug("checking the daemon's name: %s", exc)

    async def _retry(self, attempt: Callable[[], object], for_s: float, what: str) -> None:
        """Retry a start-up step that failed for want of a peer, with back-off, for `for_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + for_s
        delay = 0.5
        while True:
            try:
                result = attempt()
                if asyncio.iscoroutine(result):
                    await result
                return
            except (StoreUnavailable, pbx.PbxUnavailable) as exc:
                if loop.time() + delay > deadline or self._stop.is_set():
                    raise
                logger.warning("%s not reachable yet (%s); retrying in %.1f s", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
