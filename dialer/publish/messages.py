"""The MQTT topic scheme and JSON payloads (pure: values in, topics and bytes out).

Rules (documented for consumers in dialer/publish/README.md):
- Topics: `{prefix}/status` (retained), `{prefix}/campaigns/{campaign}/calls`,
  `{prefix}/campaigns/{campaign}/agents/{agent_id}`, `{prefix}/campaigns/{campaign}/stats`
  (retained). A campaign name or agent id becomes one topic level: any character other than
  letters, digits, `_`, `.` and `-` becomes `_`, so a name can never add a level or a wildcard.
  The payload always carries the exact name.
- Payloads are UTF-8 JSON objects with `schema` (this module's `SCHEMA`, bumped on an
  incompatible change), `type` and `at` (Unix time in seconds, 3 decimals).
- No phone number is ever published: call events carry the call id and the lead id only.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dialer.core.observe import (
    AgentChanged,
    CallChanged,
    LeadOffered,
    OfferEnded,
    TrunkBreakerChanged,
)
from dialer.domain.agent import AgentState
from dialer.domain.results import CallResult
from dialer.pacing.ledger import AbandonCount

SCHEMA = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    retain: bool = False

    def json(self) -> Any:
        return json.loads(self.payload)


def topic_level(name: str) -> str:
    """`name` as exactly one safe topic level (no `/`, `+`, `#`, spaces or control bytes)."""
    return _UNSAFE.sub("_", name) or "_"


def window_name(window_s: float | None) -> str:
    """`24h`, `30d`, `life`: the name of an abandonment window (also the metrics' label)."""
    if window_s is None:
        return "life"
    if window_s >= 2 * 86_400 and window_s % 86_400 == 0:
        return f"{int(window_s // 86_400)}d"
    if window_s % 3_600 == 0:
        return f"{int(window_s // 3_600)}h"
    return f"{int(window_s)}s"


def _encode(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics under one prefix (`mqtt.topic_prefix`)."""

    prefix: str

    @property
    def status(self) -> str:
        return f"{self.prefix}/status"

    def calls(self, campaign: str) -> str:
        return f"{self.prefix}/campaigns/{topic_level(campaign)}/calls"

    def agent(self, campaign: str, agent_id: str) -> str:
        return f"{self.prefix}/campaigns/{topic_level(campaign)}/agents/{topic_level(agent_id)}"

    def offers(self, campaign: str, agent_id: str) -> str:
        return f"{self.agent(campaign, agent_id)}/offer"

    def stats(self, campaign: str) -> str:
        return f"{self.prefix}/campaigns/{topic_level(campaign)}/stats"

    def trunk_breaker(self, trunk: str) -> str:
        return f"{self.prefix}/trunks/{topic_level(trunk)}/breaker"

    @property
    def all(self) -> str:
        """The filter that matches every topic the dialer publishes."""
        return f"{self.prefix}/#"


def call_message(topics: Topics, event: CallChanged, wall_at: float) -> Message:
    return Message(
        topics.calls(event.campaign),
        _encode(
            {
                "schema": SCHEMA,
                "type": "call",
                "campaign": event.campaign,
                "call_id": event.call_id,
                "lead_id": event.lead_id,
                "state": event.state,
                "result": event.result,
                "agent_id": event.agent_id,
                "answer_to_agent_ms": (
                    round(event.answer_to_agent_ms, 1)
                    if event.answer_to_agent_ms is not None
                    else None
                ),
                "at": round(wall_at, 3),
            }
        ),
    )


def breaker_message(topics: Topics, event: TrunkBreakerChanged, wall_at: float) -> Message:
    """A trunk's circuit breaker changed state; retained, so a new subscriber sees whether a
    trunk is paused."""
    return Message(
        topics.trunk_breaker(event.trunk),
        _encode(
            {
                "schema": SCHEMA,
                "type": "trunk_breaker",
                "trunk": event.trunk,
                "state": event.state,
                "reason": event.reason,
                "given_back": event.given_back,
                "backoff_s": event.backoff_s,
                "at": round(wall_at, 3),
            }
        ),
        retain=True,
    )


def agent_message(topics: Topics, event: AgentChanged, wall_at: float) -> Message:
    return Message(
        topics.agent(event.campaign, event.agent_id),
        _encode(
            {
                "schema": SCHEMA,
                "type": "agent",
                "campaign": event.campaign,
                "agent_id": event.agent_id,
                "state": event.state,
                "at": round(wall_at, 3),
            }
        ),
    )


def offer_message(topics: Topics, event: LeadOffered | OfferEnded, wall_at: float) -> Message:
    """Preview: a lead shown to an agent ("offered", with when it is dialed by itself), or the
    end of that offer ("dialed", "timed_out", "skipped" with the agent's reason, "withdrawn")."""
    body: dict[str, Any] = {
        "schema": SCHEMA,
        "type": "offer",
        "campaign": event.campaign,
        "agent_id": event.agent_id,
        "lead_id": event.lead_id,
        "at": round(wall_at, 3),
    }
    if isinstance(event, LeadOffered):
        body["state"] = "offered"
        body["dial_by"] = (
            round(wall_at + event.dial_by - event.at, 3) if event.dial_by is not None else None
        )
    else:
        body["state"] = event.how
        body["reason"] = event.reason
    return Message(topics.offers(event.campaign, event.agent_id), _encode(body))


def status_message(topics: Topics, online: bool, owner: str, wall_at: float) -> Message:
    return Message(
        topics.status,
        _encode(
            {
                "schema": SCHEMA,
                "type": "status",
                "online": online,
                "owner": owner,
                "at": round(wall_at, 3),
            }
        ),
        retain=True,
    )


def stats_message(
    topics: Topics, campaign: str, stats: Mapping[str, Any], wall_at: float
) -> Message:
    payload: dict[str, Any] = {"schema": SCHEMA, "type": "campaign_stats", "campaign": campaign}
    payload.update(stats)
    payload["at"] = round(wall_at, 3)
    return Message(topics.stats(campaign), _encode(payload), retain=True)


def campaign_stats(
    engine_stats: Mapping[str, Any],
    abandonment: Callable[[str], Sequence[AbandonCount]],
    dial_levels: Mapping[str, float],
) -> dict[str, dict[str, Any]]:
    """Per-campaign statistics from `Engine.stats()`, the abandonment ledgers and the pacer's
    last dial level. Every result and agent state is present (zero when none), so consumers
    never meet a missing key."""
    out: dict[str, dict[str, Any]] = {}
    pbx_up = bool(engine_stats.get("pbx_up", False))
    for name, c in engine_stats.get("campaigns", {}).items():
        results = c.get("results", {})
        in_flight: Mapping[str, int] = c.get("in_flight", {})
        agents = Counter(c.get("agents", {}).values())
        finished = sum(results.values())
        answered = sum(results.get(r.value, 0) for r in CallResult if r.answered)
        out[name] = {
            "dialed": c.get("dialed", 0),
            "answered": c.get("answered", 0),
            "finished": finished,
            "contact_rate": round(answered / finished, 4) if finished else 0.0,
            "results": {r.value: results.get(r.value, 0) for r in CallResult},
            "calls_in_flight": sum(in_flight.values()),
            "calls_by_state": dict(in_flight),
            "agents": {s.value: agents.get(s.value, 0) for s in AgentState},
            "abandonment": {
                window_name(count.window_s): {
                    "answered": count.answered,
                    "abandoned": count.abandoned,
                    "rate": round(count.rate, 4),
                }
                for count in abandonment(name)
            },
            "dial_level": dial_levels.get(name),
            "pbx_up": pbx_up,
        }
    return out
