"""Sans-IO codec for the FreeSWITCH Event Socket: bytes in, typed messages out; no sockets.

Wire rules, as a real FreeSWITCH 1.10.12 sent them (transcripts in tests/data/esl/):

- A frame is a block of `Name: value` lines (LF only) ended by an empty line, then exactly
  `Content-Length` bytes of body when that header is present. Header order is not fixed
  (events came with Content-Length first, api/response with Content-Type first).
- `Content-Type` says what the frame is: auth/request, command/reply, api/response,
  text/event-plain, text/event-json, text/disconnect-notice, text/rude-rejection, log/data.
- An event-plain body is itself a header block whose values are URL-encoded; an event with a body
  of its own (BACKGROUND_JOB) carries an inner Content-Length, an empty line, then that body.
- In event-json the body is one JSON object of strings; the event's own body is under `_body`.

`FrameReader` is the state machine (READING_HEADERS -> READING_BODY -> READING_HEADERS) that cuts
the byte stream into frames whatever the chunking; `parse_frame` types a frame; `Decoder` does
both. The `*_command` functions build what the client sends; they refuse CR, LF and NUL inside a
value, which would let a crafted number or variable inject a second command.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote

from dialer.domain.pbx_values import wire_problem

__all__ = [
    "ApiResponse",
    "AuthRequest",
    "CommandReply",
    "Decoder",
    "DisconnectNotice",
    "EslProtocolError",
    "Event",
    "Frame",
    "FrameReader",
    "Message",
    "OtherFrame",
    "ReaderState",
    "RudeRejection",
    "api_command",
    "auth_command",
    "bgapi_command",
    "event_command",
    "filter_command",
    "parse_event_json",
    "parse_event_plain",
    "parse_frame",
    "parse_header_block",
]

MAX_HEADER_BLOCK = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


class EslProtocolError(Exception):
    """The peer sent bytes that are not a valid Event Socket frame."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame as cut from the stream: outer headers and the raw body."""

    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


@dataclass(frozen=True, slots=True)
class AuthRequest:
    """The greeting: FreeSWITCH waits for `auth PASSWORD`."""


@dataclass(frozen=True, slots=True)
class CommandReply:
    """The answer to a command (auth, event, filter, bgapi, exit, ...)."""

    reply_text: str
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reply_text.startswith("+OK")

    @property
    def job_uuid(self) -> str | None:
        return self.headers.get("Job-UUID")


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """The answer to `api CMD`: the command's output as text."""

    body: str

    @property
    def ok(self) -> bool:
        # mod_commands reports failure in-band: "-ERR ...", "-USAGE: ...".
        return not self.body.startswith(("-ERR", "-USAGE"))


@dataclass(frozen=True, slots=True)
class Event:
    """A FreeSWITCH event, with its URL-decoded headers and its own body (often empty)."""

    headers: Mapping[str, str]
    body: str = ""

    @property
    def name(self) -> str:
        return self.headers.get("Event-Name", "")

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.headers.get(key, default)


@dataclass(frozen=True, slots=True)
class DisconnectNotice:
    """FreeSWITCH is about to close the socket (after `exit`, a failed auth, or shutdown)."""

    text: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RudeRejection:
    """The socket was refused (ACL) before any greeting."""

    text: str


@dataclass(frozen=True, slots=True)
class OtherFrame:
    """A frame of a type the dialer does not use (log/data, event-xml, ...)."""

    content_type: str
    headers: Mapping[str, str]
    body: bytes


Message = (
    AuthRequest | CommandReply | ApiResponse | Event | DisconnectNotice | RudeRejection | OtherFrame
)


class ReaderState(enum.Enum):
    READING_HEADERS = "reading_headers"
    READING_BODY = "reading_body"


def parse_header_block(block: bytes, *, url_decoded: bool = False) -> dict[str, str]:
    """`Name: value` lines to a dict (a repeated name keeps its last value)."""
    headers: dict[str, str] = {}
    for raw in block.split(b"\n"):
        line = raw.rstrip(b"\r")
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise EslProtocolError(f"header line without a colon: {line[:80]!r}")
        text = value.removeprefix(b" ").decode("utf-8", errors="replace")
        if url_decoded:
            text = unquote(text, errors="replace")
        headers[name.decode("utf-8", errors="replace").strip()] = text
    return headers


def _content_length(headers: Mapping[str, str]) -> int:
    raw = headers.get("Content-Length")
    if raw is None:
        return 0
    try:
        length = int(raw.strip())
    except ValueError:
        raise EslProtocolError(f"bad Content-Length {raw!r}") from None
    if length < 0 or length > MAX_BODY:
        raise EslProtocolError(f"Content-Length out of range: {length}")
    return length


