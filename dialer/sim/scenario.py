"""Simulation scenarios: a campaign's team, callees, trunk and pacing, read from TOML files.

A scenario file (see `scenarios/reference.toml`) has top-level `name`, `description`, `seed`,
`agents`, `days`, `day_hours`, and the tables `[callee]`, `[agent]`, `[trunk]`, `[pacing]`;
`callee.changes` entries change the contact rate at an hour of each day; `[trunk]` holds
`channels`, `calls_per_second`, `burst` (calls that may start back to back; the second's rate
when absent), `campaign_calls_per_second` (the campaign's own lower limit) and `max_in_flight`;
`[pacing]` holds `mode`
(preview, progressive, power, adaptive_ratio, predictive), `target`, `cap`, `lines_per_agent`,
`ratio_target`, `cancel_over` (predictive hangs up the oldest ringing call that has rung 15 s
when even one more call would be this many times over its threshold; 10 by default, 0 never),
`preview_s`, `tick_s` (the pacer also runs this long after its last run, as
the daemon's timer does; 1 s) and `max_lines_per_agent`. Changes over the run
(dialer.sim.schedule, dialer.sim.agents): `callee.steps` (`{ at_hour, contact_rate, once,
ramp_min }`: once since the start of the run or daily, a jump or a ramp), `callee.machine_share`
and `callee.amd_delay` (answering machines and the time detection takes), `agent.talk_steps`
and `agent.wrapup_steps` (`{ at_hour, talk | wrapup = distribution, once }`), `agent.waves`
(`{ at_hour, kind = "join" | "leave" | "pause", count | share, pause_min, once }`).
Distributions are
inline tables: `{ dist = "constant", value = 15 }`, `{ dist = "uniform", low = 5, high = 25 }`,
`{ dist = "exponential", mean = 120 }`, `{ dist = "lognormal", mean = 120, sigma = 1.0 }`
(sigma of the log; the mean is the distribution's own mean), `{ dist = "two_humped", short = 40,
long = 300, share = 0.3 }` (quick calls and real conversations: two log-normal humps).
"""

from __future__ import annotations

import math
import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialer.pacing.base import TAKE_BACK_OVER
from dialer.pacing.limits import MAX_LINES_PER_AGENT
from dialer.sim.agents import AgentWave, WaveKind
from dialer.sim.schedule import Schedule, Step

