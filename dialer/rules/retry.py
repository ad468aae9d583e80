"""What happens to a lead after each call result, per campaign (the campaign's retry rules).

Rules:
- Each result has a rule: does the attempt count towards the lifetime cap, is the lead done
  after it, and how long until the next call.
- Defaults (the store's `retry.DEFAULT_RULES`, repeated here so this package imports no store
  code): connected → done; busy → 10 min; no answer → 2 h; failed (the network's fault) →
  5 min, not counted; invalid number → done; declined → 24 h; unavailable → 1 h; abandoned →
  72 h; machine → 4 h; cancelled → not counted, again at once.
- A cancelled attempt never counts and never ends the lead: the dialer gave up before the
  network saw the call. An abandoned call is never retried sooner than 72 hours whatever the
  rule says: the number lock (`verdict.ABANDON_LOCK`) holds it anyway.
- An unknown result (closed after its daemon died, with no evidence of an answer) always
  follows the no-answer rule: it must never make a lead dialable sooner than a no-answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from dialer.domain.results import CallResult

ABANDON_LOCK = timedelta(hours=72)


@dataclass(frozen=True, slots=True)
class ResultRule:
    counts: bool = True
    final: bool = False
    retry_after: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.retry_after < timedelta(0):
            raise ValueError("retry_after must not be negative")

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "final": self.final,
            "retry_after_s": self.retry_after.total_seconds(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> ResultRule:
        unknown = set(data) - {"counts", "final", "retry_after_s"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        try:
            return cls(
                counts=bool(data.get("counts", True)),
                final=bool(data.get("final", False)),
                retry_after=timedelta(seconds=float(data.get("retry_after_s", 0))),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None


DEFAULT_RESULT_RULES: Mapping[CallResult, ResultRule] = MappingProxyType(
    {
        CallResult.CONNECTED: ResultRule(counts=True, final=True),
        CallResult.BUSY: ResultRule(retry_after=timedelta(minutes=10)),
        CallResult.NO_ANSWER: ResultRule(retry_after=timedelta(hours=2)),
        # the network's fault, not the number's: soon, outside the caps (dialer.domain.causes)
        CallResult.FAILED: ResultRule(counts=False, retry_after=timedelta(minutes=5)),
        CallResult.INVALID: ResultRule(counts=True, final=True),
        CallResult.DECLINED: ResultRule(retry_after=timedelta(hours=24)),
        CallResult.UNAVAILABLE: ResultRule(retry_after=timedelta(hours=1)),
        CallResult.UNREACHABLE: ResultRule(counts=False, final=True),
        CallResult.ABANDONED: ResultRule(retry_after=ABANDON_LOCK),
        CallResult.CANCELLED: ResultRule(counts=False),
        # an answering machine: later in the day a person may answer
        CallResult.MACHINE: ResultRule(retry_after=timedelta(hours=4)),
        CallResult.UNKNOWN: ResultRule(retry_after=timedelta(hours=2)),
    }
)


def retry_rules(overrides: Mapping[CallResult, ResultRule]) -> Mapping[CallResult, ResultRule]:
    """The defaults with `overrides` applied; a cancelled attempt keeps its fixed rule and an
    unknown one follows the no-answer rule."""
    rules = dict(DEFAULT_RESULT_RULES)
    for result, rule in overrides.items():
        if result is CallResult.CANCELLED and rule != DEFAULT_RESULT_RULES[result]:
            raise ValueError("retry rule for 'cancelled' cannot be changed: it never counts")
        if result is CallResult.UNKNOWN and rule != overrides.get(
            CallResult.NO_ANSWER, DEFAULT_RESULT_RULES[CallResult.NO_ANSWER]
        ):
            raise ValueError(
                "retry rule for 'unknown' cannot be set: it follows the rule for 'no_answer'"
            )
        rules[result] = rule
    rules[CallResult.UNKNOWN] = rules[CallResult.NO_ANSWER]
    return MappingProxyType(rules)
