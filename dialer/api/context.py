"""What the HTTP handlers work with: the database, the running engine, settings and tokens,
plus the few figures the API keeps from the engine's observer stream (the last dial level).

The handlers run in the daemon's event loop, so they call the engine's control methods
directly (they are synchronous and change state atomically between two PBX events). Each
handler opens its own database transaction (`Database.transaction`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from dialer.api.auth import TokenTable
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
        self.stopping = False  # set when the daemon drains: no new work through the API
        self.dial_levels: dict[str, float] = {}  # campaign name -> last pacing level
        engine.add_observer(self.observe)

    def observe(self, event: EngineEvent) -> None:
        if isinstance(event, PacingDecided):
            self.dial_levels[event.campaign] = event.level
