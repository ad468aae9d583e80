"""What an agent's screen shows, read from the running engine, and the hub that tells open
screens when to look again.

- `agent_screen` reads one agent's live state through the engine's public read methods
  (`find_agent`, the run's calls, `finished`): the state and since when (wall clock), the pause
  reason, when wrap-up ends, and the call on screen: the current one, or in wrap-up the one
  that just ended (its result is still to be given).
- `ScreenHub` is an engine observer. Observers run on the call path, so it only sets a flag per
  open screen (a queue of one: many changes before the screen looks again are one wake-up);
  each screen's event stream then reads the state itself.
- `lead_card` splits a lead's imported fields into a display name and the other fields.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialer.core.observe import AgentChanged, CallChanged, EngineEvent
from dialer.domain.agent import AgentState
from dialer.engine.engine import Engine


@dataclass(frozen=True, slots=True)
class AgentScreen:
    agent_id: int
    state: str  # dialer.domain.agent.AgentState value
    since: float | None  # wall clock (epoch seconds) when the state began; None if logged out
    pause_reason: str | None
    pending: str | None  # paused or logging_out after the current call and wrap-up
    wrapup_ends_at: float | None  # wall clock, in wrap-up
    campaign_id: int | None
    campaign: str | None
    calls: int
    call_id: str | None  # the call on screen (current, or just ended while in wrap-up)
    lead_id: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "state": self.state,
            "since": self.since,
            "pause_reason": self.pause_reason,
            "pending": self.pending,
            "wrapup_ends_at": self.wrapup_ends_at,
            "campaign_id": self.campaign_id,
            "campaign": self.campaign,
            "calls": self.calls,
            "call_id": self.call_id,
            "lead_id": self.lead_id,
        }


def agent_screen(engine: Engine, agent_id: int, wall_now: float, loop_now: float) -> AgentScreen:
    """The agent's screen now. `wall_now` and `loop_now` are the same instant on the wall clock
    and on the engine's loop clock (the engine keeps loop times)."""
    try:
        run, agent = engine.find_agent(str(agent_id))
    except KeyError:
        return AgentScreen(
            agent_id, AgentState.LOGGED_OUT.value, None, None, None, None, None, None, 0, None, None
        )

    def wall(at: float) -> float:
        # Tenths of a second: the same state read twice gives the same figure.
        return round(wall_now - (loop_now - at), 1)

    call_id: str | None = None
    lead_id: int | None = None
    if agent.call_id is not None:
        call_id = agent.call_id
        call = run.calls.get(call_id)
        lead_id = call.lead_id if call is not None else None
    elif agent.state is AgentState.WRAPUP:
        for record in reversed(engine.finished):
            if record.agent_id == agent.agent_id:
                call_id, lead_id = record.call_id, record.lead_id
                break
    logged_out = agent.state is AgentState.LOGGED_OUT
    wrapup = agent.state is AgentState.WRAPUP
    return AgentScreen(
        agent_id=agent_id,
        state=agent.state.value,
        since=None if logged_out else wall(agent.since),
        pause_reason=agent.pause_reason,
        pending=agent.pending.value if agent.pending is not None else None,
        wrapup_ends_at=wall(agent.since + run.campaign.wrapup_s) if wrapup else None,
        campaign_id=run.campaign.id,
        campaign=run.campaign.name,
        calls=agent.calls,
        call_id=call_id,
        lead_id=lead_id,
    )


class ScreenHub:
    """Wakes the event streams of the screens open on an agent when the engine changes that
    agent or one of its calls."""

    def __init__(self) -> None:
        self._screens: dict[str, set[asyncio.Queue[bool]]] = {}
        self.closed = False

    def observe(self, event: EngineEvent) -> None:
        agent_id = event.agent_id if isinstance(event, AgentChanged | CallChanged) else None
        if agent_id is not None:
            self._wake(agent_id)

    def _wake(self, agent_id: str, value: bool = True) -> None:
        for queue in self._screens.get(agent_id, ()):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(value)

    def open(self, agent_id: int) -> asyncio.Queue[bool]:
        """A screen's wake-ups: True when the agent changed, False when the hub closes."""
        queue: asyncio.Queue[bool] = asyncio.Queue(maxsize=1)
        self._screens.setdefault(str(agent_id), set()).add(queue)
        return queue

    def shut(self, agent_id: int, queue: asyncio.Queue[bool]) -> None:
        screens = self._screens.get(str(agent_id))
        if screens is not None:
            screens.discard(queue)
            if not screens:
                del self._screens[str(agent_id)]

    def close(self) -> None:
        """The daemon is stopping: every stream ends."""
        self.closed = True
        for screens in self._screens.values():
            for queue in screens:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(False)
                if queue.full():  # a pending wake-up: replace it with the close
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                    queue.put_nowait(False)

    def open_screens(self) -> int:
        return sum(len(s) for s in self._screens.values())


# Imported columns that name the person, in the order they are tried.
_NAME_KEYS = ("name", "full_name", "fullname", "customer", "customer_name")
_FIRST_KEYS = ("first_name", "firstname", "given_name")
_LAST_KEYS = ("last_name", "lastname", "surname", "family_name")


@dataclass(frozen=True, slots=True)
class LeadCard:
    name: str
    fields: dict[str, str]  # the other imported fields, in import order


def lead_card(extra: Mapping[str, Any]) -> LeadCard:
    """The lead's display name (a `name`-like column, else first and last name) and its other
    fields, as text."""
    by_key = {str(k).strip().lower().replace(" ", "_"): str(k) for k in extra}
    used: set[str] = set()
    name = ""
    for key in _NAME_KEYS:
        if key in by_key and str(extra[by_key[key]]).strip():
            name = str(extra[by_key[key]]).strip()
            used.add(by_key[key])
            break
    if not name:
        parts = []
        for keys in (_FIRST_KEYS, _LAST_KEYS):
            for key in keys:
                if key in by_key and str(extra[by_key[key]]).strip():
                    parts.append(str(extra[by_key[key]]).strip())
                    used.add(by_key[key])
                    break
        name = " ".join(parts)
    fields = {str(k): _text(v) for k, v in extra.items() if str(k) not in used}
    return LeadCard(name, fields)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def local_time(zone: str, instant: datetime) -> tuple[str, str]:
    """The instant in the lead's zone as ISO text, and the zone actually used (UTC when the
    stored name is not a known zone)."""
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz, zone = ZoneInfo("UTC"), "UTC"
    return instant.astimezone(tz).isoformat(timespec="seconds"), zone
