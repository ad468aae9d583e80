"""The trunk circuit breaker (dialer.domain.breaker): pure, on a made-up clock."""

from __future__ import annotations

import pytest

from dialer.core.observe import TrunkBreakerChanged
from dialer.domain.breaker import (
    _TRANSITIONS,
    Breakers,
    BreakerSettings,
    BreakerState,
    IllegalBreakerTransition,
    Signal,
    TrunkBreaker,
    Verdict,
)
from dialer.domain.results import CallResult
from dialer.metrics import Metrics
from dialer.publish.messages import Topics, breaker_message

R = CallResult
S = BreakerState
SMALL = BreakerSettings(window=4, failures=3, backoff_s=10.0, max_backoff_s=25.0)


def feed(
    b: TrunkBreaker, *results: CallResult, at: float = 0.0, prefix: str = "c"
) -> list[Verdict]:
    return [b.record(f"{prefix}{i}", r, at) for i, r in enumerate(results)]


def test_closed_dials_freely_and_ignores_what_the_people_said() -> None:
    b = TrunkBreaker(SMALL)
    verdicts = feed(b, R.BUSY, R.NO_ANSWER, R.DECLINED, R.UNAVAILABLE, R.CONNECTED, R.MACHINE)
    assert all(v.state is None and not v.give_back for v in verdicts)
    assert b.state is S.CLOSED and b.allowance() is None


@pytest.mark.parametrize("failure", [R.FAILED, R.INVALID])
def test_most_calls_failing_in_a_row_trip_it_and_give_those_calls_back(
    failure: CallResult,
) -> None:
    b = TrunkBreaker(SMALL)
    # connected, then 3 failures among the last 4 with a busy between: trips on the third
    verdicts = feed(b, R.CONNECTED, failure, R.BUSY, failure, failure)
    assert [v.state for v in verdicts] == [None, None, None, None, S.OPEN]
    trip = verdicts[-1]
    assert trip.give_back == ("c1", "c3", "c4")  # the busy call stays as it was
    assert trip.backoff_s == 10.0
    assert "3 of the last 4" in trip.reason
    assert b.state is S.OPEN and b.allowance() == 0 and b.trips == 1


def test_cancelled_calls_say_nothing() -> None:
    b = TrunkBreaker(SMALL)
    feed(b, R.FAILED, R.CANCELLED, R.CANCELLED, R.FAILED)
    assert b.state is S.CLOSED
    assert b.record("x", R.FAILED, 0.0).state is S.OPEN


def test_calls_in_flight_that_fail_while_open_are_given_back_too() -> None:
    b = TrunkBreaker(SMALL)
    feed(b, R.FAILED, R.FAILED, R.FAILED)
    assert b.record("late", R.FAILED, 1.0).give_back == ("late",)
    assert b.record("ok", R.BUSY, 1.0).give_back == ()
    assert b.state is S.OPEN


def test_back_off_then_one_probe_then_closed() -> None:
    b = TrunkBreaker(SMALL)
    feed(b, R.FAILED, R.FAILED, R.FAILED, at=100.0)
    assert b.poll(109.9).state is None
    v = b.poll(110.0)
    assert v.state is S.HALF_OPEN
    assert b.allowance() == 1
    b.dialed()
    assert b.allowance() == 0  # one probe at a time
    v = b.record("probe", R.NO_ANSWER, 115.0)
    assert v.state is S.CLOSED and v.give_back == ()
    assert b.allowance() is None
    # the window started afresh: two more failures do not trip it
    feed(b, R.FAILED, R.FAILED, prefix="d")
    assert b.state is S.CLOSED


def test_failed_probes_double_the_back_off_up_to_its_maximum() -> None:
    b = TrunkBreaker(SMALL)
    feed(b, R.FAILED, R.FAILED, R.FAILED)
    now = 0.0
    backoffs = []
    for i in range(3):
        now += 100.0
        assert b.poll(now).state is S.HALF_OPEN
        b.dialed()
        v = b.record(f"p{i}", R.FAILED, now)
        assert v.state is S.OPEN and v.give_back == (f"p{i}",)
        backoffs.append(v.backoff_s)
    assert backoffs == [20.0, 25.0, 25.0]
    # a success brings the first back-off back
    b.poll(now + 25.0)
    b.record("ok", R.CONNECTED, now + 26.0)
    v = feed(b, R.FAILED, R.FAILED, R.FAILED, at=now + 30.0, prefix="e")[-1]
    assert v.state is S.OPEN and v.backoff_s == 10.0


def test_transition_table_refuses_what_it_does_not_list() -> None:
    b = TrunkBreaker(SMALL)
    with pytest.raises(IllegalBreakerTransition):
        b._go(Signal.PROBE_OK)
    assert b.state is S.CLOSED
    assert set(_TRANSITIONS) == set(BreakerState)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window": 0},
        {"window": 3, "failures": 4},
        {"failures": 0},
        {"backoff_s": 0},
        {"backoff_s": 100, "max_backoff_s": 50},
    ],
)
def test_settings_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="breaker"):
        BreakerSettings(**kwargs)  # type: ignore[arg-type]


def test_one_breaker_per_trunk() -> None:
    breakers = Breakers(SMALL)
    feed(breakers.of(1), R.FAILED, R.FAILED, R.FAILED)
    assert breakers.of(1).state is S.OPEN
    assert breakers.of(2).state is S.CLOSED
    assert breakers.states() == {1: S.OPEN, 2: S.CLOSED}


def test_a_change_is_a_metric_and_a_retained_mqtt_message() -> None:
    metrics = Metrics()
    opened = TrunkBreakerChanged("carrier a", "open", "3 of the last 3 failed", 3, 30.0, 1.0)
    metrics.observe(opened)
    value = metrics.registry.get_sample_value
    assert value("dialer_trunk_breaker_state", {"trunk": "carrier a"}) == 1
    assert value("dialer_trunk_breaker_openings_total", {"trunk": "carrier a"}) == 1
    assert value("dialer_trunk_breaker_given_back_calls_total", {"trunk": "carrier a"}) == 3
    metrics.observe(TrunkBreakerChanged("carrier a", "closed", "probe went through", 0, 0, 9.0))
    assert value("dialer_trunk_breaker_state", {"trunk": "carrier a"}) == 0
    assert value("dialer_trunk_breaker_openings_total", {"trunk": "carrier a"}) == 1

    msg = breaker_message(Topics("dialer"), opened, 1767225600.0)
    assert msg.topic == "dialer/trunks/carrier_a/breaker" and msg.retain
    assert msg.json() == {
        "schema": 1,
        "type": "trunk_breaker",
        "trunk": "carrier a",
        "state": "open",
        "reason": "3 of the last 3 failed",
        "given_back": 3,
        "backoff_s": 30.0,
        "at": 1767225600.0,
    }
