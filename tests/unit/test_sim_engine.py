"""The simulator itself: scenarios, determinism, the model's sanity check (progressive at about
65%), limits, figures, and the command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest

from dialer.pacing.base import (
    AgentWork,
    CallOutcome,
    PacingDecision,
    PacingSnapshot,
    ProgressivePacer,
)
from dialer.pacing.callrate import max_in_any_window
from dialer.sim import (
    PacerViolation,
    Scenario,
    ScenarioError,
    Simulation,
    load_scenario,
    simulate,
    summarize,
)
from dialer.sim.cli import add_arguments, run
from dialer.sim.report import worst_window
from dialer.sim.scenario import SCENARIO_DIR, Dist, parse_scenario

SHORT = Scenario(agents=10, day_hours=2.0, mode="progressive")


def test_every_scenario_file_loads() -> None:
    names = {p.stem for p in SCENARIO_DIR.glob("*.toml")}
    assert {
        "reference",
        "contact_jump",
        "contact_fall",
        "lognormal_talk",
        "agents_5",
        "agents_100",
    } <= names
    for name in names:
        sc = load_scenario(name)
        assert sc.name == name
    ref = load_scenario("reference")
    assert ref.contact_rate == 0.30
    assert ref.answer_delay == Dist("uniform", 5.0, 25.0)
    assert ref.talk == Dist("exponential", 120.0)
    assert ref.wrapup == Dist("constant", 15.0)
    assert ref.grace_s == 2.0
    jump = load_scenario("contact_jump")
    assert [c.contact_rate for c in jump.changes] == [0.45, 0.30]
    assert jump.contact_rate_at(1.9 * 3600) == 0.30
    assert jump.contact_rate_at(2.1 * 3600) == 0.45
    assert jump.contact_rate_at(6 * 3600) == 0.30


def test_bad_scenarios_are_refused() -> None:
    with pytest.raises(ScenarioError, match="unknown keys"):
        parse_scenario({"agent": {"talkk": 5}})
    with pytest.raises(ScenarioError, match="distribution"):
        parse_scenario({"agent": {"talk": {"dist": "gamma", "mean": 3}}})
    with pytest.raises(ScenarioError, match="missing"):
        parse_scenario({"agent": {"talk": {"dist": "uniform", "low": 3}}})
    with pytest.raises(ScenarioError, match="mode"):
        parse_scenario({"pacing": {"mode": "psychic"}})
    with pytest.raises(ScenarioError, match="rates"):
        parse_scenario({"callee": {"contact_rate": 1.5}})
    with pytest.raises(ScenarioError, match="no scenario"):
        load_scenario("no-such-scenario")


def test_same_seed_same_day_other_seed_other_day() -> None:
    a = summarize(simulate(SHORT))
    b = summarize(simulate(SHORT))
    c = summarize(simulate(dataclasses.replace(SHORT, seed=2)))
    for s in (a, b, c):
        del s["wall_s"], s["speed_x"], s["decision_us_mean"]
        del s["decision_us_p99"], s["decision_us_max"]
    assert a == b
    assert a != c


def test_progressive_reaches_about_65_percent_without_abandoning() -> None:
    # The reference model's sanity check: one line per ready agent waits on average
    # 2.33 no-answers x 25 s + a 15 s ring = 73 s per 135 s of work: 135 / 208 = 65%.
    s = summarize(simulate(Scenario(agents=25, day_hours=4.0, mode="progressive")))
    assert s["utilisation"] == pytest.approx(0.65, abs=0.025)
    assert s["abandoned"] == 0
    assert s["agent_wait_s"]["mean"] == pytest.approx(73.3, abs=6.0)
    assert s["lines_per_agent"] < 1.0


def test_figures_add_up() -> None:
    raw = simulate(dataclasses.replace(SHORT, mode="fixed_ratio", lines_per_agent=3.0, days=2))
    s = summarize(raw)
    assert s["answered"] == s["connected"] + s["abandoned"]
    assert s["answered"] == sum(raw.day_answered) == sum(raw.trace.minute_answered)
    assert s["abandoned"] == sum(raw.trace.minute_abandoned) > 0
    assert 0.0 < s["utilisation"] < 1.0
    assert s["abandonment"]["worst_24h"] >= s["abandonment"]["overall"] - 1e-9
    assert s["abandonment"]["worst_day"] >= s["abandonment"]["overall"] - 1e-9
    assert len(s["abandonment"]["hourly"]) == 2 and len(s["abandonment"]["hourly"][0]) == 2
    # talk minutes per agent-hour = talk share of logged-in time (wrap-up excluded) x 60
    assert s["talk_min_per_agent_hour"] < 60 * s["utilisation"]
    assert s["dialed"] == sum(raw.trace.dialed)


def test_worst_window_slides_by_the_minute() -> None:
    ans = [10] * 10
    ab = [0] * 10
    ab[6] = 5
    assert worst_window(ans, ab, 20) == (5 / 100, 10)  # shorter run: the whole of it
    rate, end = worst_window(ans, ab, 2)
    assert rate == pytest.approx(5 / 20)
    assert end == 7


class Greedy:
    """A broken pacer that ignores the limits."""

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        return PacingDecision(dial=snap.limits.max_new_now + 1, level=1.0, reason="greedy")

    def observe_call(self, outcome: CallOutcome) -> None:
        return None

    def observe_work(self, work: AgentWork) -> None:
        return None


class Spy(ProgressivePacer):
    """Progressive pacing that keeps every snapshot it was shown."""

    def __init__(self) -> None:
        self.seen: list[PacingSnapshot] = []

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        self.seen.append(snap)
        return super().decide(snap)


def test_a_pacer_that_breaks_a_limit_is_caught() -> None:
    with pytest.raises(PacerViolation):
        Simulation(SHORT, Greedy()).run()


class HangsUpEarly(ProgressivePacer):
    """A broken pacer that hangs up the oldest ringing call once it has rung `after` s."""

    def __init__(self, after: float) -> None:
        self.after = after
        self.asked = 0

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        d = super().decide(snap)
        if snap.ringing_since and snap.now - min(snap.ringing_since) >= self.after:
            self.asked += 1
            return d._replace(cancel=1)
        return d


def test_ringing_calls_are_hung_up_only_after_15_s() -> None:
    with pytest.raises(PacerViolation, match="rung 15 s"):
        Simulation(SHORT, HangsUpEarly(after=10.0)).run()
    # The same pacer keeping to the rule: each call it hangs up leaves the ringing calls and is
    # counted, never fed back to it as an outcome.
    pacer = HangsUpEarly(after=15.0)
    raw = Simulation(dataclasses.replace(SHORT, agents=3), pacer).run()
    assert pacer.asked > 0 and raw.cancelled == pacer.asked
    assert summarize(raw)["cancelled"] == raw.cancelled


def test_trunk_and_calls_per_second_limits_reach_the_pacer() -> None:
    sc = dataclasses.replace(SHORT, agents=20, calls_per_second=2.0, trunk_channels=12)
    spy = Spy()
    s = summarize(Simulation(sc, spy).run())
    seen = spy.seen
    assert s["dialed"] > 0
    assert all(x.limits.max_new_now <= 2 for x in seen)
    assert all(x.in_flight <= 12 for x in seen)
    # the first second: 20 agents ready, but only the burst of 2 calls may start
    first = [x for x in seen if x.now < 1.0]
    assert first and first[0].limits.max_new_now == 2
    assert s["max_calls_any_second"] == 2


def test_no_sliding_second_holds_more_calls_than_the_lower_limit() -> None:
    sc = dataclasses.replace(
        SHORT,
        agents=60,
        mode="predictive",
        contact_rate=0.1,
        calls_per_second=8.0,
        trunk_burst=3,
        campaign_cps=6.0,
    )
    raw = simulate(sc)
    s = summarize(raw)
    assert s["dialed"] > 6 * 600  # the limit binds for much of the day
    assert s["max_calls_any_second"] == 6  # the campaign's, under the trunk's 8
    assert max_in_any_window(raw.dial_times, 3 / 8.0)[0] <= 3  # the trunk's burst


def test_events_at_one_instant_get_one_decision_after_all_of_them() -> None:
    # Nobody answers: calls dialed together ring out together, 25 s later. The pacer decides
    # once at that instant, seeing all of them gone, and redials for every ready agent.
    sc = dataclasses.replace(SHORT, agents=5, day_hours=0.1, contact_rate=0.0)
    spy = Spy()
    s = summarize(Simulation(sc, spy).run())
    seen = spy.seen
    times = [x.now for x in seen]
    assert len(times) == len(set(times))  # never two decisions at the same instant
    at_timeout = [x for x in seen if x.now == 25.0]
    assert len(at_timeout) == 1
    assert at_timeout[0].ringing_since == ()  # all five ended before it decided
    assert s["dialed"] == 5 * len([x for x in seen if x.now % 25.0 == 0.0])


def test_preview_waits_for_the_agent_to_read_the_lead() -> None:
    sc = dataclasses.replace(SHORT, mode="preview", preview_s=20.0)
    prog = summarize(simulate(dataclasses.replace(SHORT, mode="progressive")))
    prev = summarize(simulate(sc))
    assert prev["abandoned"] == 0
    assert prev["utilisation"] < prog["utilisation"]


def test_cli_prints_writes_json_and_refuses_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "day.json"
    args = parser.parse_args(
        ["reference", "--agents", "5", "--hours", "1", "--mode", "progressive", "--json", str(out)]
    )
    assert run(args) == 0
    printed = capsys.readouterr().out
    assert "utilisation" in printed and "abandonment" in printed
    data = json.loads(out.read_text())
    assert data["agents"] == 5 and data["mode"] == "progressive"
    assert set(data["abandonment"]) >= {"overall", "worst_24h", "worst_day", "hourly"}
    assert run(parser.parse_args(["no-such-scenario"])) == 2
    assert run(parser.parse_args(["reference", "--agents", "0"])) == 2
    assert "dialer simulate:" in capsys.readouterr().err


def test_cli_plots_to_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    png = tmp_path / "day.png"
    argv = ["reference", "--agents", "5", "--hours", "1", "--mode", "progressive"]
    args = parser.parse_args([*argv, "-q", "--plot", str(png)])
    assert run(args) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
