"""The engine's calls-per-second budget is the pacing package's token bucket, one per trunk
(see `Engine._trunk_rate`); this name is kept for the code that still imports it."""

from __future__ import annotations

from dialer.pacing.limits import CallRateLimiter as TokenBucket

__all__ = ["TokenBucket"]
