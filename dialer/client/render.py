"""Human output for the CLI: aligned tables and a progress bar. Pure apart from the stream
the bar writes to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if isinstance(value, Mapping):
        return " ".join(f"{k}={cell(v)}" for k, v in value.items()) or "-"
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """`columns` are (key, heading) pairs; returns the table as text (no trailing newline)."""
    if not rows:
        return "(none)"
    grid = [[heading.upper() for _, heading in columns]]
    grid += [[cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(r[i]) for r in grid) for i in range(len(columns))]
    return "\n".join(
        "  ".join(text.ljust(widths[i]) for i, text in enumerate(r)).rstrip() for r in grid
    )


def pairs(items: Sequence[tuple[str, Any]]) -> str:
    width = max((len(k) for k, _ in items), default=0)
    return "\n".join(f"{k.ljust(width)}  {cell(v)}" for k, v in items)


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


class ProgressBar:
    """``importing [#########.........]  45% 45000/100000`` redrawn in place (\\r)."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self._stream = stream
        self._width = width
        self._last: tuple[str, int] | None = None

    def update(self, phase: str, done: int, total: int) -> None:
        pct = 100 if total <= 0 else min(100, done * 100 // total)
        if self._last == (phase, pct):
            return
        if self._last is not None and self._last[0] != phase:
            self._stream.write("\n")
        self._last = (phase, pct)
        filled = self._width * pct // 100
        bar = "#" * filled + "." * (self._width - filled)
        self._stream.write(f"\r{phase:<8} [{bar}] {pct:3d}% {done}/{total}")
        self._stream.flush()

    def close(self) -> None:
        if self._last is not None:
            self._stream.write("\n")
            self._stream.flush()
