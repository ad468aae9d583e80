"""Recorded AMI transcripts (tests/data/ami/*.jsonl): the format, a writer and a loader.

Each file is JSON lines. The first line is `{"meta": {...}}`: the scenario, the Asterisk version,
the ids the recorder gave the channels (`ids`, e.g. customer and agent ChannelIds) and notes.
Every other line is one AMI message exactly as received or sent on the `dialer` AMI account::

    {"t": 0.012345, "dir": "in", "headers": {"Event": "Newchannel", "Uniqueid": "...", ...}}

`t` is seconds since the AMI connection was opened, `dir` is "in" (from Asterisk: events and
responses) or "out" (actions the recorder sent; the login secret is masked), and `headers` keeps
every header in Asterisk's order and spelling; a header that appears more than once (such as
`ChanVariable`) has a list of its values. Nothing is filtered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rig import REPO

TRANSCRIPT_DIR = REPO / "tests" / "data" / "ami"

Direction = Literal["in", "out"]


@dataclass(frozen=True, slots=True)
class Line:
    t: float
    dir: Direction
    headers: Mapping[str, str | list[str]]

    def get(self, key: str) -> str:
        """A header's value ('' if absent, the first one if repeated)."""
        value = self.headers.get(key, "")
        if isinstance(value, list):
            return value[0] if value else ""
        return value


@dataclass(frozen=True, slots=True)
class Transcript:
    name: str
    meta: Mapping[str, Any]
    lines: tuple[Line, ...]
    ids: Mapping[str, str] = field(default_factory=dict)

    def received(self) -> Iterator[Line]:
        """Messages from Asterisk (events and responses), in order."""
        return (line for line in self.lines if line.dir == "in")

    def events(self, name: str | None = None) -> list[Line]:
        return [
            line
            for line in self.received()
            if "Event" in line.headers and (name is None or line.get("Event") == name)
        ]


def load(name_or_path: str | Path) -> Transcript:
    """Load a transcript by name (`answered_bridged`) or path."""
    path = Path(name_or_path)
    if path.suffix != ".jsonl":
        path = TRANSCRIPT_DIR / f"{name_or_path}.jsonl"
    meta: dict[str, Any] = {}
    lines: list[Line] = []
    with path.open() as fh:
        for number, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            item = json.loads(raw)
            if "meta" in item:
                meta = item["meta"]
                continue
            if item.get("dir") not in ("in", "out"):
                raise ValueError(f"{path}:{number}: dir must be 'in' or 'out'")
            lines.append(Line(float(item["t"]), item["dir"], item["headers"]))
    return Transcript(path.stem, meta, tuple(lines), dict(meta.get("ids", {})))


class Writer:
    """Collects a transcript while it is recorded; `save()` writes the file."""

    def __init__(self, name: str, meta: Mapping[str, Any]) -> None:
        self.name = name
        self.meta: dict[str, Any] = dict(meta)
        self.lines: list[dict[str, Any]] = []
        self.recording = True

    def __call__(self, direction: str, t: float, headers: Mapping[str, str | list[str]]) -> None:
        if self.recording:
            self.lines.append({"t": round(t, 6), "dir": direction, "headers": dict(headers)})

    def save(self, directory: Path = TRANSCRIPT_DIR) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.jsonl"
        with path.open("w") as fh:
            fh.write(json.dumps({"meta": self.meta}) + "\n")
            for line in self.lines:
                fh.write(json.dumps(line) + "\n")
        return path


_DETAIL = {
    "Newstate": "ChannelStateDesc",
    "DialState": "DialStatus",
    "DialEnd": "DialStatus",
    "Hangup": "Cause",
    "SoftHangupRequest": "Cause",
    "UserEvent": "UserEvent",
}


def summary(transcript: Transcript) -> str:
    """One line per transcript: actions (`>Action`), responses (`<Success`, `<Error(...)`) and
    events as `Event[role:detail]`, the role being the name the recorder gave the channel."""
    roles = {channel_id: role for role, channel_id in transcript.ids.items()}
    parts: list[str] = []
    for line in transcript.lines:
        if line.dir == "out":
            parts.append(f">{line.get('Action')}")
            continue
        if "Event" not in line.headers:
            response = line.get("Response")
            parts.append(
                f"<{response}" if response == "Success" else f"<{response}({line.get('Message')})"
            )
            continue
        name = line.get("Event")
        uid = line.get("Uniqueid") or line.get("DestUniqueid")
        role = roles.get(uid, "?" if uid else "")
        if name == "OriginateResponse":
            detail = f"{line.get('Response')}/{line.get('Reason')}"
        else:
            detail = line.get(_DETAIL.get(name, ""))
        inside = ":".join(part for part in (role, detail) if part)
        parts.append(f"{name}[{inside}]" if inside else name)
    return " ".join(parts)


if __name__ == "__main__":
    for found in sorted(TRANSCRIPT_DIR.glob("*.jsonl")):
        loaded = load(found)
        print(f"{loaded.name}: {summary(loaded)}\n")