# "fixed_ratio" and "adaptive_ratio" are baselines to compare with (the daemon offers neither):
# a bare fixed ratio, and one tuned by feedback; "power" is the daemon's, under the cap.
MODES = ("preview", "progressive", "power", "fixed_ratio", "adaptive_ratio", "predictive")
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"
_HUMP_SIGMA = 0.35


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or inconsistent."""


@dataclass(frozen=True, slots=True)
class Dist:
    """A duration distribution in seconds."""

    kind: str  # constant | uniform | exponential | lognormal | two_humped
    a: float  # constant: value; uniform: low; exponential, lognormal: mean; two_humped: short
    b: float = 0.0  # uniform: high; lognormal: sigma; two_humped: the long hump's mean
    c: float = 0.0  # two_humped: the long hump's share (each hump log-normal, sigma 0.35)

    def __post_init__(self) -> None:
        if self.kind not in ("constant", "uniform", "exponential", "lognormal", "two_humped"):
            raise ScenarioError(f"unknown distribution {self.kind!r}")
        if not (math.isfinite(self.a) and math.isfinite(self.b)) or self.a < 0 or self.b < 0:
            raise ScenarioError("distribution parameters must be finite and >= 0")
        if self.kind == "uniform" and self.b < self.a:
            raise ScenarioError("uniform needs low <= high")
        if self.kind in ("exponential", "lognormal") and self.a <= 0:
            raise ScenarioError(f"{self.kind} needs a mean > 0")
        if self.kind == "two_humped" and not (0 < self.a <= self.b and 0.0 <= self.c <= 1.0):
            raise ScenarioError("two_humped needs 0 < short <= long and a share in [0, 1]")

    @property
    def mean(self) -> float:
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        if self.kind == "two_humped":
            return (1.0 - self.c) * self.a + self.c * self.b
        return self.a

    def sampler(self, rng: random.Random) -> Any:
        """A zero-argument function drawing from this distribution with `rng`."""
        a, b = self.a, self.b
        if self.kind == "constant":
            return lambda: a
        if self.kind == "uniform":
            uniform = rng.uniform
            return lambda: uniform(a, b)
        if self.kind == "exponential":
            expo = rng.expovariate
            rate = 1.0 / a
            return lambda: expo(rate)
        logn = rng.lognormvariate
        if self.kind == "two_humped":
            sig = _HUMP_SIGMA
            mu_a = math.log(a) - sig * sig / 2
            mu_b = math.log(b) - sig * sig / 2
            share = self.c
            pick = rng.random
            return lambda: logn(mu_b if pick() < share else mu_a, sig)
        mu = math.log(a) - b * b / 2
        return lambda: logn(mu, b)

    @classmethod
    def parse(cls, raw: Any, what: str) -> Dist:
        if isinstance(raw, int | float):
            return cls("constant", float(raw))
        if not isinstance(raw, Mapping):
            raise ScenarioError(f"{what}: expected a number or a table")
        kind = str(raw.get("dist", "constant"))
        try:
            if kind == "constant":
                return cls(kind, float(raw["value"]))
            if kind == "uniform":
                return cls(kind, float(raw["low"]), float(raw["high"]))
            if kind == "exponential":
                return cls(kind, float(raw["mean"]))
            if kind == "lognormal":
                return cls(kind, float(raw["mean"]), float(raw["sigma"]))
            if kind == "two_humped":
                return cls(kind, float(raw["short"]), float(raw["long"]), float(raw["share"]))
        except KeyError as e:
            raise ScenarioError(f"{what}: missing {e.args[0]!r}") from None
        raise ScenarioError(f"{what}: unknown distribution {kind!r}")

    def describe(self) -> str:
        if self.kind == "constant":
            return f"{self.a:g} s"
        if self.kind == "uniform":
            return f"uniform {self.a:g}-{self.b:g} s"
        if self.kind == "exponential":
            return f"exponential, mean {self.a:g} s"
        if self.kind == "two_humped":
            return f"two humps, {self.a:g} s and {self.b:g} s ({self.c:.0%})"
        return f"log-normal, mean {self.a:g} s, sigma {self.b:g}"


@dataclass(frozen=True, slots=True)
class RateChange:
    at_s: float  # seconds after the start of each day
    contact_rate: float


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str = "reference"
    description: str = ""
    seed: int = 1
    agents: int = 25
    days: int = 1
    day_hours: float = 8.0
    # callees
    contact_rate: float = 0.30  # share of calls a person answers
    changes: tuple[RateChange, ...] = ()
    answer_delay: Dist = field(default_factory=lambda: Dist("uniform", 5.0, 25.0))
    no_answer_timeout_s: float = 25.0
    busy_share: float = 0.0  # share of the calls nobody answers that end busy (early)
    busy_delay: Dist = field(default_factory=lambda: Dist("uniform", 2.0, 6.0))
    # more contact-rate steps: once or daily, jumps or ramps (slow drifts)
    contact_steps: tuple[Step[float], ...] = ()
    # answering machines: a share of the answers, each known as a machine after `amd_delay`
    # (detection); not a live answer (counted apart), fed to the pacer as no contact
    machine_share: float = 0.0
    amd_delay: Dist = field(default_factory=lambda: Dist("uniform", 2.0, 4.0))
    # agents
    talk: Dist = field(default_factory=lambda: Dist("exponential", 120.0))
    wrapup: Dist = field(default_factory=lambda: Dist("constant", 15.0))
    grace_s: float = 2.0
    talk_steps: tuple[Step[Dist], ...] = ()  # talk time changes (once or daily)
    wrapup_steps: tuple[Step[Dist], ...] = ()
    waves: tuple[AgentWave, ...] = ()  # agents joining, leaving, pausing
    # trunk and campaign
    trunk_channels: int = 100_000
    calls_per_second: float = 1000.0
    trunk_burst: int | None = None  # calls that may start back to back (None: the second's)
    campaign_cps: float | None = None  # the campaign's own limit, under the trunk's
    max_in_flight: int = 100_000
    # pacing
    mode: str = "predictive"
    lines_per_agent: float = 2.0  # power (fixed ratio)
    target: float = 0.025  # predictive target; adaptive ratio uses ratio_target
    cap: float = 0.03
    ratio_target: float = 0.03
    cancel_over: float = TAKE_BACK_OVER  # predictive: PredictiveSettings.cancel_over (0: off)
    preview_s: float = 10.0  # preview: time an agent spends on the lead before the call starts
    tick_s: float = 1.0  # the pacer also runs this long after its last run (the daemon's timer)
    max_lines_per_agent: float = MAX_LINES_PER_AGENT  # predictive and power: calls per agent

    def __post_init__(self) -> None:
        if self.agents < 1 or self.days < 1:
            raise ScenarioError("agents and days must be >= 1")
        if not 0.0 < self.day_hours <= 24.0:
            raise ScenarioError("day_hours must be in (0, 24]")
        rates = (
            self.contact_rate,
            *(c.contact_rate for c in self.changes),
            *(c.value for c in self.contact_steps),
            self.busy_share,
            self.machine_share,
        )
        for r in rates:
            if not 0.0 <= r <= 1.0:
                raise ScenarioError("rates and shares must be in [0, 1]")
        if self.mode not in MODES:
            raise ScenarioError(f"mode must be one of {', '.join(MODES)}")
        if not 0.01 <= self.tick_s <= 60.0:
            raise ScenarioError("tick_s must be between 0.01 and 60 seconds")
        if self.no_answer_timeout_s <= 0 or self.grace_s < 0:
            raise ScenarioError("no_answer_timeout_s must be > 0 and grace_s >= 0")
        if self.trunk_channels < 1 or self.max_in_flight < 1 or self.calls_per_second <= 0:
            raise ScenarioError("trunk_channels, max_in_flight and calls_per_second must be > 0")
        if (self.trunk_burst is not None and self.trunk_burst < 1) or (
            self.campaign_cps is not None and not self.campaign_cps > 0
        ):
            raise ScenarioError("trunk burst must be >= 1 and campaign calls_per_second > 0")

    @property
    def day_s(self) -> float:
        return self.day_hours * 3600.0

    def contact_rate_at(self, offset_s: float) -> float:
        """The contact rate `offset_s` seconds into the run (into the first day)."""
        return self.contact_schedule.at(offset_s)

    @property
    def contact_schedule(self) -> Schedule[float]:
        daily = tuple(Step(c.at_s, c.contact_rate) for c in self.changes)
        return Schedule(self.contact_rate, daily + self.contact_steps)

    @property
    def talk_schedule(self) -> Schedule[Dist]:
        return Schedule(self.talk, self.talk_steps)

    @property
    def wrapup_schedule(self) -> Schedule[Dist]:
        return Schedule(self.wrapup, self.wrapup_steps)


def load_scenario(ref: str | Path) -> Scenario:
    """Read a scenario from a path, or by name from the repository's `scenarios/` folder."""
    path = Path(ref)
    if not path.exists():
        named = SCENARIO_DIR / f"{ref}.toml"
        if named.exists():
            path = named
        else:
            raise ScenarioError(f"no scenario file {ref!r} (nor {named})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ScenarioError(f"{path}: {e}") from e
    return parse_scenario(raw, default_name=path.stem)


def parse_scenario(raw: Mapping[str, Any], default_name: str = "scenario") -> Scenario:
    known_top = {"name", "description", "seed", "agents", "days", "day_hours"}
    known_tables = {"callee", "agent", "trunk", "pacing"}
    extra = set(raw) - known_top - known_tables
    if extra:
        raise ScenarioError(f"unknown keys: {', '.join(sorted(extra))}")
    callee = _table(raw, "callee")
    agent = _table(raw, "agent")
    trunk = _table(raw, "trunk")
    pacing = _table(raw, "pacing")
    _only(
        callee,
        "callee",
        {
            "contact_rate",
            "changes",
            "answer_delay",
            "no_answer_timeout_s",
            "busy_share",
            "busy_delay",
            "steps",
            "machine_share",
            "amd_delay",
        },
    )
    _only(agent, "agent", {"talk", "wrapup", "grace_s", "talk_steps", "wrapup_steps", "waves"})
    _only(
        trunk,
        "trunk",
        {"channels", "calls_per_second", "burst", "campaign_calls_per_second", "max_in_flight"},
    )
    _only(
        pacing,
        "pacing",
        {
            "mode",
            "lines_per_agent",
            "target",
            "cap",
            "ratio_target",
            "cancel_over",
            "preview_s",
            "tick_s",
            "max_lines_per_agent",
        },
    )
    d = Scenario()
    changes = []
    for c in callee.get("changes", []):
        if not isinstance(c, Mapping) or "at_hour" not in c or "contact_rate" not in c:
            raise ScenarioError("callee.changes entries need at_hour and contact_rate")
        changes.append(RateChange(float(c["at_hour"]) * 3600.0, float(c["contact_rate"])))
    changes.sort(key=lambda c: c.at_s)
    try:
        return Scenario(
            name=str(raw.get("name", default_name)),
            description=str(raw.get("description", "")),
            seed=int(raw.get("seed", d.seed)),
            agents=int(raw.get("agents", d.agents)),
            days=int(raw.get("days", d.days)),
            day_hours=float(raw.get("day_hours", d.day_hours)),
            contact_rate=float(callee.get("contact_rate", d.contact_rate)),
            changes=tuple(changes),
            answer_delay=_dist(callee, "answer_delay", d.answer_delay),
            no_answer_timeout_s=float(callee.get("no_answer_timeout_s", d.no_answer_timeout_s)),
            busy_share=float(callee.get("busy_share", d.busy_share)),
            busy_delay=_dist(callee, "busy_delay", d.busy_delay),
            contact_steps=tuple(
                _step(x, "contact_rate", lambda v: float(v)) for x in callee.get("steps", [])
            ),
            machine_share=float(callee.get("machine_share", d.machine_share)),
            amd_delay=_dist(callee, "amd_delay", d.amd_delay),
            talk_steps=tuple(
                _step(x, "talk", lambda v: Dist.parse(v, "talk"))
                for x in agent.get("talk_steps", [])
            ),
            wrapup_steps=tuple(
                _step(x, "wrapup", lambda v: Dist.parse(v, "wrapup"))
                for x in agent.get("wrapup_steps", [])
            ),
            waves=tuple(_wave(x) for x in agent.get("waves", [])),
            max_lines_per_agent=float(pacing.get("max_lines_per_agent", d.max_lines_per_agent)),
            talk=_dist(agent, "talk", d.talk),
            wrapup=_dist(agent, "wrapup", d.wrapup),
            grace_s=float(agent.get("grace_s", d.grace_s)),
            trunk_channels=int(trunk.get("channels", d.trunk_channels)),
            calls_per_second=float(trunk.get("calls_per_second", d.calls_per_second)),
            trunk_burst=int(trunk["burst"]) if "burst" in trunk else None,
            campaign_cps=(
                float(trunk["campaign_calls_per_second"])
                if "campaign_calls_per_second" in trunk
                else None
            ),
            max_in_flight=int(trunk.get("max_in_flight", d.max_in_flight)),
            mode=str(pacing.get("mode", d.mode)),
            lines_per_agent=float(pacing.get("lines_per_agent", d.lines_per_agent)),
            target=float(pacing.get("target", d.target)),
            cap=float(pacing.get("cap", d.cap)),
            ratio_target=float(pacing.get("ratio_target", d.ratio_target)),
            cancel_over=float(pacing.get("cancel_over", d.cancel_over)),
            preview_s=float(pacing.get("preview_s", d.preview_s)),
            tick_s=float(pacing.get("tick_s", d.tick_s)),
        )
    except (TypeError, ValueError) as e:
        if isinstance(e, ScenarioError):
            raise
        raise ScenarioError(str(e)) from e


def _step(raw: Any, key: str, value: Any) -> Step[Any]:
    """`{ at_hour = 2, <key> = ..., once = false, ramp_min = 0 }`."""
    if not isinstance(raw, Mapping) or "at_hour" not in raw or key not in raw:
        raise ScenarioError(f"steps need at_hour and {key}")
    try:
        return Step(
            float(raw["at_hour"]) * 3600.0,
            value(raw[key]),
            daily=not bool(raw.get("once", False)),
            ramp_s=float(raw.get("ramp_min", 0.0)) * 60.0,
        )
    except ValueError as e:
        raise ScenarioError(f"step: {e}") from None


def _wave(raw: Any) -> AgentWave:
    """`{ at_hour = 3, kind = "leave", count = 5 | share = 0.3, pause_min = 10, once = false }`."""
    if not isinstance(raw, Mapping) or "at_hour" not in raw or "kind" not in raw:
        raise ScenarioError("agent waves need at_hour and kind")
    try:
        return AgentWave(
            float(raw["at_hour"]) * 3600.0,
            WaveKind(str(raw["kind"])),
            count=int(raw.get("count", 0)),
            share=float(raw.get("share", 0.0)),
            pause_s=float(raw.get("pause_min", 0.0)) * 60.0,
            daily=not bool(raw.get("once", False)),
        )
    except ValueError as e:
        raise ScenarioError(f"agent wave: {e}") from None


def _table(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    t = raw.get(key, {})
    if not isinstance(t, Mapping):
        raise ScenarioError(f"[{key}] must be a table")
    return t


def _only(t: Mapping[str, Any], name: str, keys: set[str]) -> None:
    extra = set(t) - keys
    if extra:
        raise ScenarioError(f"[{name}] unknown keys: {', '.join(sorted(extra))}")


def _dist(t: Mapping[str, Any], key: str, default: Dist) -> Dist:
    return Dist.parse(t[key], key) if key in t else default
