"""A trunk's circuit breaker: stop dialing through a trunk that fails most calls in a row. Pure.

Rules:
- States: CLOSED (dialing as usual), OPEN (no new call through the trunk until a back-off
  passes), HALF_OPEN (one probe call at a time). `_TRANSITIONS` is the whole table; a signal
  with no entry for the state raises `IllegalBreakerTransition` and changes nothing.
- Each finished call is a failure of the trunk when its result is one a bad trunk gives on
  every call (`causes.breaks_trunk`: a network failure such as a 503 or a time-out, or an
  "unallocated number" as a misrouted trunk answers), a success otherwise (the far end said
  something about the person: answered, busy, rang out, declined, unavailable). Cancelled calls
  say nothing and are ignored.
- CLOSED trips to OPEN when `failures` of the last `window` calls failed, the last one
  included. The failed calls of that window are given back: their leads go back as they were
  (not counted, not invalid, not nearer `unreachable`): the trunk failed them, not the numbers.
- OPEN: calls still in flight that fail are given back too. Once `backoff_s` has passed
  (`poll`), HALF_OPEN.
- HALF_OPEN: one call at a time. A success closes the breaker (the window starts afresh); a
  failure is given back and opens it again with the back-off doubled, up to `max_backoff_s`.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from dialer.domain.causes import breaks_trunk
from dialer.domain.results import CallResult


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Signal(enum.Enum):
    TRIP = "trip"  # most of the last calls failed
    BACKOFF_OVER = "backoff_over"
    PROBE_OK = "probe_ok"
    PROBE_FAILED = "probe_failed"


S = BreakerState
_TRANSITIONS: dict[BreakerState, dict[Signal, BreakerState]] = {
    S.CLOSED: {Signal.TRIP: S.OPEN},
    S.OPEN: {Signal.BACKOFF_OVER: S.HALF_OPEN},
    S.HALF_OPEN: {Signal.PROBE_OK: S.CLOSED, Signal.PROBE_FAILED: S.OPEN},
}


class IllegalBreakerTransition(Exception):
    def __init__(self, state: BreakerState, signal: Signal) -> None:
        super().__init__(f"signal {signal.value} is not allowed in state {state.value}")
        self.state = state
        self.signal = signal


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    window: int = 10  # the last calls looked at
    failures: int = 10  # of which this many failed (the last one included) trip the breaker
    backoff_s: float = 30.0  # the first pause; doubled after each failed probe
    max_backoff_s: float = 600.0

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"breaker_window must be at least 1, got {self.window}")
        if not 1 <= self.failures <= self.window:
            raise ValueError(
                f"breaker_failures must be within 1..breaker_window ({self.window}), "
                f"got {self.failures}"
            )
        if not 0 < self.backoff_s <= self.max_backoff_s:
            raise ValueError(
                "breaker_backoff_s must be > 0 and <= breaker_max_backoff_s "
                f"({self.max_backoff_s}), got {self.backoff_s}"
            )


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a recorded call or the clock changed: the new state (None: unchanged), why, and the
    calls whose leads go back as they were."""

    state: BreakerState | None
    reason: str = ""
    give_back: tuple[str, ...] = ()
    backoff_s: float = 0.0  # with state OPEN: how long until the next probe


_NOTHING = Verdict(None)


class TrunkBreaker:
    """One trunk's breaker. Feed it finished calls (`record`) and the clock (`poll`); ask it
    how many new calls may go (`allowance`) and tell it of each one sent (`dialed`)."""

    def __init__(self, settings: BreakerSettings | None = None) -> None:
        self.settings = settings or BreakerSettings()
        self.state = BreakerState.CLOSED
        self.trips = 0
        self._recent: deque[tuple[str, bool]] = deque(maxlen=self.settings.window)
        self._backoff_s = self.settings.backoff_s
        self._open_until = 0.0
        self._probes = 0  # calls sent while HALF_OPEN, not finished yet

    def _go(self, signal: Signal) -> BreakerState:
        nxt = _TRANSITIONS[self.state].get(signal)
        if nxt is None:
            raise IllegalBreakerTransition(self.state, signal)
        self.state = nxt
        return nxt

    def allowance(self) -> int | None:
        """New calls that may go through the trunk now: None without limit (closed), 0 while
        open, at most one probe in flight while half-open."""
        if self.state is BreakerState.CLOSED:
            return None
        if self.state is BreakerState.OPEN:
            return 0
        return 0 if self._probes else 1

    def dialed(self) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self._probes += 1

    def poll(self, now: float) -> Verdict:
        """OPEN becomes HALF_OPEN once its back-off has passed."""
        if self.state is BreakerState.OPEN and now >= self._open_until:
            self._go(Signal.BACKOFF_OVER)
            self._probes = 0
            return Verdict(BreakerState.HALF_OPEN, "back-off over: one probe call")
        return _NOTHING

    def record(self, call_id: str, result: CallResult, now: float) -> Verdict:
        """A call through the trunk ended with `result`."""
        if result is CallResult.CANCELLED:
            return _NOTHING
        failed = breaks_trunk(result)
        if self.state is BreakerState.OPEN:
            return Verdict(None, give_back=(call_id,)) if failed else _NOTHING
        if self.state is BreakerState.HALF_OPEN:
            self._probes = max(0, self._probes - 1)
            if failed:
                self._go(Signal.PROBE_FAILED)
                self._backoff_s = min(self._backoff_s * 2, self.settings.max_backoff_s)
                return self._opened(now, f"probe call failed ({result.value})", (call_id,))
            self._go(Signal.PROBE_OK)
            self._recent.clear()
            self._backoff_s = self.settings.backoff_s
            return Verdict(BreakerState.CLOSED, f"probe call went through ({result.value})")
        self._recent.append((call_id, failed))
        bad = [cid for cid, f in self._recent if f]
        if failed and len(bad) >= self.settings.failures:
            self._go(Signal.TRIP)
            self.trips += 1
            self._recent.clear()
            reason = (
                f"{len(bad)} of the last {self.settings.window} calls failed on the trunk "
                f"(last: {result.value})"
            )
            return self._opened(now, reason, tuple(bad))
        return _NOTHING

    def _opened(self, now: float, reason: str, give_back: tuple[str, ...]) -> Verdict:
        self._open_until = now + self._backoff_s
        self._probes = 0
        return Verdict(BreakerState.OPEN, reason, give_back, self._backoff_s)


class Breakers:
    """The breakers of every trunk, by trunk id, made on first use."""

    def __init__(self, settings: BreakerSettings | None = None) -> None:
        self.settings = settings or BreakerSettings()
        self._by_trunk: dict[int, TrunkBreaker] = {}

    def of(self, trunk_id: int) -> TrunkBreaker:
        breaker = self._by_trunk.get(trunk_id)
        if breaker is None:
            breaker = self._by_trunk[trunk_id] = TrunkBreaker(self.settings)
        return breaker

    def states(self) -> dict[int, BreakerState]:
        return {t: b.state for t, b in self._by_trunk.items()}
