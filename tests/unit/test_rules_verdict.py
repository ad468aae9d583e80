"""Zones, caps, presets and `evaluate`: every reason a lead is not dialable, with frozen clocks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain.results import CallResult
from dialer.rules.caps import Caps
from dialer.rules.dnc import DncHit, DncIndex, DncSource, normalize
from dialer.rules.policy import (
    CampaignRules,
    Preset,
    customise,
    preset_rules,
    rules_from_row,
    rules_to_row,
    validate_ring_timeout,
    within_preset,
)
from dialer.rules.retry import ResultRule
from dialer.rules.verdict import CallbackFact, LeadFacts, Reason, dialable_at, evaluate
from dialer.rules.zones import ZoneSource, choose_zones

NYC = "+12125551234"  # New York area code
LAX = "+13105551234"  # Los Angeles
MOSCOW = "+74951234567"
US = preset_rules(Preset.US)
RU = preset_rules(Preset.RU_DEBT)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def facts(phone: str = NYC, zone: str = "UTC", **kw: object) -> LeadFacts:
    values: dict[str, object] = {"max_attempts": 5, "next_call_at": utc(2030, 1, 1)}
    values.update(kw)
    return LeadFacts(1, 7, phone, zone, **values)  # type: ignore[arg-type]


def reasons(f: LeadFacts, rules: CampaignRules, at: datetime) -> set[Reason]:
    return {b.reason for b in evaluate(f, rules, at).blockers}


# -- zones ---------------------------------------------------------------------------------


def test_zone_from_the_lead_then_the_number_then_the_campaign() -> None:
    assert choose_zones("Europe/Paris", NYC, "UTC").zones == ("Europe/Paris",)
    by_number = choose_zones("UTC", LAX, "Europe/Paris")  # "UTC" is the import default: unset
    assert (by_number.zones, by_number.source) == (("America/Los_Angeles",), ZoneSource.NUMBER)
    unknown = choose_zones("", "+15550001234", "Europe/Paris")  # 555: no region
    assert (unknown.zones, unknown.source) == (("Europe/Paris",), ZoneSource.CAMPAIGN)
    assert len(choose_zones(None, "+18005551234", "UTC").zones) > 5  # toll-free: every US zone
    with pytest.raises(ValueError, match="unknown time zone"):
        choose_zones("Mars/Olympus", NYC, "UTC")


def test_lead_zone_decides_over_the_number() -> None:
    # 13:30 UTC on a winter Tuesday: 08:30 in New York, 05:30 in Los Angeles.
    at = utc(2030, 1, 8, 13, 30)
    assert evaluate(facts(NYC), US, at).dialable
    moved = facts(NYC, "America/Los_Angeles")  # a New York number whose owner lives in LA
    assert reasons(moved, US, at) == {Reason.OUTSIDE_HOURS}
    assert dialable_at(moved, US, at) == utc(2030, 1, 8, 16, 0)


# -- reasons -------------------------------------------------------------------------------


def test_outside_hours_says_until_when_in_local_time() -> None:
    at = utc(2030, 1, 8, 3, 0)  # 22:00 EST on Monday
    verdict = evaluate(facts(NYC), US, at)
    (blocker,) = verdict.blockers
    assert blocker.reason is Reason.OUTSIDE_HOURS
    assert blocker.until == utc(2030, 1, 8, 13, 0)
    assert "22:00 EST" in blocker.detail and "opens Tue 2030-01-08 08:00 EST" in blocker.detail


def test_every_reason_is_listed() -> None:
    at = utc(2030, 1, 8, 3, 0)
    f = facts(
        status="done",
        attempts=5,
        campaign_status="paused",
        dnc=(
            DncHit("national", None, DncSource.IMPORT, utc(2029, 1, 1)),
            DncHit("opt-out-campaign-7", 7, DncSource.OPT_OUT, utc(2029, 6, 1)),
        ),
        last_abandoned_at=at - timedelta(hours=10),
    )
    verdict = evaluate(f, US, at)
    got = [b.reason for b in verdict.blockers]
    assert got.count(Reason.DNC) == 2
    assert set(got) == {
        Reason.CAMPAIGN_PAUSED,
        Reason.DNC,
        Reason.DONE,
        Reason.ATTEMPT_CAP,
        Reason.ABANDON_LOCK,
        Reason.OUTSIDE_HOURS,
    }
    lock = next(b for b in verdict.blockers if b.reason is Reason.ABANDON_LOCK)
    assert lock.until == at + timedelta(hours=62)
    assert dialable_at(f, US, at) is None  # DNC and done never pass by waiting


def test_retry_due_lease_and_campaign_states() -> None:
    at = utc(2030, 1, 8, 15, 0)
    later = facts(status="retry", attempts=1, next_call_at=at + timedelta(minutes=10))
    assert reasons(later, US, at) == {Reason.RETRY_DUE}
    assert dialable_at(later, US, at) == at + timedelta(minutes=10)
    leased = facts(status="dialing", leased_until=at + timedelta(minutes=5), lease_owner="d1")
    assert reasons(leased, US, at) == {Reason.BEING_DIALED}
    assert reasons(facts(campaign_status="draft"), US, at) == {Reason.CAMPAIGN_NOT_RUNNING}


def test_abandon_lock_is_72_hours_whatever_the_retry_rule() -> None:
    at = utc(2030, 1, 8, 15, 0)
    rules = customise(US, retry={CallResult.ABANDONED: ResultRule(retry_after=timedelta(0))})
    f = facts(last_abandoned_at=at - timedelta(hours=71, minutes=59))
    assert reasons(f, rules, at) == {Reason.ABANDON_LOCK}
    assert evaluate(facts(last_abandoned_at=at - timedelta(hours=72)), rules, at).dialable


def test_russian_caps_per_day_week_month_in_the_debtors_zone() -> None:
    # Thursday 2030-01-10 10:00 MSK; one call on Monday, one today at 08:30 MSK.
    at = utc(2030, 1, 10, 7, 0)
    calls = (utc(2030, 1, 7, 6, 0), utc(2030, 1, 10, 5, 30))
    f = facts(MOSCOW, recent_calls=calls)
    got = {b.reason: b.until for b in evaluate(f, RU, at).blockers}
    assert got == {
        Reason.CAP_PER_DAY: utc(2030, 1, 10, 21, 0),  # Moscow midnight
        Reason.CAP_PER_WEEK: utc(2030, 1, 13, 21, 0),  # Monday 00:00 MSK
    }
    assert dialable_at(f, RU, at) == utc(2030, 1, 14, 5, 0)  # Monday 08:00 MSK
    month = tuple(utc(2030, 1, d, 7, 0) for d in (1, 3, 6, 7, 8, 14, 15, 21))  # 8 in January
    g = facts(MOSCOW, recent_calls=month)
    got = {b.reason for b in evaluate(g, RU, utc(2030, 1, 24, 7, 0)).blockers}
    assert got == {Reason.CAP_PER_MONTH}
    assert dialable_at(g, RU, utc(2030, 1, 24, 7, 0)) == utc(2030, 2, 1, 5, 0)  # Fri 08:00 MSK


def test_rolling_24_hours() -> None:
    rules = customise(US, caps=Caps(rolling_24h=2))
    at = utc(2030, 1, 8, 18, 0)
    calls = (utc(2030, 1, 7, 19, 0), utc(2030, 1, 8, 14, 0))
    f = facts(recent_calls=calls)
    (blocker,) = evaluate(f, rules, at).blockers
    assert (blocker.reason, blocker.until) == (Reason.CAP_ROLLING_24H, utc(2030, 1, 8, 19, 0))
    assert evaluate(f, rules, utc(2030, 1, 8, 19, 0)).dialable


def test_callbacks_wait_for_their_time_then_override_done_and_the_lifetime_cap() -> None:
    at = utc(2030, 1, 8, 15, 0)
    cb = CallbackFact(3, at + timedelta(hours=1), 12, "alice")
    f = facts(status="done", attempts=5, callback=cb)
    assert reasons(f, US, at) == {Reason.DONE, Reason.ATTEMPT_CAP, Reason.CALLBACK_LATER}
    assert all(b.until == cb.due_at for b in evaluate(f, US, at).blockers)
    assert dialable_at(f, US, at) == cb.due_at  # done, but the callback will call it
    assert dialable_at(facts(status="done", attempts=5), US, at) is None
    verdict = evaluate(f, US, at + timedelta(hours=1))
    assert verdict.dialable and verdict.callback_due == cb
    assert any("agent alice" in n for n in verdict.notes)
    # but never a do-not-call list or the calling hours
    listed = facts(callback=cb, dnc=(DncHit("x", None, DncSource.MANUAL, at),))
    assert reasons(listed, US, at + timedelta(hours=1)) == {Reason.DNC}
    night = facts(callback=CallbackFact(4, utc(2030, 1, 8, 3, 0), None))
    assert reasons(night, US, utc(2030, 1, 8, 3, 0)) == {Reason.OUTSIDE_HOURS}


def test_time_only_leaves_out_what_the_lease_query_checked() -> None:
    at = utc(2030, 1, 8, 15, 0)
    f = facts(status="dialing", attempts=9, leased_until=at + timedelta(minutes=1))
    assert evaluate(f, US, at, time_only=True).dialable
    listed = facts(dnc=(DncHit("x", None, DncSource.MANUAL, at),))
    assert not evaluate(listed, US, at, time_only=True).dialable
    # Only the full verdict (the "why" explanation) works out when the open window closes.
    assert evaluate(facts(), US, at).window_closes_at is not None
    assert evaluate(facts(), US, at, time_only=True).window_closes_at is None


phones = st.integers(2_025_550_000, 2_025_550_040).map(lambda n: f"+1{n}")


@settings(max_examples=300, deadline=None)
@given(
    lead_phone=phones,
    entries=st.lists(st.tuples(phones, st.sampled_from([None, 7, 8])), max_size=20),
    at=st.datetimes(datetime(2029, 1, 1), datetime(2031, 1, 1), timezones=st.just(UTC)),
    preset=st.sampled_from(list(Preset)),
)
def test_a_listed_number_is_never_dialable(
    lead_phone: str, entries: list[tuple[str, int | None]], at: datetime, preset: Preset
) -> None:
    """Property: whatever the time and policy, a lead whose number a list blocks for its
    campaign (7) is not dialable, and the verdict says DNC; one not listed never says DNC."""
    index = DncIndex.of(entries)
    hits = tuple(
        DncHit(f"list-{cid}", cid, DncSource.IMPORT, at)
        for phone, cid in set(entries)
        if phone == lead_phone and cid in (None, 7)
    )
    verdict = evaluate(facts(lead_phone, dnc=hits), preset_rules(preset), at)
    if index.blocks(lead_phone, 7):
        assert not verdict.dialable
        assert Reason.DNC in {b.reason for b in verdict.blockers}
    else:
        assert Reason.DNC not in {b.reason for b in verdict.blockers}


# -- presets and settings ------------------------------------------------------------------


def test_a_campaign_may_narrow_a_preset_never_widen_it() -> None:
    narrowed = customise(RU, weekday_hours=[["10:00-18:00"]] * 5 + [[]] * 2)
    assert within_preset(narrowed) == []
    with pytest.raises(ValueError, match="Monday hours 07:00-22:00 exceed the ru_debt preset"):
        customise(RU, weekday_hours=[["07:00-22:00"]] * 7)
    with pytest.raises(ValueError, match="per_day=2 exceeds"):
        customise(RU, caps=Caps(per_day=2, per_week=2, per_month=8))
    with pytest.raises(ValueError, match="holiday hours exceed"):
        customise(US, holiday_hours=["10:00-12:00"])  # US: no calls on holidays
    assert customise(preset_rules(Preset.NONE), caps=Caps(per_day=3)).caps.per_day == 3


def test_rules_row_round_trip() -> None:
    rules = customise(
        preset_rules(Preset.RU_DEBT, default_zone="Asia/Novosibirsk", holidays=[date(2030, 1, 7)]),
        retry={CallResult.BUSY: ResultRule(retry_after=timedelta(minutes=5))},
    )
    row = rules_to_row(rules)
    assert row["retry_rules"] == {"busy": {"counts": True, "final": False, "retry_after_s": 300.0}}
    assert rules_from_row(row) == rules


def test_ring_time_is_never_below_15_seconds() -> None:
    validate_ring_timeout(15.0)
    with pytest.raises(ValueError, match=r"ring_timeout_s must be at least 15 s"):
        validate_ring_timeout(14.9)
    with pytest.raises(ValueError, match="ring_timeout_s"):
        validate_ring_timeout(float("nan"))


def test_dnc_numbers_are_normalised() -> None:
    assert normalize(" +1 (212) 555-1234 ") == NYC
    assert normalize("020 7123 4567", "GB") == "+442071234567"
    with pytest.raises(ValueError, match="not a phone number"):
        normalize("call me maybe")


# -- the 72-hour lock and callbacks; leads set aside as on a list ---------------------------


def test_abandon_lock_is_lifted_only_for_a_callback_to_a_named_agent() -> None:
    at = utc(2030, 1, 8, 15, 0)
    abandoned = at - timedelta(hours=2)
    lock_ends = abandoned + timedelta(hours=72)
    named = CallbackFact(3, at + timedelta(minutes=30), 12, "alice")
    anyone = CallbackFact(4, at + timedelta(minutes=30), None)
    f = facts(status="retry", attempts=1, last_abandoned_at=abandoned, callback=named)
    # Before the callback is due it waits for it, not for the lock...
    before = evaluate(f, US, at)
    assert {b.reason for b in before.blockers} == {Reason.CALLBACK_LATER}
    assert any("lifted for the callback, agent alice is reserved" in n for n in before.notes)
    assert dialable_at(f, US, at) == named.due_at
    # ...and when due it is dialable, for that agent, with the lock explained.
    due = evaluate(f, US, named.due_at)
    assert due.dialable and due.callback_due == named
    assert any("72-hour lock" in n and "until" in n for n in due.notes)
    # The check right before the originate (time_only) lets it go as well.
    assert evaluate(f, US, named.due_at, time_only=True).dialable
    # A callback for anyone waits out the lock.
    g = facts(status="retry", attempts=1, last_abandoned_at=abandoned, callback=anyone)
    at_due = evaluate(g, US, anyone.due_at)
    (lock,) = at_due.blockers
    assert (lock.reason, lock.until) == (Reason.ABANDON_LOCK, lock_ends)
    assert "until" in lock.detail
    assert dialable_at(g, US, anyone.due_at) == lock_ends
    # Without a callback the lock holds as before; a named callback never lifts a DNC list.
    assert reasons(facts(last_abandoned_at=abandoned), US, at) == {Reason.ABANDON_LOCK}
    listed = facts(
        last_abandoned_at=abandoned,
        callback=named,
        dnc=(DncHit("x", None, DncSource.MANUAL, at),),
    )
    assert reasons(listed, US, named.due_at) == {Reason.DNC}


def test_a_lead_set_aside_as_listed_says_why() -> None:
    at = utc(2030, 1, 8, 15, 0)
    hit = DncHit("national", None, DncSource.IMPORT, utc(2029, 1, 1))
    still = facts(status="blocked", dnc=(hit,))
    assert [b.reason for b in evaluate(still, US, at).blockers] == [Reason.DNC]
    gone = evaluate(facts(status="blocked"), US, at)
    assert [b.reason for b in gone.blockers] == [Reason.BLOCKED]
    assert "no list has it now" in gone.blockers[0].detail
    assert dialable_at(facts(status="blocked"), US, at) is None  # the store gives it back


def test_amd_false_positive_rate_is_a_campaign_setting() -> None:
    assert US.amd_false_positive_rate is None
    assert US.effective_amd_false_positive_rate == 0.10
    measured = customise(US, amd_false_positive_rate=0.04)
    assert measured.effective_amd_false_positive_rate == 0.04
    assert customise(measured, caps=None).amd_false_positive_rate == 0.04  # kept
    assert customise(measured, amd_false_positive_rate=None).amd_false_positive_rate is None
    assert rules_from_row(rules_to_row(measured)) == measured
    row = rules_to_row(US)
    del row["amd_false_positive_rate"]  # a row written before the setting existed
    assert rules_from_row(row) == US
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="amd_false_positive_rate"):
            customise(US, amd_false_positive_rate=bad)
