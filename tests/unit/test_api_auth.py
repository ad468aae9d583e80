"""Tokens file parsing and look-up, the campaign lifecycle table, and the statistics figures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from dialer.api.auth import Principal, Role, TokenTable, digest, parse_tokens_file
from dialer.api.lifecycle import Action, IllegalCampaignAction, next_status
from dialer.api.models import DispositionBody, DispositionCodes, Name
from dialer.api.stats import figures
from dialer.domain.results import CallResult
from dialer.settings import ConfigError, HttpSettings
from dialer.store.records import CampaignStatus
from dialer.store.summary import CampaignSummary, LatencyStats

GOOD = """
[[tokens]]
name = "ops"
role = "admin"
token = "0123456789abcdef-admin"

[[tokens]]
name = "lead"
role = "supervisor"
sha256 = "{sha}"

[[tokens]]
name = "alice"
role = "agent"
agent = "alice"
token = "0123456789abcdef-alice"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tokens.toml"
    path.write_text(text)
    return path


def test_tokens_file_plain_and_hashed(tmp_path: Path) -> None:
    text = GOOD.replace("{sha}", digest("a-supervisor-secret-token"))
    table = TokenTable.from_settings(
        HttpSettings(tokens_file=str(write(tmp_path, text)), admin_token="env-admin-token-0001")
    )
    assert len(table) == 4
    assert table.lookup("0123456789abcdef-admin") == Principal("ops", Role.ADMIN)
    assert table.lookup("a-supervisor-secret-token") == Principal("lead", Role.SUPERVISOR)
    alice = table.lookup("0123456789abcdef-alice")
    assert alice == Principal("alice", Role.AGENT, "alice")
    assert alice.acts_as_agent(7, "alice")
    assert not alice.acts_as_agent(8, "bob")
    # Digits name an id, never a name: the token of agent 7 is not the agent named "8", and
    # a stored agent named "7" is not agent 7.
    seven = Principal("seven", Role.AGENT, "7")
    assert seven.acts_as_agent(7, "someone")
    assert not seven.acts_as_agent(8, "7")
    assert table.lookup("env-admin-token-0001") == Principal("admin", Role.ADMIN)
    assert table.lookup("0123456789abcdef-admi") is None
    assert "0123456789abcdef" not in repr(table)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('name = "x"\nrole = "boss"\ntoken = "0123456789abcdefgh"', "'role' must be admin"),
        ('name = "x"\nrole = "admin"\ntoken = "short"', "at least 16 characters"),
        ('name = "x"\nrole = "admin"', "exactly one of 'token' and 'sha256'"),
        ('name = "x"\nrole = "agent"\ntoken = "0123456789abcdefgh"', "needs 'agent'"),
        (
            'name = "x"\nrole = "admin"\nagent = "a"\ntoken = "0123456789abcdefgh"',
            "only agent tokens",
        ),
        ('name = "x"\nrole = "admin"\nsha256 = "zz"', "64 hex digits"),
        ('name = "x"\nrole = "admin"\ntoken = "0123456789abcdefgh"\nscope = 1', "unknown key"),
    ],
)
def test_bad_entries_name_the_problem(tmp_path: Path, entry: str, message: str) -> None:
    path = write(tmp_path, f"[[tokens]]\n{entry}\n")
    with pytest.raises(ConfigError, match=message) as info:
        parse_tokens_file(path)
    assert str(info.value).startswith("http.tokens_file")
    assert "0123456789abcdefgh" not in str(info.value)


def test_duplicate_token_and_short_admin_token(tmp_path: Path) -> None:
    entry = '[[tokens]]\nname = "{n}"\nrole = "admin"\ntoken = "0123456789abcdefgh"\n'
    path = write(tmp_path, entry.format(n="a") + entry.format(n="b"))
    with pytest.raises(ConfigError, match="listed twice"):
        parse_tokens_file(path)
    with pytest.raises(ConfigError, match=r"http\.admin_token"):
        TokenTable.from_settings(HttpSettings(admin_token="short"))
    assert len(TokenTable.from_settings(HttpSettings())) == 0


@pytest.mark.parametrize(
    ("action", "before", "after"),
    [
        (Action.START, CampaignStatus.DRAFT, CampaignStatus.RUNNING),
        (Action.START, CampaignStatus.STOPPED, CampaignStatus.RUNNING),
        (Action.START, CampaignStatus.PAUSED, CampaignStatus.RUNNING),
        (Action.PAUSE, CampaignStatus.RUNNING, CampaignStatus.PAUSED),
        (Action.RESUME, CampaignStatus.PAUSED, CampaignStatus.RUNNING),
        (Action.STOP, CampaignStatus.RUNNING, CampaignStatus.STOPPED),
        (Action.STOP, CampaignStatus.PAUSED, CampaignStatus.STOPPED),
    ],
)
def test_campaign_transitions(
    action: Action, before: CampaignStatus, after: CampaignStatus
) -> None:
    assert next_status(action, before) is after


@pytest.mark.parametrize(
    ("action", "status"),
    [
        (Action.START, CampaignStatus.RUNNING),
        (Action.PAUSE, CampaignStatus.DRAFT),
        (Action.PAUSE, CampaignStatus.STOPPED),
        (Action.RESUME, CampaignStatus.RUNNING),
        (Action.STOP, CampaignStatus.DRAFT),
        (Action.STOP, CampaignStatus.STOPPED),
    ],
)
def test_refused_transitions_say_why(action: Action, status: CampaignStatus) -> None:
    with pytest.raises(IllegalCampaignAction, match=f"cannot {action.value} a campaign that is"):
        next_status(action, status)


def test_figures_rates() -> None:
    by_result = dict.fromkeys(CallResult, 0)
    by_result.update(
        {
            CallResult.CONNECTED: 6,
            CallResult.ABANDONED: 2,
            CallResult.BUSY: 4,
            CallResult.NO_ANSWER: 4,
            CallResult.FAILED: 4,
            CallResult.CANCELLED: 5,
        }
    )
    summary = CampaignSummary(
        campaign_id=1,
        since=datetime(2030, 1, 1, tzinfo=UTC),
        until=None,
        attempts=26,
        in_progress=1,
        by_result=by_result,
        latency=LatencyStats(6, 40, 90, 95),
        agents=(),
        dispositions={},
        leads={},
    )
    out = figures(summary)
    assert (out["answered"], out["connected"], out["abandoned"]) == (8, 6, 2)
    assert out["abandonment_rate"] == 0.25
    assert out["contact_rate"] == 8 / 20  # cancelled attempts left out
    assert (out["latency_p50_ms"], out["latency_p99_ms"]) == (40, 90)
    assert out["by_result"]["cancelled"] == 5


def test_names_of_digits_are_refused() -> None:
    names = TypeAdapter(Name)
    assert names.validate_python("team 7") == "team 7"
    with pytest.raises(ValidationError, match="must not be all digits"):
        names.validate_python("42")


def test_malformed_call_ids_and_repeated_codes_are_refused() -> None:
    good = "0f2b8a52-1d34-4f0e-9a37-3f6a3b1c2d4e"
    assert DispositionBody(code="sale", attempt_id=good).attempt_id == good
    for bad in ("-" * 36, "0f2b8a52-1d34-4f0e-9a37-3f6a3b1c2d4", "g" * 8 + good[8:]):
        with pytest.raises(ValidationError, match="attempt_id"):
            DispositionBody(code="sale", attempt_id=bad)
    with pytest.raises(ValidationError, match="'sale' is given twice"):
        DispositionCodes.model_validate({"codes": [{"code": "sale"}, {"code": "sale"}]})
