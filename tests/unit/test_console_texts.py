"""The console's translation catalogues: the same keys in every language, and every text the
page and its script name is in them."""

from __future__ import annotations

import json
import re

from dialer.api.console import STATIC_DIR

LANGUAGES = ("en", "ru")


def catalogue(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((STATIC_DIR / "i18n" / f"{lang}.json").read_text("utf-8"))
    return data


def test_every_language_has_the_same_keys_and_placeholders() -> None:
    en = catalogue("en")
    for lang in LANGUAGES[1:]:
        other = catalogue(lang)
        assert set(other) == set(en), lang
        for key, text in en.items():
            assert set(re.findall(r"\{\w+\}", other[key])) == set(re.findall(r"\{\w+\}", text)), key
            assert other[key].strip(), key


def test_every_text_the_page_names_is_in_the_catalogue() -> None:
    keys = set(catalogue("en"))
    page = (STATIC_DIR / "index.html").read_text("utf-8")
    script = (STATIC_DIR / "console.js").read_text("utf-8")
    named = set(re.findall(r'data-i18n(?:-label)?="([^"]+)"', page))
    named |= set(re.findall(r'\bt\("([^"]+)"', script))
    assert named and named <= keys, sorted(named - keys)
    # Keys built at run time: a state, a result, a role, a pause reason, a pending action.
    for prefix, values in (
        (
            "state",
            ["logged_out", "logging_in", "ready", "on_call", "wrapup", "paused", "logging_out"],
        ),
        ("role", ["admin", "supervisor", "agent"]),
        ("agent.pending", ["paused", "logging_out"]),
        ("result", ["connected", "busy", "no_answer", "abandoned", "failed", "machine"]),
    ):
        for value in values:
            assert f"{prefix}.{value}" in keys


def test_the_agent_states_on_screen_are_the_engines() -> None:
    from dialer.domain.agent import AgentState
    from dialer.domain.results import CallResult

    keys = set(catalogue("en"))
    assert {f"state.{s.value}" for s in AgentState} <= keys
    assert {f"result.{r.value}" for r in CallResult} <= keys
