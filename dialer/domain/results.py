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
    # The network's fault, not the number's: congestion, trunk failure or time-out (503, Q.850
    # 34, 38, 41, 42, 44, 47), a refused originate. Retried soon, outside the attempt caps.
    FAILED = "failed"
    INVALID = "invalid"  # the number does not exist (404, Q.850 1, 3, 22, 28): never again
    DECLINED = "declined"  # the person refused the call (603, Q.850 21)
    UNAVAILABLE = "unavailable"  # never rang: phone off or unreachable (480, Q.850 18, 20)
    CANCELLED = "cancelled"  # the dialer gave up before answer (stop, reconciliation)
    MACHINE = "machine"  # answered by an answering machine (AMD): hung up or left a message
    # Closed without its daemon (it crashed) and with no evidence of an answer: it may have
    # rung out, been busy or failed. Retried as a no-answer, never sooner.
    UNKNOWN = "unknown"
    # A lead's last result only, never an attempt's: its number failed on the network on every
    # call, `network_failure_cap` times in a row (dialer.store.cdrs).
    UNREACHABLE = "unreachable"

    @property
    def answered(self) -> bool:
        """Answered by a person: what the abandonment rate divides by (machines are apart)."""
        return self in (CallResult.CONNECTED, CallResult.ABANDONED)
