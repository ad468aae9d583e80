"""The protocol edges fuzzed: AMI messages and ESL bytes as a broken or hostile PBX might send
them, random and mutated from the transcripts recorded on the real PBXs. The AMI translation
must never raise (nonsense becomes no event), the ESL codec only its declared protocol error,
and the ESL translation nothing at all. A small seeded slice runs in the suite; a long run:
`DIALER_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/unit/test_protocol_fuzz.py` (random, not
seeded, when the variable is set)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ami_bridge.translate import AmiTranslator, live_channel
from dialer import pbx
from esl_bridge import codec
from esl_bridge.translate import EslTranslator

DATA = Path(__file__).resolve().parent.parent / "data"
AMI = [
    [json.loads(line)["headers"] for line in p.read_text().splitlines()[1:]]
    for p in sorted((DATA / "ami").glob("*.jsonl"))
]
AMI_IN = [[h for h in t if "Event" in h] for t in AMI]
ESL = [p.read_bytes() for p in sorted((DATA / "esl").glob("*.rx"))]
_LONG = os.environ.get("DIALER_FUZZ_EXAMPLES")
FUZZ = settings(max_examples=int(_LONG) if _LONG else 150, deadline=None, derandomize=_LONG is None)
EVENT_TYPES = tuple(
    t for t in vars(pbx).values() if isinstance(t, type) and t.__module__ == pbx.__name__
)

_text = st.text(max_size=30)
_value = _text | st.lists(_text, max_size=3) | st.sampled_from(["", "0", "-1", "99999999999"])


def _mutate(headers: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    out = dict(headers)
    for key in data.draw(st.lists(st.sampled_from(sorted(out) or ["Event"]), max_size=3)):
        choice = data.draw(st.integers(0, 2))
        if choice == 0:
            out.pop(key, None)
        elif choice == 1:
            out[key] = data.draw(_value)
        else:
            out[data.draw(_text)] = data.draw(_value)
    return out


def _check_events(events: list[pbx.PbxEvent]) -> None:
    assert isinstance(events, list)
    assert all(isinstance(e, EVENT_TYPES) for e in events)


@FUZZ
@given(transcript=st.sampled_from(AMI_IN), data=st.data())
def test_ami_translation_never_raises_on_mutated_events(
    transcript: list[dict[str, Any]], data: st.DataObject
) -> None:
    tr = AmiTranslator()
    for i, headers in enumerate(transcript):
        h = _mutate(headers, data) if data.draw(st.booleans()) else headers
        _check_events(tr.event(h, float(i)))
        _check_events(tr.originate_response(h, str(h.get("Uniqueid", "")), float(i)))
        live = live_channel(h)
        assert live is None or isinstance(live, pbx.LiveChannel)


@FUZZ
@given(headers=st.dictionaries(_text | st.sampled_from(["Event", "Uniqueid", "Cause"]), _value))
def test_ami_translation_never_raises_on_random_headers(headers: dict[str, Any]) -> None:
    tr = AmiTranslator()
    _check_events(tr.event(headers, 1.0))
    _check_events(tr.originate_response(headers, "x", 1.0))
    live_channel(headers)


def _feed(raw: bytes, cuts: list[int]) -> list[codec.Message]:
    """Only EslProtocolError may escape, and once it has, the reader stays broken."""
    decoder = codec.Decoder()
    got: list[codec.Message] = []
    start = 0
    try:
        for cut in [*sorted(cuts), len(raw)]:
            got += decoder.feed(raw[start:cut])
            start = cut
    except codec.EslProtocolError:
        try:
            decoder.feed(b"Content-Type: auth/request\n\n")
        except codec.EslProtocolError:
            return got
        raise AssertionError("the reader went on after a protocol error") from None
    return got


@FUZZ
@given(raw=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=5))
def test_esl_codec_on_random_bytes(raw: bytes, cuts: list[int]) -> None:
    _feed(raw, [c for c in cuts if c <= len(raw)])


@FUZZ
@given(raw=st.sampled_from(ESL), data=st.data())
def test_esl_codec_and_translation_on_mutated_transcripts(raw: bytes, data: st.DataObject) -> None:
    blob = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(blob) - 1))
        op = data.draw(st.integers(0, 2))
        if op == 0:
            blob[at] = data.draw(st.integers(0, 255))
        elif op == 1:
            del blob[at : at + data.draw(st.integers(1, 50))]
        else:
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=20))
    messages = _feed(bytes(blob), data.draw(st.lists(st.integers(0, len(blob)), max_size=4)))
    tr = EslTranslator()
    for i, m in enumerate(messages):
        if isinstance(m, codec.Event):
            _check_events(tr.event(m, float(i)))
