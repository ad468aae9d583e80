"""The grammar of values bound for the PBX, and where it is applied outside the adapters: the
CLI, the config, and the daemon's refusal of stored rows that break it."""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer import settings
from dialer.cli import build_parser
from dialer.core.refusals import agent_refusal, campaign_refusal
from dialer.domain import pbx_values as grammar
from dialer.pbx import Capability
from dialer.store.records import Campaign, CampaignStatus, PacingMode, Trunk

INJECTIONS = [
    "agent1\r\nApplication: System\r\nData: id",
    "agent1\r\nApplication: Dial\r\nData: PJSIP/+19005550100@trunk",
    "agent1\nx",
    "agent1\rx",
    "agent1\x00",
    "+19005550100@trunk",
    "PJSIP/x",
    "sofia/gateway/trunk/+19005550100",
    "agent1,x",
    "agent 1",
    "agent1 ",
    ".hidden",
    "-x",
    "",
    "a" * 65,
]
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"


@pytest.mark.parametrize("name", ["agent1", "trunk", "1001", "dialer-agent", "a_b.c", "a" * 64])
def test_names_that_pass(name: str) -> None:
    assert grammar.check_name(name) == name


@pytest.mark.parametrize("bad", INJECTIONS)
def test_names_that_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(ValueError, match=r"^sip_endpoint must be a PBX name"):
        grammar.check_name(bad, "sip_endpoint")


@given(st.text(max_size=80))
def test_a_name_never_carries_a_dial_string_or_a_line_break(text: str) -> None:
    try:
        grammar.check_name(text)
    except ValueError:
        return
    assert set(text) <= set(NAME_CHARS)
    assert grammar.wire_problem(text) is None
    assert 1 <= len(text) <= 64


@given(st.text(st.sampled_from(NAME_CHARS), min_size=1, max_size=64))
def test_every_name_of_the_alphabet_passes_unless_it_starts_badly(text: str) -> None:
    if text[0] in ".-":
        with pytest.raises(ValueError, match="must be a PBX name"):
            grammar.check_name(text)
    else:
        assert grammar.check_name(text) == text


@given(st.text(max_size=40))
def test_numbers_prefixes_caller_ids_and_variables_carry_no_line_break(text: str) -> None:
    checks = (
        grammar.check_dial_prefix,
        grammar.check_dialled_number,
        grammar.check_phone_number,
        grammar.check_caller_id,
        grammar.check_sound_name,
        lambda v: grammar.check_variable_value(v, "X"),
        grammar.check_variable_name,
        grammar.check_channel_id,
        grammar.check_callback_number,
    )
    for check in checks:
        try:
            out = check(text)
        except ValueError:
            continue
        assert grammar.wire_problem(out) is None
        assert not set(out) & set("@,& {}()\t")


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (grammar.check_dial_prefix, ["", "9", "00", "*31#"], ["+", "9 ", "9\r\n", "a", "1" * 21]),
        (grammar.check_caller_id, ["", "+15550000000", "0123"], ["+1", "+1555@x", "1\r\n2"]),
        (grammar.check_phone_number, ["+15550100", "+33612345678"], ["15550100", "+0123"]),
        (grammar.check_dialled_number, ["9+15550100", "+15550100"], ["+1555@trunk", "1 2"]),
        (
            grammar.check_sound_name,
            ["", "dialer/campaign-7"],
            ["../etc/x", "a&b", "a,b", "a\nb", "a b"],
        ),
    ],
)
def test_other_kinds(check: object, good: list[str], bad: list[str]) -> None:
    assert callable(check)
    for value in good:
        assert check(value) == value
    for value in bad:
        with pytest.raises(ValueError, match="must be"):
            check(value)


def test_wire_problem_names_the_characters() -> None:
    assert grammar.wire_problem("plain") is None
    assert grammar.wire_problem("a\r\nb") == "contains '\\n', '\\r'"
    assert grammar.wire_problem("a\x00") == "contains '\\x00'"


def test_check_variables() -> None:
    assert grammar.check_variables({"DIALER_HOLD": "1.5"}) == {"DIALER_HOLD": "1.5"}
    with pytest.raises(ValueError, match="channel variable DIALER_HOLD"):
        grammar.check_variables({"DIALER_HOLD": "1,System(id)"})


