"""A seeded, randomised family of scenarios: what a pacer must survive on a bad day.

Each scenario is drawn from its own seed (the same seed, the same scenario), for a team size:
- contact rate 0.02-0.6 (log-uniform), with up to three steps up or down by up to 10x, each over
  at most a minute, and up to two slow drifts (30-180 minutes, up to 2x either way); the steps
  are daily or once (the second day differs);
- talk time: mean 30-400 s, exponential, log-normal or two-humped, changed once at mid-day (its
  mean 0.5x-2x);
- wrap-up 5-60 s (constant or uniform around it);
- agents: up to two waves, each up to 30% of the team leaving, joining or pausing (5-30 min) at
  once;
- the trunk: in half the scenarios its channels bind at 1-10 lines per agent, and a calls-per-
  second limit of 5-50;
- answering machines: 0-30% of the answers, detected in 1-4 s.
Pure: a scenario is a value; the simulator runs it.
"""

from __future__ import annotations

import math
import random

from dialer.sim.agents import AgentWave, WaveKind
from dialer.sim.scenario import Dist, Scenario
from dialer.sim.schedule import Step

MIN_CONTACT = 0.02
MAX_CONTACT = 0.6


def _clip(p: float) -> float:
    return min(MAX_CONTACT, max(MIN_CONTACT, p))


def _talk(rng: random.Random, mean: float) -> Dist:
    kind = rng.choice(("exponential", "lognormal", "two_humped"))
    if kind == "exponential":
        return Dist("exponential", mean)
    if kind == "lognormal":
        return Dist("lognormal", mean, rng.uniform(0.5, 1.2))
    share = rng.uniform(0.2, 0.6)
    # short calls a fifth of the long ones, the mixture's mean as drawn
    short = mean / (1.0 - share + 5.0 * share)
    return Dist("two_humped", short, 5.0 * short, share)


def draw_scenario(seed: int, agents: int, days: int = 2, day_hours: float = 8.0) -> Scenario:
    """The family's scenario number `seed` for a team of `agents`."""
    rng = random.Random(f"robustness/{seed}/{agents}")
    day_s = day_hours * 3600.0
    p0 = math.exp(rng.uniform(math.log(MIN_CONTACT), math.log(MAX_CONTACT)))
    steps: list[Step[float]] = []
    level = p0
    for _ in range(rng.randint(0, 3)):
        at = rng.uniform(0.1, 0.95) * day_s
        factor = math.exp(rng.uniform(math.log(1.5), math.log(10.0)))
        level = _clip(level * factor if rng.random() < 0.5 else level / factor)
        steps.append(Step(at, level, daily=rng.random() < 0.7, ramp_s=rng.uniform(0.0, 60.0)))
    for _ in range(rng.randint(0, 2)):
        at = rng.uniform(0.0, 0.8) * day_s
        factor = math.exp(rng.uniform(-math.log(2.0), math.log(2.0)))
        level = _clip(level * factor)
        steps.append(Step(at, level, daily=True, ramp_s=rng.uniform(30.0, 180.0) * 60.0))
    steps.sort(key=lambda s: (not s.daily, s.at_s))
    talk_mean = rng.uniform(30.0, 400.0)
    talk = _talk(rng, talk_mean)
    later = _talk(rng, min(400.0, max(30.0, talk_mean * math.exp(rng.uniform(-0.7, 0.7)))))
    talk_steps = (Step(rng.uniform(0.3, 0.7) * day_s, later),)
    wrap = rng.uniform(5.0, 60.0)
    wrapup = (
        Dist("constant", wrap) if rng.random() < 0.5 else Dist("uniform", 0.7 * wrap, 1.3 * wrap)
    )
    waves: list[AgentWave] = []
    for _ in range(rng.randint(0, 2)):
        kind = rng.choice((WaveKind.LEAVE, WaveKind.JOIN, WaveKind.PAUSE))
        waves.append(
            AgentWave(
                rng.uniform(0.05, 0.95) * day_s,
                kind,
                share=rng.uniform(0.05, 0.3),
                pause_s=rng.uniform(5.0, 30.0) * 60.0 if kind is WaveKind.PAUSE else 0.0,
            )
        )
    binding = rng.random() < 0.5
    lines = rng.uniform(1.0, 10.0)
    return Scenario(
        name=f"robustness-{seed}",
        description=f"randomised scenario {seed} of the robustness family",
        seed=seed,
        agents=agents,
        days=days,
        day_hours=day_hours,
        contact_rate=p0,
        contact_steps=tuple(steps),
        machine_share=rng.uniform(0.0, 0.3),
        amd_delay=Dist("uniform", 1.0, 4.0),
        talk=talk,
        talk_steps=talk_steps,
        wrapup=wrapup,
        waves=tuple(waves),
        trunk_channels=max(1, round(agents * lines)) if binding else 100_000,
        calls_per_second=rng.uniform(5.0, 50.0),
        max_in_flight=100_000,
        mode="predictive",
    )