class FrameReader:
    """Cuts a byte stream into frames; partial input is kept until the frame is whole.

    State table: READING_HEADERS --(empty line; Content-Length > 0)--> READING_BODY
    --(that many bytes)--> READING_HEADERS; a header block without a body is a frame at once.
    A protocol error leaves the reader unusable (the connection must be dropped).
    """

    __slots__ = ("_broken", "_buffer", "_headers", "_length", "_scan_from", "_state")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._state = ReaderState.READING_HEADERS
        self._headers: dict[str, str] = {}
        self._length = 0
        self._scan_from = 0
        self._broken = False

    @property
    def state(self) -> ReaderState:
        return self._state

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a whole frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        """Take the next bytes of the stream; return the frames they complete."""
        if self._broken:
            raise EslProtocolError("reader is broken by an earlier protocol error")
        self._buffer += data
        frames: list[Frame] = []
        try:
            while True:
                frame = self._next_frame()
                if frame is None:
                    return frames
                frames.append(frame)
        except EslProtocolError:
            self._broken = True
            raise

    def _next_frame(self) -> Frame | None:
        if self._state is ReaderState.READING_HEADERS:
            # Frames may be separated by stray newlines; skip them.
            while self._buffer[:1] == b"\n":
                del self._buffer[:1]
            end = self._buffer.find(b"\n\n", max(self._scan_from - 1, 0))
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BLOCK:
                    raise EslProtocolError("header block too large")
                self._scan_from = len(self._buffer)
                return None
            block = bytes(self._buffer[:end])
            del self._buffer[: end + 2]
            self._scan_from = 0
            headers = parse_header_block(block)
            length = _content_length(headers)
            if length == 0:
                return Frame(headers=headers)
            self._headers = headers
            self._length = length
            self._state = ReaderState.READING_BODY
        if len(self._buffer) < self._length:
            return None
        body = bytes(self._buffer[: self._length])
        del self._buffer[: self._length]
        frame = Frame(headers=self._headers, body=body)
        self._headers = {}
        self._length = 0
        self._state = ReaderState.READING_HEADERS
        return frame


def parse_event_plain(body: bytes) -> Event:
    """The body of a text/event-plain frame: URL-encoded headers, then an optional inner body."""
    head, sep, rest = body.partition(b"\n\n")
    headers = parse_header_block(head, url_decoded=True)
    inner = b""
    if sep and "Content-Length" in headers:
        length = _content_length(headers)
        if len(rest) < length:
            raise EslProtocolError("event body shorter than its inner Content-Length")
        inner = rest[:length]
    return Event(headers=headers, body=inner.decode("utf-8", errors="replace"))


def parse_event_json(body: bytes) -> Event:
    """The body of a text/event-json frame: one JSON object of strings, the body under `_body`."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise EslProtocolError(f"bad event-json body: {exc}") from None
    if not isinstance(data, dict):
        raise EslProtocolError("event-json body is not an object")
    inner = data.pop("_body", "")
    headers = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    return Event(headers=headers, body=inner if isinstance(inner, str) else json.dumps(inner))


def parse_frame(frame: Frame) -> Message:
    """Type a frame by its Content-Type."""
    ctype = frame.content_type
    if ctype == "auth/request":
        return AuthRequest()
    if ctype == "command/reply":
        return CommandReply(reply_text=frame.headers.get("Reply-Text", ""), headers=frame.headers)
    if ctype == "api/response":
        return ApiResponse(body=frame.body.decode("utf-8", errors="replace"))
    if ctype == "text/event-plain":
        return parse_event_plain(frame.body)
    if ctype == "text/event-json":
        return parse_event_json(frame.body)
    if ctype == "text/disconnect-notice":
        return DisconnectNotice(
            text=frame.body.decode("utf-8", errors="replace"), headers=frame.headers
        )
    if ctype == "text/rude-rejection":
        return RudeRejection(text=frame.body.decode("utf-8", errors="replace"))
    return OtherFrame(content_type=ctype, headers=frame.headers, body=frame.body)


class Decoder:
    """Bytes in, typed messages out. A frame that does not parse breaks it as a framing error
    breaks the reader: nothing after it can be trusted (the client reconnects)."""

    __slots__ = ("_broken", "_reader")

    def __init__(self) -> None:
        self._reader = FrameReader()
        self._broken = False

    def feed(self, data: bytes) -> list[Message]:
        if self._broken:
            raise EslProtocolError("decoder is broken by an earlier protocol error")
        try:
            return [parse_frame(frame) for frame in self._reader.feed(data)]
        except EslProtocolError:
            self._broken = True
            raise

    @property
    def buffered(self) -> int:
        return self._reader.buffered


# --- commands -------------------------------------------------------------------------------


def _check(value: str) -> str:
    # The same characters the AMI adapter refuses (dialer.domain.pbx_values.LINE_BREAKS).
    problem = wire_problem(value)
    if problem is not None:
        raise ValueError(f"line break in an ESL command value ({problem}): {value!r}")
    return value


def encode_command(command: str, headers: Mapping[str, str] | None = None) -> bytes:
    """One command frame: the command line, optional headers, an empty line."""
    lines = [_check(command)]
    for name, value in (headers or {}).items():
        lines.append(f"{_check(name)}: {_check(value)}")
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def auth_command(password: str) -> bytes:
    return encode_command(f"auth {password}")


def api_command(command: str) -> bytes:
    return encode_command(f"api {command}")


def bgapi_command(command: str, job_uuid: str | None = None) -> bytes:
    """`bgapi`: answered at once; the result comes later as a BACKGROUND_JOB event.

    FreeSWITCH honours a `Job-UUID` header sent by the client, so the dialer's own id ties the
    job's result to the attempt.
    """
    return encode_command(f"bgapi {command}", {"Job-UUID": job_uuid} if job_uuid else None)


def event_command(names: Iterable[str], fmt: str = "plain") -> bytes:
    if fmt not in ("plain", "json"):
        raise ValueError(f"unsupported event format {fmt!r}")
    return encode_command(f"event {fmt} {' '.join(names)}")


def filter_command(header: str, value: str) -> bytes:
    """Add a filter: once any filter exists, only events matching one of them are sent."""
    return encode_command(f"filter {header} {value}")
