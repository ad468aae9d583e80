"""Failed console sign-ins, limited per name and per client address.

Rules:
- A failure counts against the name tried (case-insensitive) and the address it came from, for
  `window_s`.
- With `per_name` failures of a name, or `per_address` failures from an address, inside the
  window, sign-in for that name, or from that address, is refused without checking the
  password, until the oldest of those failures leaves the window. The per-name limit stops
  guessing one person's password from many addresses; the per-address limit stops one address
  trying many names.
- A successful sign-in clears its name's failures (the person got in), not its address's.
- Memory is bounded: at most `max_keys` names and addresses are remembered; past that the ones
  whose failures are oldest are forgotten first.
Pure: every call takes the time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Refusal:
    by: str  # "name" or "address"
    retry_after_s: float


class _Window:
    def __init__(self, window_s: float, limit: int, max_keys: int) -> None:
        self.window_s = window_s
        self.limit = limit
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, key: str, now: float) -> float | None:
        times = self._recent(key, now)
        if times is None or len(times) < self.limit:
            return None
        return times[-self.limit] + self.window_s - now

    def add(self, key: str, now: float) -> None:
        times = self._recent(key, now)
        if times is None:
            if len(self._failures) >= self.max_keys:
                self._forget(now)
            times = self._failures[key] = deque()
        times.append(now)
        while len(times) > self.limit:
            times.popleft()  # only the last `limit` failures decide

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)

    def _forget(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        while len(self._failures) >= self.max_keys:
            oldest = min(self._failures, key=lambda k: self._failures[k][-1])
            del self._failures[oldest]


class SigninThrottle:
    def __init__(
        self, window_s: float, per_name: int, per_address: int, max_keys: int = 100_000
    ) -> None:
        self._names = _Window(window_s, per_name, max_keys)
        self._addresses = _Window(window_s, per_address, max_keys)

    def refusal(self, name: str, address: str, now: float) -> Refusal | None:
        """Whether a sign-in for `name` from `address` is refused now, and for how long."""
        by_name = self._names.retry_after(name.casefold(), now)
        by_address = self._addresses.retry_after(address, now)
        if by_name is None and by_address is None:
            return None
        if by_address is None or (by_name is not None and by_name >= by_address):
            assert by_name is not None
            return Refusal("name", by_name)
        return Refusal("address", by_address)

    def failed(self, name: str, address: str, now: float) -> None:
        self._names.add(name.casefold(), now)
        self._addresses.add(address, now)

    def succeeded(self, name: str) -> None:
        self._names.clear(name.casefold())
