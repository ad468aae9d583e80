"""What happens to a lead after an attempt ends: pure rules, no I/O.

Rules (per result of the attempt):
- connected: the lead is done.
- busy: retry in 10 minutes; no answer: in 2 hours; failed: in 30 minutes.
- abandoned: a person answered and got no agent; retry no sooner than 72 hours.
- cancelled: the dialer gave up before anything happened (stop, reconciliation): the attempt
  does not count, and the lead is dialable again at once.
- unknown: closed after its daemon died with no evidence of an answer: as a no-answer.
An attempt that counts brings the lead's attempts to attempts+1; when that reaches the
campaign's cap the lead is done whatever the result.

`end_attempts` in `cdrs.py` applies these rules inside its one SQL statement, fed per row with
the `RetryRule` of the result; `next_lead_state` is the same rule in plain Python, the
specification that tests hold the SQL to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from dialer.domain.results import CallResult
from dialer.store.records import LeadStatus


@dataclass(frozen=True, slots=True)
class RetryRule:
    counts: bool  # the attempt counts towards the campaign's cap
    final: bool  # the lead is done after this result
    retry_after: timedelta  # from the hang-up to the next call

    def __post_init__(self) -> None:
        if self.retry_after < timedelta(0):
            raise ValueError("retry_after must not be negative")


DEFAULT_RULES: Mapping[CallResult, RetryRule] = MappingProxyType(
    {
        CallResult.CONNECTED: RetryRule(counts=True, final=True, retry_after=timedelta(0)),
        CallResult.BUSY: RetryRule(counts=True, final=False, retry_after=timedelta(minutes=10)),
        CallResult.NO_ANSWER: RetryRule(counts=True, final=False, retry_after=timedelta(hours=2)),
        CallResult.FAILED: RetryRule(counts=True, final=False, retry_after=timedelta(minutes=30)),
        CallResult.ABANDONED: RetryRule(counts=True, final=False, retry_after=timedelta(hours=72)),
        CallResult.CANCELLED: RetryRule(counts=False, final=False, retry_after=timedelta(0)),
        # An answering machine: try again later in the day, when a person may answer.
        CallResult.MACHINE: RetryRule(counts=True, final=False, retry_after=timedelta(hours=4)),
        # Closed after its daemon died, with no evidence of an answer: as a no-answer.
        CallResult.UNKNOWN: RetryRule(counts=True, final=False, retry_after=timedelta(hours=2)),
    }
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    rules: Mapping[CallResult, RetryRule] = field(default_factory=lambda: DEFAULT_RULES)

    def __post_init__(self) -> None:
        missing = [r.value for r in CallResult if r not in self.rules]
        if missing:
            raise ValueError(f"retry policy has no rule for: {', '.join(missing)}")

    def rule(self, result: CallResult) -> RetryRule:
        return self.rules[result]


DEFAULT_POLICY = RetryPolicy()


@dataclass(frozen=True, slots=True)
class LeadState:
    status: LeadStatus
    attempts: int
    next_call_at: datetime


def next_lead_state(
    attempts: int,
    max_attempts: int,
    result: CallResult,
    ended_at: datetime,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> LeadState:
    """The lead's state after an attempt with `result` ended at `ended_at`."""
    rule = policy.rule(result)
    after = attempts + 1 if rule.counts else attempts
    next_call_at = ended_at + rule.retry_after
    if rule.final or (rule.counts and after >= max_attempts):
        return LeadState(LeadStatus.DONE, after, next_call_at)
    return LeadState(LeadStatus.NEW if after == 0 else LeadStatus.RETRY, after, next_call_at)
