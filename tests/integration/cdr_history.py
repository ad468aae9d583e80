"""A campaign's past, written straight into `call_attempts` with times relative to "now", and the
abandonment figures it must give. Not a test module: test_store_history and test_api_history
build on it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from dialer.store.engine import Database
from dialer.store.tables import call_attempts

DAY = 86_400.0


@dataclass(frozen=True)
class Expected:
    """(answered, abandoned) over 24 hours, 30 days and the campaign's life."""

    day: tuple[int, int]
    month: tuple[int, int]
    life: tuple[int, int]
    finished: int  # attempts with a result other than cancelled


def _spread(n: int, oldest_s: float, newest_s: float) -> list[float]:
    """`n` ages (seconds before now) evenly between `newest_s` and `oldest_s`."""
    return [newest_s + (oldest_s - newest_s) * (i + 0.5) / n for i in range(n)]


def history_rows(
    campaign_id: int, lead_id: int, trunk_id: int, now: datetime, owner: str = "earlier-run"
) -> tuple[list[dict[str, Any]], Expected]:
    """Connected, abandoned, late-connected (abandoned by the 2 s rule), busy, no-answer,
    machine and cancelled attempts over the last 60 days."""
    rows: list[dict[str, Any]] = []

    def add(kind: str, ages: list[float], latency_ms: int = 120, talk_s: float = 60.0) -> None:
        for age in ages:
            t0 = now - timedelta(seconds=age)
            answer = t0 + timedelta(seconds=6)
            row: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "lead_id": lead_id,
                "campaign_id": campaign_id,
                "trunk_id": trunk_id,
                "owner": owner,
                "originated_at": t0,
                "ring_at": t0 + timedelta(seconds=1),
                "answer_at": None,
                "agent_connect_at": None,
                "answer_to_agent_ms": None,
                "hangup_at": t0 + timedelta(seconds=20),
                "result": kind,
            }
            if kind in ("connected", "abandoned", "machine"):
                row["answer_at"] = answer
            if kind == "connected":
                connect = answer + timedelta(milliseconds=latency_ms)
                row["agent_connect_at"] = connect
                row["answer_to_agent_ms"] = latency_ms
                row["hangup_at"] = connect + timedelta(seconds=talk_s)
            elif kind == "abandoned":
                row["hangup_at"] = answer + timedelta(seconds=8)
            rows.append(row)

    # the last 24 hours (a minute to 23 hours ago)
    add("connected", _spread(200, 23 * 3600, 60))
    add("abandoned", _spread(6, 22 * 3600, 600))
    add("connected", _spread(2, 20 * 3600, 3600), latency_ms=2500)  # too late: abandoned
    add("busy", _spread(100, 23 * 3600, 120))
    add("no_answer", _spread(50, 23 * 3600, 120))
    add("machine", _spread(5, 23 * 3600, 120))
    add("cancelled", _spread(10, 600, 100))
    # 2 to 29 days ago
    add("connected", _spread(1000, 29 * DAY, 2 * DAY))
    add("abandoned", _spread(20, 29 * DAY, 2 * DAY))
    # 31 to 60 days ago: the campaign's life only
    add("connected", _spread(500, 60 * DAY, 31 * DAY))
    add("abandoned", _spread(40, 60 * DAY, 31 * DAY))
    expected = Expected(
        day=(208, 8),
        month=(1228, 28),
        life=(1768, 68),
        finished=sum(1 for r in rows if r["result"] != "cancelled"),
    )
    return rows, expected


async def write_rows(db: Database, rows: list[dict[str, Any]]) -> None:
    async with db.transaction() as s:
        await s.execute(insert(call_attempts), rows)
