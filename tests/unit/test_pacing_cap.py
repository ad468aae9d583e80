"""Power pacing under the same abandonment cap as predictive (dialer.pacing.cap)."""

from __future__ import annotations

from dialer.pacing.base import AgentActivity, CallOutcome
from dialer.pacing.modes import PacingMode, PacingSettings, make_pacer
from dialer.pacing.ratio import PowerPacer
from tests.unit.test_pacing_predictive import NOW, snap

FOUR_READY = [(AgentActivity.READY, 10.0)] * 4


def answers(p: PowerPacer, answered: int, abandoned: int) -> None:
    for i in range(answered):
        at = NOW - 3600 + i  # within the last hour
        p.observe_call(CallOutcome(at - 20, at - 5, at, i < abandoned))


def test_power_dials_its_lines_then_brakes_then_stops_at_the_cap() -> None:
    fresh = PowerPacer(3.0)
    assert fresh.decide(snap(FOUR_READY)).dial == 12  # 3 lines for each of 4 ready agents
    braking = PowerPacer(3.0)
    answers(braking, 400, 10)  # 2.5%: the target
    d = braking.decide(snap(FOUR_READY))
    assert (d.dial, d.level) == (8, 2.0)  # the lines beyond one per agent halved
    assert "braking" in d.reason
    capped = PowerPacer(3.0)
    answers(capped, 400, 12)  # one more would be 13/401 = 3.2%
    d = capped.decide(snap(FOUR_READY))
    assert (d.dial, d.level) == (4, 1.0)  # one call per ready agent until back under
    assert d.reason.startswith("capped")


def test_the_first_answers_of_a_campaign_do_not_stop_it() -> None:
    p = PowerPacer(2.0)
    answers(p, 20, 2)  # 10%, but of 20 answers: counted as of 300
    assert p.decide(snap(FOUR_READY)).dial == 8


def test_the_daemons_power_mode_has_the_cap() -> None:
    p = make_pacer(PacingSettings(mode=PacingMode.POWER, lines_per_agent=3.0))
    assert isinstance(p, PowerPacer)
    answers(p, 400, 12)
    assert p.decide(snap(FOUR_READY)).dial == 4
