"""How a call attempt ends when its daemon is gone: from what its durable progress shows.

A daemon writes each call's progress (ring, answer, agent connected, outcome known, message
started) within a flush of the PBX event. A call whose daemon died is closed later, by a
restarted daemon or by another one once the lease expired, and nobody saw its hang-up:

- An outcome already known (connected to an agent, abandoned, an answering machine) stands.
- Answered and never given to an agent: abandoned. The dialplan's own hold plays the abandon
  message when no agent comes, so the person heard it; it counts in the abandonment windows
  and locks the number for 72 hours like any abandon.
- No evidence of an answer: unknown. It may have rung out, been busy or failed; it is retried
  as a no-answer would be, never sooner (`rules.retry`).
"""

from __future__ import annotations

from dialer.domain.results import CallResult

# The outcomes a daemon writes as progress before the hang-up (the rest come only with it).
PROGRESS_OUTCOMES = (CallResult.CONNECTED, CallResult.ABANDONED, CallResult.MACHINE)


def result_without_hangup(outcome: CallResult | None, answered: bool) -> CallResult:
    """The result of an attempt closed without its hang-up event."""
    if outcome is not None:
        if outcome not in PROGRESS_OUTCOMES:
            raise ValueError(f"{outcome.value!r} is not an outcome known before the hang-up")
        return outcome
    return CallResult.ABANDONED if answered else CallResult.UNKNOWN