# -- the CLI refuses before sending anything ------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["agent", "create", "a", "--endpoint", "agent1\r\nApplication: System"], "endpoint"),
        (["agent", "create", "a", "--endpoint", "+19005550100@trunk"], "endpoint"),
        (["trunk", "create", "t", "--endpoint", "PJSIP/x", "--max-channels", "1"], "endpoint"),
        (["trunk", "edit", "t", "--prefix", "9\r\nApplication: Dial"], "dial_prefix"),
        (["trunk", "edit", "t", "--caller-id", "+1555\x00"], "caller_id"),
        (["campaign", "edit", "c", "--name-prompt", "a&b"], "name_prompt"),
        (["campaign", "edit", "c", "--machine-message", "../x"], "machine_message"),
        (["campaign", "edit", "c", "--callback-number", "+1\r\nx"], "callback_number"),
    ],
)
def test_the_cli_refuses_values_outside_the_grammar(
    argv: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"{field} must be" in err or f"{field} {argv[-1]!r}" in err, err


def test_the_cli_passes_good_values() -> None:
    args = build_parser().parse_args(["agent", "create", "ann", "--endpoint", "agent1"])
    assert isinstance(args, argparse.Namespace) and args.endpoint == "agent1"


# -- the config ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DIALER_PBX_AGENT_CONTEXT", "dialer-agent\r\nApplication: System"),
        ("DIALER_PBX_CUSTOMER_CONTEXT", "a,b"),
        ("DIALER_PBX_USERNAME", "dialer\r\nAction: Originate"),
        ("DIALER_PBX_SECRET", "s\r\nAction: Originate"),
    ],
)
def test_the_config_refuses_values_outside_the_grammar(key: str, value: str) -> None:
    env = {"DIALER_PBX_SECRET": "s", key: value}
    field = key.removeprefix("DIALER_PBX_").lower()
    with pytest.raises(settings.ConfigError, match=f"^pbx.{field}"):
        settings.load(None, env)


# -- stored rows -----------------------------------------------------------------------------

T = datetime(2030, 1, 6, tzinfo=UTC)


def _campaign(**changes: object) -> Campaign:
    values: dict[str, object] = {
        "id": 1,
        "name": "c",
        "status": CampaignStatus.RUNNING,
        "pacing_mode": PacingMode.PROGRESSIVE,
        "caller_id": "+15550000000",
        "trunk_id": 1,
        "ring_timeout_s": 20.0,
        "max_attempts": 3,
        "wrapup_s": 0.0,
        "hold_s": 2.0,
        "created_at": T,
        "updated_at": T,
    }
    values.update(changes)
    return Campaign(**values)  # type: ignore[arg-type]


TRUNK = Trunk(1, "carrier", max_channels=1, max_cps=1.0, dial_prefix="", endpoint="trunk")
ALL = frozenset(Capability)


def test_good_stored_rows_are_dialed() -> None:
    assert campaign_refusal(_campaign(), TRUNK, ALL) is None
    assert agent_refusal("7", "agent1") is None


@pytest.mark.parametrize(
    ("campaign", "trunk", "field"),
    [
        ({}, {"endpoint": "trunk\r\nApplication: System"}, "endpoint"),
        ({}, {"endpoint": "x@evil"}, "endpoint"),
        ({}, {"dial_prefix": "+1900"}, "dial_prefix"),
        ({}, {"caller_id": "1\n2"}, "caller_id"),
        ({"caller_id": "+1555\r\nx"}, {}, "caller_id"),
        ({"name_prompt": "a&b"}, {}, "name_prompt"),
        ({"machine_message": "a,b"}, {}, "machine_message"),
        ({"callback_number": "+1\n"}, {}, "callback_number"),
    ],
)
def test_bad_stored_campaign_rows_are_refused_naming_the_field(
    campaign: dict[str, object], trunk: dict[str, object], field: str
) -> None:
    t = dataclasses.replace(TRUNK, **trunk)  # type: ignore[arg-type]
    reason = campaign_refusal(_campaign(**campaign), t, ALL)
    assert reason is not None and field in reason and "not dialed" in reason


@pytest.mark.parametrize("endpoint", INJECTIONS)
def test_bad_stored_agent_endpoints_are_refused(endpoint: str) -> None:
    reason = agent_refusal("7", endpoint)
    assert reason is not None and "sip_endpoint" in reason and "agent 7" in reason
