"""How a call attempt ends when its daemon is gone: from what its durable progress shows.

A daemon writes each call's progress (ring, answer, agent connected, outcome known, message
started) within a flush of the PBX event. A call whose daemon died is closed later, by a
restarted daemon or by another one once the lease expired, and nobody saw its hang-up:

- An outcome already known (connected to an agent, abandoned, an answering machine) stands.
- Answered and never given to an agent: abandoned. The dialplan's own hold plays the abandon
  message when no agent comes, so the person heard it; it counts in the abandonment windows
  and locks the number for 72 hours like any abandon.
- The PBX's own record of the call (Asterisk writes its CDR at the hang-up, with or without a
  daemon listening) fills the gap after the daemon's last flush: answered there and not
  connected is abandoned too (a person answered after the daemon died and heard the message);
  otherwise its disposition says busy, no answer or failed.
- No evidence of an answer at all: unknown. It may have rung out, been busy or failed; it is
  retried as a no-answer would be, never sooner (`rules.retry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dialer.domain.results import CallResult

# The outcomes a daemon writes as progress before the hang-up (the rest come only with it).
PROGRESS_OUTCOMES = (CallResult.CONNECTED, CallResult.ABANDONED, CallResult.MACHINE)


# Asterisk CDR dispositions (cdr.conf with unanswered and congestion on) of unanswered calls.
_DISPOSITIONS = {
    "NO ANSWER": CallResult.NO_ANSWER,
    "BUSY": CallResult.BUSY,
    "FAILED": CallResult.FAILED,
    "CONGESTION": CallResult.FAILED,
}


@dataclass(frozen=True, slots=True)
class PbxRecord:
    """The PBX's own record of a call: when it was answered (None: never), how it ended, and
    when."""

    answered_at: datetime | None
    disposition: str
    ended_at: datetime | None


def result_without_hangup(
    outcome: CallResult | None, answered: bool, pbx: PbxRecord | None = None
) -> CallResult:
    """The result of an attempt closed without its hang-up event."""
    if outcome is not None:
        if outcome not in PROGRESS_OUTCOMES:
            raise ValueError(f"{outcome.value!r} is not an outcome known before the hang-up")
        return outcome
    if answered or (pbx is not None and pbx.answered_at is not None):
        return CallResult.ABANDONED
    if pbx is not None:
        return _DISPOSITIONS.get(pbx.disposition, CallResult.UNKNOWN)
    return CallResult.UNKNOWN
