"""The simulator's changes over a run: schedules, agent waves, answering machines, and the
reports on rolling hours, the first minutes of a day and the regulators' two readings."""

from __future__ import annotations

import dataclasses

import pytest

from dialer.sim import Scenario, ScenarioError, simulate, summarize
from dialer.sim.agents import AgentWave, WaveKind, pick
from dialer.sim.report import worst_uk_window, worst_window, worst_window_in_days
from dialer.sim.scenario import Dist, parse_scenario
from dialer.sim.schedule import DAY_S, Schedule, Step

BASE = Scenario(agents=10, day_hours=2.0, mode="progressive")


def test_schedule_steps_once_daily_and_ramps() -> None:
    s = Schedule(0.3, (Step(3600.0, 0.1), Step(7200.0, 0.5, daily=False, ramp_s=600.0)))
    assert s.at(0.0) == 0.3
    assert s.at(3600.0) == 0.1
    assert s.at(7200.0 + 300.0) == pytest.approx(0.3)  # half way from 0.1 to 0.5
    assert s.at(8000.0) == 0.5
    assert s.at(DAY_S + 10.0) == 0.5  # the once step holds on day 2
    assert s.at(DAY_S + 3600.0) == 0.1  # the daily one comes again
    assert s.index_at(3700.0) == 1
    with pytest.raises(ValueError, match="only numbers"):
        Schedule(Dist("constant", 1.0), (Step(1.0, Dist("constant", 2.0), ramp_s=5.0),))


def test_waves_pick_ready_agents_first_then_the_latest_calls() -> None:
    assert pick([4, 2], [(10.0, 1), (30.0, 3), (20.0, 0)], 4) == [4, 2, 3, 0]
    assert AgentWave(0.0, WaveKind.LEAVE, share=0.3).size(10) == 3
    assert AgentWave(0.0, WaveKind.LEAVE, share=0.25).size(10) == 3  # rounded up
    with pytest.raises(ValueError, match="pause_s"):
        AgentWave(0.0, WaveKind.PAUSE, count=1)


def test_leaving_joining_and_pausing_change_the_logged_in_time() -> None:
    leave = dataclasses.replace(BASE, waves=(AgentWave(3600.0, WaveKind.LEAVE, count=5),))
    full = summarize(simulate(BASE))
    half = simulate(leave)
    # 10 agents for an hour, 5 for the second (those busy at 1 h leave after their call)
    assert 15 * 3600.0 <= half.logged_s <= 15 * 3600.0 + 5 * 600.0
    assert summarize(half)["connected"] < full["connected"]
    join = dataclasses.replace(BASE, waves=(AgentWave(3600.0, WaveKind.JOIN, count=10),))
    assert simulate(join).logged_s == pytest.approx(30 * 3600.0)
    pause = dataclasses.replace(
        BASE, waves=(AgentWave(1800.0, WaveKind.PAUSE, share=1.0, pause_s=600.0),)
    )
    paused = simulate(pause)
    assert paused.logged_s == pytest.approx(20 * 3600.0)  # a pause stays logged in
    assert paused.connected < simulate(BASE).connected


def test_machines_are_counted_apart_and_read_by_the_uk_rate() -> None:
    sc = dataclasses.replace(BASE, mode="predictive", agents=20, machine_share=0.3)
    raw = simulate(sc)
    s = summarize(raw)
    assert raw.machines > 0.15 * (raw.machines + s["answered"])
    ab = s["abandonment"]
    assert ab["uk_24h"] > ab["worst_24h"]  # the false-positive estimate adds to it
    assert worst_uk_window([10, 10], [0, 1], [0, 10], 2, 0.1) == pytest.approx(2 / 21)


def test_talk_time_and_contact_schedules_reach_the_calls() -> None:
    longer = dataclasses.replace(
        BASE,
        talk_steps=(Step(3600.0, Dist("constant", 600.0)),),
        contact_steps=(Step(3600.0, 0.05),),
    )
    a, b = summarize(simulate(BASE)), summarize(simulate(longer))
    assert b["connected"] < 0.8 * a["connected"]


def test_reports_have_the_rolling_hour_and_first_half_hour() -> None:
    s = summarize(simulate(dataclasses.replace(BASE, mode="predictive", days=2)))
    ab = s["abandonment"]
    assert ab["worst_rolling_hour"] >= ab["worst_hour"] - 1e-9
    assert 0.0 < ab["first_30min"]["utilisation"] <= 1.0
    assert ab["us_30d"] == pytest.approx(ab["overall"], abs=1e-4)  # under 30 days: the run


def test_scenario_files_take_the_changes() -> None:
    sc = parse_scenario(
        {
            "callee": {
                "steps": [{"at_hour": 1, "contact_rate": 0.1, "once": True, "ramp_min": 5}],
                "machine_share": 0.2,
            },
            "agent": {
                "talk_steps": [{"at_hour": 2, "talk": {"dist": "exponential", "mean": 200}}],
                "waves": [{"at_hour": 3, "kind": "pause", "share": 0.3, "pause_min": 10}],
            },
            "pacing": {"max_lines_per_agent": 4},
        }
    )
    assert sc.contact_steps == (Step(3600.0, 0.1, daily=False, ramp_s=300.0),)
    assert sc.talk_steps[0].value == Dist("exponential", 200.0)
    assert sc.waves[0].kind is WaveKind.PAUSE and sc.waves[0].pause_s == 600.0
    assert sc.machine_share == 0.2 and sc.max_lines_per_agent == 4.0
    with pytest.raises(ScenarioError):
        parse_scenario({"agent": {"waves": [{"at_hour": 1, "kind": "dance"}]}})


def test_the_rolling_hour_stays_within_a_days_dialing() -> None:
    day = 24 * 60
    answered = [10 if m % day < 120 else 0 for m in range(2 * day)]  # 2-hour days
    abandoned = [0] * (2 * day)
    abandoned[118] = 3  # in the day's last minutes: 3 of the last hour's 600
    # any 60 minutes: a window mostly night holds 20 answers and those 3
    assert worst_window(answered, abandoned, 60)[0] == pytest.approx(3 / 20)
    rate, end = worst_window_in_days(answered, abandoned, 60, 2, 120)
    assert rate == pytest.approx(3 / 600) and end == 119
