"""The AMI actions the dialer sends: no header can be added through a value, no dial string
through an endpoint, and the deploy's AMI account gets exactly the events the daemon uses."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ami_bridge import actions
from ami_bridge.translate import WANTED_EVENTS
from dialer.pbx import (
    AbandonMessage,
    AgentLeg,
    AmdRequest,
    CustomerCall,
    PbxError,
    PbxValueError,
)
from rig import DEPLOY_ASTERISK

CTX = actions.Contexts()
UUID = "0f4b6b8e-6d4f-4c59-9d7c-1b1e3f1a2b3c"
INJECTIONS = [
    "agent1\r\nApplication: System\r\nData: touch /tmp/x",
    "agent1\r\nApplication: Dial\r\nData: PJSIP/+19005550100@trunk",
    "agent1\nApplication: System",
    "agent1\rApplication: System",
    "agent1\x00",
]


def customer(**changes: object) -> CustomerCall:
    values: dict[str, object] = {
        "channel_id": UUID,
        "trunk": "trunk",
        "number": "+15550100",
        "caller_id": "+15550000000",
        "ring_timeout_s": 20.0,
        "hold_s": 1.5,
        "message": AbandonMessage("+442079460123"),
    }
    values.update(changes)
    return CustomerCall(**values)  # type: ignore[arg-type]


def test_originates_as_before() -> None:
    action = actions.originate_customer(customer(), CTX)
    assert action["Channel"] == "PJSIP/+15550100@trunk"
    assert action["Variable"] == [
        f"DIALER_ATTEMPT={UUID}",
        "DIALER_HOLD=1.5",
        "DIALER_CALLBACK=+442079460123",
    ]
    agent = actions.originate_agent(AgentLeg(UUID, "agent1", agent_id="7"), CTX)
    assert agent["Channel"] == "PJSIP/agent1"
    assert agent["Variable"] == [f"DIALER_AGENT_LEG={UUID}", "DIALER_AGENT=7"]
    assert actions.wire_checked(agent) == agent


def test_typed_values_become_the_variables_extensions_conf_reads() -> None:
    call = customer(
        lead_id=42,
        campaign_id=7,
        hold_s=1.94,
        amd=AmdRequest(machine_message="dialer/machine"),
        message=AbandonMessage("+442079460123", "dialer/campaign-7"),
    )
    assert actions.originate_customer(call, CTX)["Variable"] == [
        f"DIALER_ATTEMPT={UUID}",
        "DIALER_LEAD=42",
        "DIALER_CAMPAIGN=7",
        "DIALER_HOLD=1.9",  # seconds, one decimal, as Wait() takes them
        "DIALER_AMD=1",
        "DIALER_MACHINE_MESSAGE=dialer/machine",
        "DIALER_CALLBACK=+442079460123",
        "DIALER_CAMPAIGN_PROMPT=dialer/campaign-7",
    ]
    # AMD without a message: a machine is hung up on; no hold or message: the dialplan's own.
    bare = customer(hold_s=None, amd=AmdRequest(), message=None)
    assert actions.originate_customer(bare, CTX)["Variable"] == [
        f"DIALER_ATTEMPT={UUID}",
        "DIALER_AMD=1",
    ]


@pytest.mark.parametrize(
    "endpoint", [*INJECTIONS, "+19005550100@trunk", "PJSIP/x", "x,y", "a b", "", "a" * 65]
)
def test_an_agent_endpoint_is_only_a_name(endpoint: str) -> None:
    with pytest.raises(ValueError, match="agent endpoint"):
        actions.originate_agent(AgentLeg(UUID, endpoint), CTX)


@pytest.mark.parametrize(
    "bad",
    [
        {"trunk": "trunk\r\nApplication: System"},
        {"trunk": "trunk/x"},
        {"number": "+15550100\r\nApplication: System"},
        {"number": "+15550100@other"},
        {"caller_id": "+15550000000\r\nApplication: System"},
        {"message": AbandonMessage("+442079460123\r\nApplication: System")},
        {"message": AbandonMessage("+442079460123", "x,System(id)")},
        {"message": AbandonMessage("+442079460123", "x\nApplication: System")},
        {"amd": AmdRequest("dialer/machine&/etc/passwd")},
        {"amd": AmdRequest("x\r\nApplication: System")},
        {"hold_s": -1.0},
        {"hold_s": float("nan")},
        {"hold_s": 3600.0},
    ],
)
def test_customer_values_outside_the_grammar_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        actions.originate_customer(customer(**bad), CTX)


@pytest.mark.parametrize("bad", ["\r", "\n", "\r\n", "\x00"])
@pytest.mark.parametrize("header", ["Channel", "Context", "Variable", "X\nY"])
def test_the_sender_refuses_line_breaks_in_any_header(bad: str, header: str) -> None:
    action: dict[str, object] = {"Action": "Hangup", "Channel": "PJSIP/trunk-00000001"}
    if header == "Variable":
        action["Variable"] = ["A=1", f"B=2{bad}Application: System"]
    elif header == "X\nY":
        action[header] = "1"
    else:
        action[header] = f"x{bad}Application: System"
    with pytest.raises(PbxValueError, match=re.escape(header.split("\n")[0])) as raised:
        actions.wire_checked(action)
    assert isinstance(raised.value, PbxError)  # the port's declared error type


@given(st.text(), st.sampled_from(["\r", "\n", "\x00"]), st.text())
def test_no_value_with_a_line_break_passes(before: str, bad: str, after: str) -> None:
    text = before + bad + after
    with pytest.raises(PbxValueError):
        actions.wire_checked({"Action": "Setvar", "Value": text})
    with pytest.raises(PbxValueError):
        actions.wire_checked({"Action": "Originate", "Variable": ["A=1", text]})


def test_no_filter_action_is_needed() -> None:
    # Filter needs the "system" write class, which the deploy's account no longer has.
    assert not hasattr(actions, "event_filter")


def _account(section: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    current = ""
    for raw in (DEPLOY_ASTERISK / "manager.conf").read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            current = line[1 : line.index("]")]
        elif current == section and "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            out.append((key, value))
    return out


def test_manager_conf_filters_name_exactly_the_wanted_events() -> None:
    named = []
    for key, value in _account("dialer"):
        if key.startswith("eventfilter"):
            match = re.fullmatch(r"eventfilter\(action\(include\),name\(([A-Za-z]+)\)\)", key)
            assert match is not None and value == "", f"unexpected filter {key} = {value}"
            named.append(match[1])
    assert sorted(named) == sorted(WANTED_EVENTS)
    assert len(named) == len(set(named))


def test_the_dialer_account_has_no_system_write_class() -> None:
    (write,) = [value for key, value in _account("dialer") if key == "write"]
    classes = {c.strip() for c in write.split(",")}
    assert "system" not in classes and "all" not in classes
    assert classes == {"call", "originate", "reporting"}
