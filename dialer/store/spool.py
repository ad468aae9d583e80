"""The CDR spool: call records the database could not take, kept in a local file until it can.

The daemon keeps unwritten records in memory while the database is away; past a bound
(`dialer.cdr_backlog`), or when it stops before the database is back, they go to this file
(JSON lines under `dialer.state_dir`, flushed and fsync'd at each spill). A daemon starting
replays the file before anything else. Replaying is idempotent: a start already stored is
skipped, progress only fills what is empty on a call not yet ended, an end closes a call only
once; so a replay cut short and run again writes each record once.

Encoding and decoding are pure (`encode`, `decode`); `Spool` is the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from dialer.domain.results import CallResult
from dialer.store.records import AttemptEnd, AttemptProgress, AttemptStart

Kind = Literal["start", "progress", "end"]
Record = AttemptStart | AttemptProgress | AttemptEnd

_KIND_OF: dict[type, Kind] = {AttemptStart: "start", AttemptProgress: "progress", AttemptEnd: "end"}
_TYPE_OF: dict[str, type[Record]] = {k: t for t, k in _KIND_OF.items()}
_TIMES = frozenset(
    {"originated_at", "ring_at", "answer_at", "agent_connect_at", "message_at", "hangup_at"}
)


class SpoolError(Exception):
    """A spool line that is not a record this daemon writes (named by its line number)."""


def kind_of(record: Record) -> Kind:
    return _KIND_OF[type(record)]


def encode(record: Record) -> str:
    """One JSON line (without the newline) for a record."""
    out: dict[str, Any] = {"kind": kind_of(record)}
    for name in record.__dataclass_fields__:
        value = getattr(record, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, CallResult):
            value = value.value
        out[name] = value
    return json.dumps(out, separators=(",", ":"), sort_keys=True)


def decode(line: str) -> Record:
    """The record a line holds; ValueError (or a subclass) when it holds none."""
    data = json.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    cls = _TYPE_OF.get(str(data.pop("kind", "")))
    if cls is None:
        raise ValueError("no known record kind")
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name in _TIMES and value is not None:
            value = datetime.fromisoformat(value)
        elif name in ("result", "outcome") and value is not None:
            value = CallResult(value)
        values[name] = value
    return cls(**values)


@dataclass
class Spooled:
    """The records of a spool file, in the order they must be written."""

    starts: list[AttemptStart] = field(default_factory=list)
    progress: list[AttemptProgress] = field(default_factory=list)
    ends: list[AttemptEnd] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.starts) + len(self.progress) + len(self.ends)


class Spool:
    """The spool file `path` (its directory is made on the first spill)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def spill(self, records: list[Record]) -> None:
        """Append `records` durably (written and fsync'd before this returns)."""
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write("".join(encode(r) + "\n" for r in records))
            f.flush()
            os.fsync(f.fileno())

    def read(self) -> Spooled:
        """Every record in the file (none if there is no file). SpoolError names a bad line;
        a last line cut short by a crash mid-write is skipped."""
        out = Spooled()
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return out
        lines = text.split("\n")
        complete = text.endswith("\n")
        for number, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                record = decode(line)
            except (ValueError, TypeError) as exc:
                if number == len(lines) and not complete:
                    break  # the crash cut the last write: its records were never acknowledged
                raise SpoolError(f"{self.path}: line {number}: {exc}") from exc
            if isinstance(record, AttemptStart):
                out.starts.append(record)
            elif isinstance(record, AttemptProgress):
                out.progress.append(record)
            else:
                out.ends.append(record)
        return out

    def count(self) -> int:
        try:
            with self.path.open("rb") as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0

    def clear(self) -> None:
        """All of it is in the database now."""
        self.path.unlink(missing_ok=True)
