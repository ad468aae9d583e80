"""The final result of one call attempt, as stored in its CDR and counted in statistics.

An answered call is `connected` when an agent got it, and `abandoned` when it was not connected to
an agent (it heard the abandon message, or the callee hung up before an agent was free: either way
a person answered and got no agent, which is what the abandonment rules count).
"""

from __future__ import annotations

import enum


class CallResult(enum.StrEnum):
    CONNECTED = "connected"  # answered and bridged to an agent
    ABANDONED = "abandoned"  # answered, no agent connected
    BUSY = "busy"
    NO_ANSWER = "no_answer"  # rang out (our ring timeout) or the callee's side gave up
    FAILED = "failed"  # congestion, unreachable, refused originate
    CANCELLED = "cancelled"  # the dialer gave up before answer (stop, reconciliation)
    MACHINE = "machine"  # answered by an answering machine (AMD): hung up or left a message
    # Closed without its daemon (it crashed) and with no evidence of an answer: it may have
    # rung out, been busy or failed. Retried as a no-answer, never sooner.
    UNKNOWN = "unknown"

    @property
    def answered(self) -> bool:
        """Answered by a person: what the abandonment rate divides by (machines are apart)."""
        return self in (CallResult.CONNECTED, CallResult.ABANDONED)
