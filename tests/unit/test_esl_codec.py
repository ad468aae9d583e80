"""The ESL codec on transcripts recorded from a real FreeSWITCH 1.10.12 (tests/data/esl/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esl_bridge import codec

DATA = Path(__file__).resolve().parent.parent / "data" / "esl"
TRANSCRIPTS = sorted(p.stem for p in DATA.glob("*.rx"))


def rx(name: str) -> bytes:
    return (DATA / f"{name}.rx").read_bytes()


def decode(data: bytes) -> list[codec.Message]:
    decoder = codec.Decoder()
    messages = decoder.feed(data)
    assert decoder.buffered == 0
    return messages


def events(name: str) -> list[codec.Event]:
    return [m for m in decode(rx(name)) if isinstance(m, codec.Event)]


def test_transcripts_are_present() -> None:
    assert {"auth_ok", "auth_wrong", "busy", "answered_bridged", "subscribe"} <= set(TRANSCRIPTS)


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_every_transcript_decodes_whole(name: str) -> None:
    messages = decode(rx(name))
    assert isinstance(messages[0], codec.AuthRequest)
    assert not any(isinstance(m, codec.OtherFrame) for m in messages)
    # Every session ended with FreeSWITCH's goodbye.
    assert isinstance(messages[-1], codec.DisconnectNotice)
    assert "Disconnected, goodbye." in messages[-1].text


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(TRANSCRIPTS), data=st.data())
def test_any_chunking_gives_the_same_messages(name: str, data: st.DataObject) -> None:
    raw = rx(name)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=40)))
    decoder = codec.Decoder()
    got: list[codec.Message] = []
    start = 0
    for cut in [*cuts, len(raw)]:
        got += decoder.feed(raw[start:cut])
        start = cut
    assert got == decode(raw)
    assert decoder.buffered == 0


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(["busy", "subscribe", "auth_wrong"]))
def test_byte_by_byte(name: str) -> None:
    raw = rx(name)
    decoder = codec.Decoder()
    got: list[codec.Message] = []
    for i in range(len(raw)):
        got += decoder.feed(raw[i : i + 1])
    assert got == decode(raw)


def test_auth_accepted_and_api_replies() -> None:
    messages = decode(rx("auth_ok"))
    auth, status, unknown_api, unknown_cmd, bye = messages[1:6]
    assert isinstance(auth, codec.CommandReply)
    assert auth.ok
    assert auth.reply_text == "+OK accepted"
    assert isinstance(status, codec.ApiResponse)
    assert status.ok
    assert "is ready" in status.body
    assert isinstance(unknown_api, codec.ApiResponse)
    assert not unknown_api.ok
    assert unknown_api.body.startswith("-ERR nosuchcommand")
    assert isinstance(unknown_cmd, codec.CommandReply)
    assert unknown_cmd.reply_text == "-ERR command not found"
    assert isinstance(bye, codec.CommandReply)
    assert bye.reply_text == "+OK bye"


def test_auth_refused_then_disconnect_notice() -> None:
    messages = decode(rx("auth_wrong"))
    assert len(messages) == 3
    reply, notice = messages[1], messages[2]
    assert isinstance(reply, codec.CommandReply)
    assert not reply.ok
    assert reply.reply_text == "-ERR invalid"
    assert isinstance(notice, codec.DisconnectNotice)


def test_subscription_replies_and_job_uuid_honoured() -> None:
    messages = decode(rx("subscribe"))
    replies = [m.reply_text for m in messages if isinstance(m, codec.CommandReply)]
    assert "+OK event listener enabled plain" in replies
    assert "+OK filter added. [variable_dialer_leg]=[customer]" in replies
    assert "+OK event listener enabled json" in replies
    sent = (DATA / "subscribe.tx").read_bytes().decode()
    job = sent.split("Job-UUID: ")[1].split("\n")[0]
    [bg_reply] = [m for m in messages if isinstance(m, codec.CommandReply) and m.job_uuid]
    assert bg_reply.job_uuid == job
    assert bg_reply.reply_text == f"+OK Job-UUID: {job}"


def test_json_event_with_body() -> None:
    [job] = events("subscribe")
    assert job.name == "BACKGROUND_JOB"
    assert job.get("Job-Command") == "status"
    assert job.body.startswith("UP ")
    assert "_body" not in job.headers


def test_plain_event_headers_are_url_decoded() -> None:
    create = events("busy")[0]
    assert create.name == "CHANNEL_CREATE"
    # On the wire: "Event-Date-Local: 2026-11-22%2002%3A53%3A22" and similar.
    assert "%20" in rx("busy").decode()
    local = create.get("Event-Date-Local") or ""
    assert " " in local
    assert ":" in local
    assert "%" not in local
    assert (create.get("Caller-Destination-Number") or "").startswith("+1555")


def test_background_job_inner_body_in_plain_mode() -> None:
    job = events("busy")[-1]
    assert job.name == "BACKGROUND_JOB"
    assert job.body == "-ERR USER_BUSY\n"
    assert job.get("Job-Command") == "originate"


def test_plain_and_json_modes_agree() -> None:
    plain, json_ = events("busy"), events("busy_json")
    assert [e.name for e in plain] == [e.name for e in json_]
    assert plain[-1].body == json_[-1].body == "-ERR USER_BUSY\n"
    assert plain[-2].get("Hangup-Cause") == json_[-2].get("Hangup-Cause") == "USER_BUSY"


def test_header_order_does_not_matter() -> None:
    body = b"+OK 1234\n"
    a = b"Content-Type: api/response\nContent-Length: 9\n\n" + body
    b = b"Content-Length: 9\nContent-Type: api/response\n\n" + body
    assert decode(a) == decode(b) == [codec.ApiResponse("+OK 1234\n")]


def test_reader_states() -> None:
    reader = codec.FrameReader()
    states = [reader.state]
    assert reader.feed(b"Content-Length: 5\nContent-Type: api/response\n\n+O") == []
    states.append(reader.state)
    [frame] = reader.feed(b"K 1\nContent-Type: auth/request\n")
    states.append(reader.state)
    assert frame.body == b"+OK 1"
    assert states == [
        codec.ReaderState.READING_HEADERS,
        codec.ReaderState.READING_BODY,
        codec.ReaderState.READING_HEADERS,
    ]
    assert reader.buffered > 0
    [greeting] = reader.feed(b"\n")
    assert greeting.content_type == "auth/request"
    assert reader.buffered == 0


def test_bad_content_length_breaks_the_reader() -> None:
    reader = codec.FrameReader()
    with pytest.raises(codec.EslProtocolError):
        reader.feed(b"Content-Type: api/response\nContent-Length: x\n\n")
    with pytest.raises(codec.EslProtocolError):
        reader.feed(b"Content-Type: auth/request\n\n")


def test_oversized_header_block_is_refused() -> None:
    reader = codec.FrameReader()
    with pytest.raises(codec.EslProtocolError):
        reader.feed(b"X: " + b"a" * (codec.MAX_HEADER_BLOCK + 10))


def test_inner_content_length_longer_than_body_is_refused() -> None:
    body = b"Event-Name: BACKGROUND_JOB\nContent-Length: 50\n\nshort"
    frame = f"Content-Length: {len(body)}\nContent-Type: text/event-plain\n\n".encode() + body
    with pytest.raises(codec.EslProtocolError):
        codec.Decoder().feed(frame)


def test_unknown_content_type_is_kept() -> None:
    [msg] = decode(b"Content-Type: log/data\nContent-Length: 3\n\nabc")
    assert msg == codec.OtherFrame(
        "log/data", {"Content-Type": "log/data", "Content-Length": "3"}, b"abc"
    )


def test_commands() -> None:
    assert codec.auth_command("s3cret") == b"auth s3cret\n\n"
    assert codec.api_command("show calls as json") == b"api show calls as json\n\n"
    assert codec.bgapi_command("originate x &park()", "abc") == (
        b"bgapi originate x &park()\nJob-UUID: abc\n\n"
    )
    assert codec.event_command(["CHANNEL_ANSWER", "BACKGROUND_JOB"]) == (
        b"event plain CHANNEL_ANSWER BACKGROUND_JOB\n\n"
    )
    assert codec.filter_command("variable_dialer_leg", "agent") == (
        b"filter variable_dialer_leg agent\n\n"
    )


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b", "x\n\napi fsctl shutdown"])
def test_line_breaks_cannot_inject_commands(bad: str) -> None:
    with pytest.raises(ValueError, match="line break"):
        codec.api_command(bad)
    with pytest.raises(ValueError, match="line break"):
        codec.bgapi_command("status", bad)


def test_recorded_commands_round_trip() -> None:
    """What the recorder sent is what the encoder builds (the .tx files)."""
    sent = (DATA / "busy.tx").read_bytes()
    assert sent.startswith(codec.auth_command("rig-esl-secret"))
    assert codec.filter_command("Event-Name", "BACKGROUND_JOB") in sent
