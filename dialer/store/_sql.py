"""Small helpers shared by the repository modules."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import CursorResult, Result


def rowcount(result: Result[Any]) -> int:
    """Rows an INSERT/UPDATE without RETURNING touched (0 when the driver cannot say)."""
    if isinstance(result, CursorResult) and result.rowcount >= 0:
        return int(result.rowcount)
    return 0
