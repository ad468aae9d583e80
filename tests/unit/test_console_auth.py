"""The console's sign-in pieces: passwords, sessions (idle expiry, CSRF), the sign-in
throttle, and the settings that configure them."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from dialer.console.passwords import Passwords, check_password
from dialer.console.sessions import SessionTable, credential_of, csrf_ok
from dialer.console.throttle import SigninThrottle
from dialer.settings import ConfigError, load

# Small Argon2 parameters: the tests check the logic, not the cost.
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_a_password_matches_its_hash_only() -> None:
    pw = Passwords(FAST)
    stored = pw.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert pw.verify(stored, "correct horse battery").ok
    assert not pw.verify(stored, "correct horse battery!").ok
    assert not pw.verify("not a hash", "correct horse battery").ok


def test_an_unknown_account_never_matches() -> None:
    pw = Passwords(FAST)
    assert not pw.verify(None, "not a password of anyone's").ok
    assert not pw.verify(None, "anything at all").ok


def test_a_hash_with_weaker_parameters_asks_for_a_new_one() -> None:
    weak = Passwords(FAST).hash("correct horse battery")
    checked = Passwords(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)).verify(
        weak, "correct horse battery"
    )
    assert checked.ok and checked.needs_rehash


@pytest.mark.parametrize("bad", ["", "short", "x" * 9, "x" * 1025])
def test_new_passwords_have_a_length(bad: str) -> None:
    with pytest.raises(ValueError, match="characters"):
        check_password(bad)
    assert check_password("x" * 10) == "x" * 10


def _open(table: SessionTable, now: float, user_id: int = 1) -> str:
    key, _ = table.open(
        user_id=user_id,
        user_name=f"u{user_id}",
        role="agent",
        agent_id=7,
        credential=credential_of("$hash"),
        now=now,
    )
    return key


def test_a_session_ends_after_its_idle_time_and_requests_renew_it() -> None:
    table = SessionTable(idle_s=60)
    key = _open(table, 0)
    assert table.get(key, 59) is not None  # renews
    assert table.get(key, 118) is not None
    assert table.get(key, 170, touch=False) is not None  # the stream reads without renewing
    assert table.get(key, 179) is None  # 61 s after the last renewal
    assert table.get(key, 179.5) is None
    assert len(table) == 0


def test_only_a_cookie_of_an_open_session_finds_it() -> None:
    table = SessionTable(idle_s=60)
    key = _open(table, 0)
    assert table.get("", 1) is None
    assert table.get(key + "x", 1) is None
    assert table.end(key) is not None
    assert table.get(key, 2) is None


def test_ending_a_users_sessions_leaves_the_others() -> None:
    table = SessionTable(idle_s=60)
    a1, a2, b = _open(table, 0, 1), _open(table, 0, 1), _open(table, 0, 2)
    assert table.end_user(1) == 2
    assert table.get(a1, 1) is None and table.get(a2, 1) is None
    assert table.get(b, 1) is not None


def test_the_idlest_session_goes_when_the_table_is_full() -> None:
    table = SessionTable(idle_s=600, max_sessions=2)
    first, second = _open(table, 0), _open(table, 1)
    table.get(first, 5)
    third = _open(table, 6)
    assert table.get(second, 7) is None
    assert table.get(first, 7) is not None and table.get(third, 7) is not None


def test_changes_need_the_sessions_csrf_token() -> None:
    table = SessionTable(idle_s=60)
    session = table.get(_open(table, 0), 0)
    assert session is not None
    assert csrf_ok(session, "GET", None)
    assert csrf_ok(session, "HEAD", None)
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert not csrf_ok(session, method, None)
        assert not csrf_ok(session, method, "")
        assert not csrf_ok(session, method, session.csrf_token[:-1])
        assert csrf_ok(session, method, session.csrf_token)


def test_failures_of_one_name_from_many_addresses_lock_that_name() -> None:
    throttle = SigninThrottle(window_s=300, per_name=3, per_address=100)
    for i in range(3):
        assert throttle.refusal("Alice", f"10.0.0.{i}", 10.0 * i) is None
        throttle.failed("Alice", f"10.0.0.{i}", 10.0 * i)
    refusal = throttle.refusal("alice", "10.0.0.9", 30)
    assert refusal is not None and refusal.by == "name"
    assert refusal.retry_after_s == pytest.approx(270)  # the oldest failure leaves at 300
    assert throttle.refusal("bob", "10.0.0.9", 30) is None
    assert throttle.refusal("alice", "10.0.0.9", 300) is None


def test_failures_from_one_address_lock_that_address() -> None:
    throttle = SigninThrottle(window_s=60, per_name=100, per_address=4)
    for i in range(4):
        throttle.failed(f"user{i}", "192.0.2.1", i)
    refusal = throttle.refusal("someone", "192.0.2.1", 5)
    assert refusal is not None and refusal.by == "address"
    assert refusal.retry_after_s == pytest.approx(55)
    assert throttle.refusal("someone", "192.0.2.2", 5) is None


def test_a_success_clears_the_names_failures_not_the_addresses() -> None:
    throttle = SigninThrottle(window_s=60, per_name=2, per_address=3)
    throttle.failed("alice", "192.0.2.1", 0)
    throttle.failed("alice", "192.0.2.1", 1)
    assert throttle.refusal("alice", "192.0.2.2", 2) is not None
    throttle.succeeded("ALICE")
    assert throttle.refusal("alice", "192.0.2.2", 2) is None
    throttle.failed("bob", "192.0.2.1", 3)
    assert throttle.refusal("carol", "192.0.2.1", 4) is not None  # 3 from that address


def test_the_throttle_remembers_a_bounded_number_of_keys() -> None:
    throttle = SigninThrottle(window_s=60, per_name=1, per_address=1, max_keys=10)
    for i in range(100):
        throttle.failed(f"name{i}", f"addr{i}", i * 0.01)
    assert throttle.refusal("name99", "x", 1) is not None  # the newest are kept
    assert throttle.refusal("name0", "y", 1) is None  # the oldest forgotten


def test_console_settings_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "dialer.toml"
    base = '[pbx]\nsecret = "ami"\n[console]\n'
    path.write_text(base + 'session_idle_s = 60\nlanguage = "ru"\n')
    s = load(path, env={})
    assert (s.console.session_idle_s, s.console.language) == (60.0, "ru")
    env = {"DIALER_CONSOLE_SIGNIN_FAILURES_PER_NAME": "3"}
    assert load(path, env=env).console.signin_failures_per_name == 3
    for text, key in (
        ("session_idle_s = 0", "console.session_idle_s"),
        ("signin_failures_per_address = 0", "console.signin_failures_per_address"),
        ('language = "de"', "console.language"),
    ):
        path.write_text(f"{base}{text}\n")
        with pytest.raises(ConfigError, match=key):
            load(path, env={})
