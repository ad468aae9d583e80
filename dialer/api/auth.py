"""Bearer tokens and roles. Pure, apart from reading the tokens file once at start-up.

Roles: `admin` may do everything; `supervisor` everything but configuring trunks; `agent` only
acts on itself (its own log-in, pause, dispositions) and schedules callbacks in its campaign.

Tokens come from configuration, never from the database:
- `http.tokens_file`, a TOML file of entries::

      [[tokens]]
      name = "ops"            # who it is, for the logs
      role = "admin"          # admin | supervisor | agent
      token = "..."           # at least 16 characters; or sha256 = "<hex digest of the token>"

      [[tokens]]
      name = "alice"
      role = "agent"
      agent = "alice"         # the agent's name (or id) in the agents table

- `http.admin_token` (best as the environment variable DIALER_HTTP_ADMIN_TOKEN): one more
  admin token, named "admin".

Only SHA-256 digests are kept in memory, and a token is never logged or shown in a `repr`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dialer.settings import ConfigError, HttpSettings

MIN_TOKEN_LENGTH = 16


class Role(enum.StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"


STAFF = (Role.ADMIN, Role.SUPERVISOR)
EVERYONE = (Role.ADMIN, Role.SUPERVISOR, Role.AGENT)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request."""

    name: str
    role: Role
    agent: str | None = None  # for role agent: the agent's name or id

    def acts_as_agent(self, agent_id: int, agent_name: str) -> bool:
        """True when this principal is that agent: digits name its id, anything else its name
        (so an agent named "7", from before names of digits were refused, is not agent 7)."""
        if self.agent is None:
            return False
        return (
            self.agent == str(agent_id)
            if self.agent.isascii() and self.agent.isdigit()
            else self.agent == agent_name
        )


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenTable:
    """Token digests to principals."""

    def __init__(self, entries: Mapping[str, Principal] | None = None) -> None:
        self._by_digest = dict(entries or {})

    def __repr__(self) -> str:
        return f"TokenTable({len(self._by_digest)} tokens)"

    def __len__(self) -> int:
        return len(self._by_digest)

    def lookup(self, token: str) -> Principal | None:
        wanted = digest(token)
        for known, principal in self._by_digest.items():
            if hmac.compare_digest(known, wanted):
                return principal
        return None

    @classmethod
    def from_settings(cls, http: HttpSettings) -> TokenTable:
        """The tokens of `http.tokens_file` and `http.admin_token`; raises `ConfigError`."""
        entries: dict[str, Principal] = {}
        if http.tokens_file:
            entries.update(parse_tokens_file(Path(http.tokens_file)))
        if http.admin_token:
            if len(http.admin_token) < MIN_TOKEN_LENGTH:
                raise ConfigError(
                    f"http.admin_token: must be at least {MIN_TOKEN_LENGTH} characters"
                )
            entries[digest(http.admin_token)] = Principal("admin", Role.ADMIN)
        return cls(entries)


def parse_tokens_file(path: Path) -> dict[str, Principal]:
    key = "http.tokens_file"
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{key}: {path}: {exc}") from None
    items = doc.get("tokens", [])
    if not isinstance(items, list):
        raise ConfigError(f"{key}: {path}: expected [[tokens]] entries")
    return parse_entries(items, f"{key} {path}")


def parse_entries(items: list[Any], where: str) -> dict[str, Principal]:
    out: dict[str, Principal] = {}
    for n, item in enumerate(items, start=1):
        at = f"{where}: token entry {n}"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: expected a table")
        unknown = set(item) - {"name", "role", "token", "sha256", "agent"}
        if unknown:
            raise ConfigError(f"{at}: unknown key {sorted(unknown)[0]!r}")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{at}: 'name' must be a non-empty string")
        try:
            role = Role(str(item.get("role")))
        except ValueError:
            raise ConfigError(f"{at} ({name}): 'role' must be admin, supervisor or agent") from None
        token, hashed = item.get("token"), item.get("sha256")
        if (token is None) == (hashed is None):
            raise ConfigError(f"{at} ({name}): give exactly one of 'token' and 'sha256'")
        if token is not None:
            if not isinstance(token, str) or len(token) < MIN_TOKEN_LENGTH:
                raise ConfigError(
                    f"{at} ({name}): 'token' must be at least {MIN_TOKEN_LENGTH} characters"
                )
            key = digest(token)
        else:
            if not isinstance(hashed, str) or len(hashed) != 64:
                raise ConfigError(f"{at} ({name}): 'sha256' must be 64 hex digits")
            try:
                int(hashed, 16)
            except ValueError:
                raise ConfigError(f"{at} ({name}): 'sha256' must be 64 hex digits") from None
            key = hashed.lower()
        agent = item.get("agent")
        if role is Role.AGENT:
            if isinstance(agent, int) and not isinstance(agent, bool):
                agent = str(agent)
            if not isinstance(agent, str) or not agent:
                raise ConfigError(f"{at} ({name}): an agent token needs 'agent' (name or id)")
        elif agent is not None:
            raise ConfigError(f"{at} ({name}): only agent tokens name an 'agent'")
        if key in out:
            raise ConfigError(f"{at} ({name}): the same token is listed twice")
        out[key] = Principal(name, role, agent)
    return out
