"""What the HTTP handlers work with: the database, the running engine, settings and tokens,
plus the few figures the API keeps from the engine's observer stream (the last dial level),
and the web console's sessions, sign-in throttle and open agent screens.

The handlers run in the daemon's event loop, so they call the engine's control methods
directly (they are synchronous and change state atomically between two PBX events). Each
handler opens its own database transaction (`Database.transaction`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from dialer.api.auth import TokenTable
from dialer.console.passwords import Passwords
from dialer.console.screen import ScreenHub
from dialer.console.sessions import SessionTable
from dialer.console.throttle import SigninThrottle
from dialer.core.observe import EngineEvent, PacingDecided
from dialer.engine.engine import Engine
from dialer.settings import Settings
from dialer.store.engine import Database

MetricsHandler = Callable[[], tuple[bytes, str]]
"""Returns the metrics exposition and its content type, served at GET /metrics."""


class ApiContext:
    def __init__(
        self, settings: Settings, db: Database, engine: Engine, tokens: TokenTable
    ) -> None:
        self.settings = settings
        self.db = db
        self.engine = engine
        self.tokens = tokens
        self.started_at = time.time()
        self._stopping = False
        self.dial_levels: dict[str, float] = {}  # campaign name -> last pacing level
        console = settings.console
        self.sessions = SessionTable(console.session_idle_s)
        self.throttle = SigninThrottle(
            console.signin_window_s,
            console.signin_failures_per_name,
            console.signin_failures_per_address,
        )
        self.passwords = Passwords()
        self.hashing = asyncio.Semaphore(2)  # password hashes checked at once (CPU-bound)
        self.screens = ScreenHub()
        engine.add_observer(self.observe)
        engine.add_observer(self.screens.observe)

    @property
    def stopping(self) -> bool:
        """Set when the daemon drains: no new work through the API, open screens close."""
        return self._stopping

    @stopping.setter
    def stopping(self, value: bool) -> None:
        self._stopping = value
        if value:
            self.screens.close()

    def observe(self, event: EngineEvent) -> None:
        if isinstance(event, PacingDecided):
            self.dial_levels[event.campaign] = event.level
