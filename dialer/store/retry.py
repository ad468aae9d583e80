"""What happens to a lead after an attempt ends: pure rules, no I/O.

Rules (per result of the attempt):
- connected: the lead is done.
- busy: retry in 10 minutes; no answer: in 2 hours.
- failed (the network's fault: congestion, trunk failure): retry in 5 minutes, not counted
  towards the cap; `network_failure_cap` of them in a row end the lead as unreachable.
- invalid (the number does not exist): the lead is done. declined (the person refused the
  call): retry no sooner than 24 hours. unavailable (never rang): retry in 1 hour.
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
from dialer.store.records import DEFAULT_NETWORK_FAILURE_CAP, LeadStatus


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
        CallResult.FAILED: RetryRule(counts=False, final=False, retry_after=timedelta(minutes=5)),
        CallResult.INVALID: RetryRule(counts=True, final=True, retry_after=timedelta(0)),
        CallResult.DECLINED: RetryRule(counts=True, final=False, retry_after=timedelta(hours=24)),
        CallResult.UNAVAILABLE: RetryRule(counts=True, final=False, retry_after=timedelta(hours=1)),
        # Never an attempt's result (the lead's, after network_failure_cap failures).
        CallResult.UNREACHABLE: RetryRule(counts=False, final=True, retry_after=timedelta(0)),
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
    network_failures: int = 0
    last_result: CallResult | None = None  # None: unchanged


def next_lead_state(
    attempts: int,
    max_attempts: int,
    result: CallResult,
    ended_at: datetime,
    policy: RetryPolicy = DEFAULT_POLICY,
    network_failures: int = 0,
    network_failure_cap: int = DEFAULT_NETWORK_FAILURE_CAP,
) -> LeadState:
    """The lead's state after an attempt with `result` ended at `ended_at`; `network_failures`
    is how many calls in a row before this one failed on the network."""
    rule = policy.rule(result)
    after = attempts + 1 if rule.counts else attempts
    next_call_at = ended_at + rule.retry_after
    failures = network_after(network_failures, result, rule.counts)
    if result is CallResult.FAILED and failures >= network_failure_cap:
        return LeadState(LeadStatus.DONE, after, next_call_at, failures, CallResult.UNREACHABLE)
    last = result if rule.counts or result is CallResult.FAILED else None
    if rule.final or (rule.counts and after >= max_attempts):
        return LeadState(LeadStatus.DONE, after, next_call_at, failures, last)
    status = LeadStatus.NEW if after == 0 else LeadStatus.RETRY
    return LeadState(status, after, next_call_at, failures, last)


def network_after(network_failures: int, result: CallResult, counts: bool) -> int:
    """Network failures in a row after an attempt: one more for a failure, none after a call
    that reached the number's side (a counted result), unchanged otherwise (cancelled)."""
    if result is CallResult.FAILED:
        return network_failures + 1
    return 0 if counts else network_failures
