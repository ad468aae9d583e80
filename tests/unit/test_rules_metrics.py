"""The UK abandonment gauge of /metrics: the last 24 hours' abandoned calls plus the
estimate of people answering-machine detection took for machines, with each campaign's AMD
false-positive rate from its rules."""

from __future__ import annotations

import pytest

from dialer.core.observe import CallChanged, HistoryRestored, OthersCounted
from dialer.metrics import Metrics
from dialer.pacing.history import CampaignHistory
from dialer.store.records import Trunk
from tests.unit.test_metrics import FakeEngine, campaign_run

DAY = 86_400.0


def ended(m: Metrics, result: str, at: float, n: int, ms: float | None = None) -> None:
    for i in range(n):
        m.observe(CallChanged("spring", f"{result}-{at}-{i}", i, "ended", result, None, at, ms))


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_uk_ratio_adds_the_machine_estimate() -> None:
    m = Metrics()
    ended(m, "connected", 100.0, 18, ms=40.0)
    ended(m, "connected", 110.0, 1, ms=2500.0)  # too late: abandoned in the rates
    ended(m, "abandoned", 120.0, 1)
    ended(m, "machine", 130.0, 30)
    ended(m, "busy", 140.0, 5)
    m.sample(now=200.0)
    # default assumption: 10 % of the 30 machine verdicts were people -> 3 more abandoned
    uk = value(m, "dialer_abandonment_uk_ratio", campaign="spring", window="24h")
    assert uk == pytest.approx((2 + 3) / (20 + 3))
    assert value(m, "dialer_abandonment_ratio", campaign="spring", window="24h") == 0.1
    assert (
        value(m, "dialer_abandonment_window_machine_calls", campaign="spring", window="24h") == 30
    )
    assert value(m, "dialer_amd_false_positive_ratio", campaign="spring") == 0.10


async def test_uk_ratio_uses_the_campaign_rate_and_forgets_after_a_day() -> None:
    m = Metrics()
    trunk = Trunk(1, "carrier-a", 30, 10.0, "", "trunk")
    m.watch(FakeEngine([campaign_run(7, "spring", trunk, agents=1)]))  # type: ignore[arg-type]
    try:
        m.set_amd_false_positive_rate(7, 0.5)  # what the rules store tells it (app.py)
        ended(m, "connected", 100.0, 8, ms=40.0)
        ended(m, "machine", 100.0, 4)
        m.sample(now=200.0)
        uk = value(m, "dialer_abandonment_uk_ratio", campaign="spring", window="24h")
        assert uk == pytest.approx(2 / 10)
        assert value(m, "dialer_amd_false_positive_ratio", campaign="spring") == 0.5
        m.sample(now=100.0 + DAY + 60.0)
        assert value(m, "dialer_abandonment_uk_ratio", campaign="spring", window="24h") == 0
        machines = "dialer_abandonment_window_machine_calls"
        assert value(m, machines, campaign="spring", window="24h") == 0
    finally:
        await m.aclose()


def test_uk_ratio_counts_restored_machines_and_other_daemons_calls() -> None:
    # After a restart the stored history gives the 24-hour window its machines too, so the
    # gauge agrees with the API's figure from the CDRs; other daemons' calls join later.
    m = Metrics()
    wall = 1_000_000.0
    history = CampaignHistory(
        wall_now=wall,
        minutes=((wall - 3600.0, 18, 2),),
        life_answered=18,
        life_abandoned=2,
        recent=(),
        wrapup_s=5.0,
        machine_minutes=((wall - 2 * DAY, 50), (wall - 3600.0, 20)),  # the first: too old
    )
    m.observe(HistoryRestored("spring", history, 500.0))
    m.sample(now=500.0)
    assert (
        value(m, "dialer_abandonment_window_machine_calls", campaign="spring", window="24h") == 20
    )
    uk = value(m, "dialer_abandonment_uk_ratio", campaign="spring", window="24h")
    assert uk == pytest.approx((2 + 2) / (18 + 2))  # 10 % of 20 machines: 2 people
    m.observe(OthersCounted("spring", 510.0, answered=2, abandoned=0, machines=10))
    m.sample(now=520.0)
    assert (
        value(m, "dialer_abandonment_window_machine_calls", campaign="spring", window="24h") == 30
    )
    assert value(m, "dialer_abandonment_uk_ratio", campaign="spring", window="24h") == (
        pytest.approx((2 + 3) / (20 + 3))
    )
