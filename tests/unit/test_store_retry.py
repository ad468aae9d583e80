"""The per-result retry rules and the store's input records (pure, no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dialer.domain.pbx_values import is_e164
from dialer.domain.results import CallResult
from dialer.store.records import (
    AttemptEnd,
    AttemptProgress,
    AttemptStart,
    LeadStatus,
    NewLead,
    mask_phone,
)
from dialer.store.retry import DEFAULT_RULES, RetryPolicy, RetryRule, next_lead_state

T = datetime(2030, 1, 6, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("result", "status", "attempts", "delay"),
    [
        (CallResult.CONNECTED, LeadStatus.DONE, 2, timedelta(0)),
        (CallResult.BUSY, LeadStatus.RETRY, 2, timedelta(minutes=10)),
        (CallResult.NO_ANSWER, LeadStatus.RETRY, 2, timedelta(hours=2)),
        (CallResult.FAILED, LeadStatus.RETRY, 1, timedelta(minutes=5)),
        (CallResult.INVALID, LeadStatus.DONE, 2, timedelta(0)),
        (CallResult.DECLINED, LeadStatus.RETRY, 2, timedelta(hours=24)),
        (CallResult.UNAVAILABLE, LeadStatus.RETRY, 2, timedelta(hours=1)),
        (CallResult.ABANDONED, LeadStatus.RETRY, 2, timedelta(hours=72)),
        (CallResult.CANCELLED, LeadStatus.RETRY, 1, timedelta(0)),
    ],
)
def test_rules_after_one_previous_attempt(
    result: CallResult, status: LeadStatus, attempts: int, delay: timedelta
) -> None:
    state = next_lead_state(1, 5, result, T)
    assert (state.status, state.attempts, state.next_call_at) == (status, attempts, T + delay)


def test_cap_makes_done_but_cancelled_never_counts() -> None:
    assert next_lead_state(2, 3, CallResult.BUSY, T).status is LeadStatus.DONE
    assert next_lead_state(1, 3, CallResult.BUSY, T).status is LeadStatus.RETRY
    cancelled = next_lead_state(2, 3, CallResult.CANCELLED, T)
    assert (cancelled.status, cancelled.attempts) == (LeadStatus.RETRY, 2)
    fresh = next_lead_state(0, 3, CallResult.CANCELLED, T)
    assert (fresh.status, fresh.attempts, fresh.next_call_at) == (LeadStatus.NEW, 0, T)


def test_policy_must_cover_every_result() -> None:
    partial: dict[CallResult, RetryRule] = {
        k: v for k, v in DEFAULT_RULES.items() if k is not CallResult.BUSY
    }
    with pytest.raises(ValueError, match="busy"):
        RetryPolicy(rules=partial)
    with pytest.raises(ValueError, match="negative"):
        RetryRule(counts=True, final=False, retry_after=timedelta(seconds=-1))
    custom = RetryPolicy(
        rules={**DEFAULT_RULES, CallResult.BUSY: RetryRule(True, False, timedelta(minutes=1))}
    )
    assert next_lead_state(0, 3, CallResult.BUSY, T, custom).next_call_at == T + timedelta(
        minutes=1
    )


def test_e164_and_masking() -> None:
    assert is_e164("+33612345678")
    assert is_e164("+12025550123")
    assert not is_e164("0612345678")
    assert not is_e164("+0612345678")
    assert not is_e164("+1234567890123456")  # 16 digits
    assert not is_e164("+33 6 12 34 56 78")
    assert mask_phone("+33612345678") == "+336******78"
    with pytest.raises(ValueError, match=r"not E\.164") as info:
        NewLead(phone="+33612345678x")
    assert "12345678" not in str(info.value)  # the number is masked in the message


def test_records_refuse_naive_times_and_bad_ids() -> None:
    naive = datetime(2030, 1, 1)
    with pytest.raises(ValueError, match="timezone-aware"):
        AttemptEnd(str(uuid.uuid4()), naive, CallResult.BUSY)
    with pytest.raises(ValueError, match="timezone-aware"):
        NewLead(phone="+33612345678", next_call_at=naive)
    with pytest.raises(ValueError, match="UUID"):
        AttemptProgress("not-a-uuid")
    with pytest.raises(ValueError, match="UUID"):
        AttemptStart("x", 1, 1, None, "d1", T)
    with pytest.raises(ValueError, match=">= 0"):
        AttemptProgress(str(uuid.uuid4()), answer_to_agent_ms=-1)
