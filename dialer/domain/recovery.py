"""How a call attempt ends when its daemon is gone: from what its durable progress shows.

A daemon writes each call's progress (ring, answer, agent connected, outcome known, message
started) within a flush of the PBX event. A call whose daemon died is closed later, by a
restarted daemon or by another one once the lease expired, and nobody saw its hang-up:

- An outcome already known (connected to an agent, abandoned, an answering machine) stands.
- Answered and never given to an agent: abandoned. The dialplan's own hold plays the abandon
  message when no agent comes, so the person heard it; it counts in the abandonment windows
  and locks the number for 72 hours like any abandon.
- The PBX's own record of the call (Asterisk's CDR through cdr_pgsql, FreeSWITCH's through
  mod_cdr_pg_csv, written at the hang-up with or without a daemon listening) fills the gap
  after the daemon's last flush: answered there and not connected is abandoned too (a person
  answered after the daemon died and heard the message); otherwise its disposition says busy,
  no answer or failed: Asterisk's CDR disposition, or FreeSWITCH's hang-up cause read as the
  event socket's is (`freeswitch_causes`).
- No evidence of an answer at all: unknown. It may have rung out, been busy or failed; it is
  retried as a no-answer would be, never sooner (`rules.retry`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from dialer import pbx
from dialer.domain.causes import unanswered_result
from dialer.domain.freeswitch_causes import dial_status, q850
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
# FreeSWITCH writes its hang-up cause name (USER_BUSY, NO_ANSWER, ...) as the disposition; none
# of them is one of Asterisk's above.
_FREESWITCH_CAUSE = re.compile(r"[A-Z][A-Z0-9_]*")


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
        return recorded_result(pbx.disposition)
    return CallResult.UNKNOWN


def recorded_result(disposition: str) -> CallResult:
    """The result an unanswered call's PBX record says; unknown when it says nothing that
    tells (a cancel: with no daemon, nobody the dialer knows of hung it up)."""
    if disposition in _DISPOSITIONS:
        return _DISPOSITIONS[disposition]
    if _FREESWITCH_CAUSE.fullmatch(disposition):
        status = dial_status(disposition)
        if status is pbx.DialStatus.CANCEL:
            return CallResult.UNKNOWN  # a cancel: nobody the dialer knows of hung it up
        # As its event on the event socket would have been read; it may have rung.
        return unanswered_result(
            sip_code=None,
            cause=q850(disposition),
            dial_status=status,
            rang=True,
            taken_back=False,
            cancelled=False,
        )
    return CallResult.UNKNOWN
