"""Configuration: defaults < TOML file < `DIALER_<SECTION>_<KEY>` environment variables.

Loaded once at start-up and passed explicitly. Every value is checked here; a bad one raises
`ConfigError` naming the key (`pbx.port: expected an integer from 1 to 65535, got 'abc'`), and
the daemon stops with that message. Secrets (the AMI/ESL secret, the database password) never
appear in `repr`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import socket
import ssl
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dialer import pbx_registry
from dialer.domain import pbx_values
from dialer.domain.breaker import BreakerSettings
from dialer.domain.identity import check_name
from dialer.pacing.base import TAKE_BACK_OVER


class ConfigError(Exception):
    """An invalid configuration value; the message names the key."""


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = field(default="postgresql+asyncpg://postgres@127.0.0.1:5432/dialer", repr=False)
    connect_timeout_s: float = 5.0
    retry_for_s: float = 30.0  # how long start-up keeps trying an unreachable database

    def __repr__(self) -> str:
        url = mask_url(self.url)
        return f"DatabaseSettings(url={url!r}, connect_timeout_s={self.connect_timeout_s})"

    def check(self) -> None:
        if not self.url.startswith("postgresql+asyncpg://"):
            raise ConfigError(
                f"database.url: expected a postgresql+asyncpg:// URL, got {mask_url(self.url)!r}"
            )
        _positive("database.connect_timeout_s", self.connect_timeout_s)
        _non_negative("database.retry_for_s", self.retry_for_s)


@dataclass(frozen=True, slots=True)
class PbxSettings:
    kind: str = "asterisk"  # an adapter registered under that name (dialer/pbx_registry.py)
    host: str = "127.0.0.1"
    port: int = (
        0  # 0: the kind's usual port (its adapter says: AMI 5038, ESL 8021; AMI over TLS 5039)
    )
    username: str = "dialer"
    secret: str = field(default="", repr=False)
    connect_timeout_s: float = 5.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 10.0
    customer_context: str = "dialer-customer"
    agent_context: str = "dialer-agent"
    abandon_context: str = "dialer-abandon"
    # AMI over TLS (Asterisk's manager.conf `tlsenable`; port 0 then means 5039). The PBX's
    # certificate is checked against `tls_ca` (PEM; empty: the system's trust store) and must
    # name `host`. FreeSWITCH's event socket has no TLS.
    tls: bool = False
    tls_ca: str = ""

    def check(self) -> None:
        known = pbx_registry.known_kinds()
        if self.kind not in known:
            raise ConfigError(f"pbx.kind: {pbx_registry.unknown_kind_message(self.kind, known)}")
        if self.tls and self.kind != "asterisk":
            raise ConfigError("pbx.tls: only Asterisk's AMI speaks TLS (FreeSWITCH's ESL does not)")
        if self.tls_ca and not self.tls:
            raise ConfigError("pbx.tls_ca: set pbx.tls = true too")
        if self.tls_ca and not Path(self.tls_ca).is_file():
            raise ConfigError(f"pbx.tls_ca: {self.tls_ca} is not a readable file")
        if self.tls_ca:
            try:
                ssl.create_default_context(cafile=self.tls_ca)
            except (ssl.SSLError, ValueError) as exc:
                raise ConfigError(
                    f"pbx.tls_ca: {self.tls_ca} holds no PEM certificate: {exc}"
                ) from None
        if self.port != 0:
            _port("pbx.port", self.port)
        if not self.host:
            raise ConfigError("pbx.host: must not be empty")
        if not self.secret:
            raise ConfigError("pbx.secret: must be set (in the file or DIALER_PBX_SECRET)")
        # These go into AMI/ESL lines (Login, Originate Context) and dialplans: the same
        # grammar as values from the API (dialer/domain/pbx_values.py).
        for key in ("username", "customer_context", "agent_context", "abandon_context"):
            try:
                pbx_values.check_name(getattr(self, key), f"pbx.{key}")
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        for key in ("host", "secret"):
            problem = pbx_values.wire_problem(getattr(self, key))
            if problem is not None:
                raise ConfigError(f"pbx.{key}: {problem}")
        _positive("pbx.connect_timeout_s", self.connect_timeout_s)
        _positive("pbx.reconnect_min_s", self.reconnect_min_s)
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ConfigError("pbx.reconnect_max_s: must be at least pbx.reconnect_min_s")


@dataclass(frozen=True, slots=True)
class DialerSettings:
    # This daemon's name (default: the host name). Each start is a new process identity, the
    # name plus its start time (dialer/domain/identity.py); a restarted daemon takes over what
    # its predecessor of the same name left. Two daemons running at once need different names.
    owner: str = ""
    tick_s: float = 0.25  # pacing runs at least this often, and on every event
    lease_batch: int = 50
    lease_s: float = 300.0  # a lease not finished by then may be taken by another daemon
    cdr_flush_s: float = 0.2
    # While the database is away, call records wait in memory up to this many, then go to a
    # spool file under state_dir (also at a stop), replayed when it is back or at the next start.
    cdr_backlog: int = 100_000
    state_dir: str = "/var/lib/dialer"
    drain_timeout_s: float = 30.0  # on stop: how long live calls may run before they are hung up
    autologin_agents: bool = True  # log in the campaign's agents at start
    agent_ring_timeout_s: float = 30.0
    # How often the campaigns table is read for campaigns started, paused, stopped or edited
    # through another daemon (dialer/engine/follow.py); 0: never.
    campaign_poll_s: float = 1.0
    # An agent belongs to one daemon at a time: its lease, renewed every third of this
    # (dialer/domain/ownership.py). A stopped daemon's agents go to another after this long.
    agent_lease_s: float = 15.0
    # Several daemons on one campaign: each adds the others' answers (from their CDRs) to its
    # abandonment windows this often, so the cap holds for the campaign; 0: never.
    abandonment_sync_s: float = 10.0
    # Predictive campaigns hang up the call that has rung longest (at least 15 s) when even one
    # more call would be this many times over the pacer's threshold (dialer/pacing/predictive.py,
    # `cancel_over`): far too many calls ring for the agents to come. 0: never.
    take_back_over: float = TAKE_BACK_OVER
    # The trunk circuit breaker (dialer/domain/breaker.py): a trunk on which breaker_failures
    # of the last breaker_window calls failed (network failures, "unallocated number") gets no
    # calls for breaker_backoff_s, then one probe; each failed probe doubles the pause, up to
    # breaker_max_backoff_s.
    breaker_window: int = 10
    breaker_failures: int = 10
    breaker_backoff_s: float = 30.0
    breaker_max_backoff_s: float = 600.0

    def breaker(self) -> BreakerSettings:
        return BreakerSettings(
            window=self.breaker_window,
            failures=self.breaker_failures,
            backoff_s=self.breaker_backoff_s,
            max_backoff_s=self.breaker_max_backoff_s,
        )

    def check(self) -> None:
        try:
            self.breaker()
        except ValueError as exc:
            raise ConfigError(f"dialer.{exc}") from None
        if self.owner:
            try:
                check_name(self.owner)
            except ValueError as exc:
                raise ConfigError(f"dialer.owner: {exc}") from None
        _positive("dialer.tick_s", self.tick_s)
        _positive("dialer.agent_lease_s", self.agent_lease_s)
        _non_negative("dialer.campaign_poll_s", self.campaign_poll_s)
        _non_negative("dialer.abandonment_sync_s", self.abandonment_sync_s)
        if self.take_back_over != 0.0 and not 1.0 <= self.take_back_over <= 1000.0:
            raise ConfigError(
                f"dialer.take_back_over: expected 0 (never) or 1..1000, got {self.take_back_over}"
            )
        if not 1 <= self.lease_batch <= 10_000:
            raise ConfigError(f"dialer.lease_batch: expected 1..10000, got {self.lease_batch}")
        _positive("dialer.lease_s", self.lease_s)
        _positive("dialer.cdr_flush_s", self.cdr_flush_s)
        if not 1 <= self.cdr_backlog <= 10_000_000:
            raise ConfigError(f"dialer.cdr_backlog: expected 1..10000000, got {self.cdr_backlog}")
        if not self.state_dir:
            raise ConfigError("dialer.state_dir: must name a directory (the CDR spool goes there)")
        _non_negative("dialer.drain_timeout_s", self.drain_timeout_s)
        _positive("dialer.agent_ring_timeout_s", self.agent_ring_timeout_s)

    def spool_path(self) -> Path:
        """This daemon's CDR spool (per name: a restarted daemon replays its predecessor's)."""
        return Path(self.state_dir) / f"cdr-spool-{self.owner_name()}.jsonl"

    def owner_name(self) -> str:
        """The configured daemon name, not a process identity (see `ProcessIdentity`)."""
        return self.owner or socket.gethostname()


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: str = "INFO"
    format: str = "text"  # text | json

    def check(self) -> None:
        if self.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(
                f"log.level: expected DEBUG, INFO, WARNING or ERROR, got {self.level!r}"
            )
        if self.format not in ("text", "json"):
            raise ConfigError(f"log.format: expected 'text' or 'json', got {self.format!r}")


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """The MQTT event publisher (dialer/publish/README.md); off unless `enabled`."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 1883
    topic_prefix: str = "dialer"
    client_id: str = ""  # defaults to "dialer-" + the dialer's owner name
    qos: int = 1
    queue_size: int = 10_000  # events waiting for the broker; the oldest are dropped past this
    stats_interval_s: float = 5.0  # how often the retained campaign statistics are refreshed
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    # A broker that wants a login (best give the password as DIALER_MQTT_PASSWORD), and TLS:
    # `tls_ca` (PEM) turns it on and is what the broker's certificate is checked against.
    username: str = ""
    password: str = field(default="", repr=False)
    tls_ca: str = ""

    def check(self) -> None:
        if not self.host:
            raise ConfigError("mqtt.host: must not be empty")
        if self.password and not self.username:
            raise ConfigError("mqtt.password: set mqtt.username too")
        if self.tls_ca and not Path(self.tls_ca).is_file():
            raise ConfigError(f"mqtt.tls_ca: {self.tls_ca} is not a readable file")
        _port("mqtt.port", self.port)
        prefix = self.topic_prefix
        if not prefix or prefix.startswith("/") or prefix.endswith("/") or "+" in prefix:
            raise ConfigError(f"mqtt.topic_prefix: expected a/b form, got {prefix!r}")
        if "#" in prefix or "\0" in prefix:
            raise ConfigError(f"mqtt.topic_prefix: must not contain wildcards, got {prefix!r}")
        if self.qos not in (0, 1, 2):
            raise ConfigError(f"mqtt.qos: expected 0, 1 or 2, got {self.qos}")
        if not 1 <= self.queue_size <= 1_000_000:
            raise ConfigError(f"mqtt.queue_size: expected 1..1000000, got {self.queue_size}")
        _positive("mqtt.stats_interval_s", self.stats_interval_s)
        _positive("mqtt.reconnect_min_s", self.reconnect_min_s)
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ConfigError("mqtt.reconnect_max_s: must be at least mqtt.reconnect_min_s")


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """The HTTP API (dialer/api/), served in the daemon's own event loop.

    Tokens: `tokens_file` names a TOML file of `[[tokens]]` entries (see
    config/tokens.example.toml); `admin_token` (best set as DIALER_HTTP_ADMIN_TOKEN) adds one
    admin token. Port 0 binds a free port (tests); the bound port is logged.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    tokens_file: str = ""
    admin_token: str = field(default="", repr=False)
    access_log: bool = False
    shutdown_timeout_s: float = 5.0
    # TLS: a certificate chain and its key (PEM files); both or neither. The API on an address
    # other than loopback without TLS needs allow_plain_remote (bearer tokens would cross the
    # network in clear), and is logged as a warning even then.
    tls_cert: str = ""
    tls_key: str = ""
    allow_plain_remote: bool = False
    # Request bodies: every /api route, and lead imports (a CSV or JSON file).
    max_body_bytes: int = 1_048_576
    max_upload_bytes: int = 268_435_456

    @property
    def plain_remote(self) -> bool:
        """Served without TLS on an address other machines may reach."""
        if self.tls_cert:
            return False
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host != "localhost"

    def check(self) -> None:
        if not self.host:
            raise ConfigError("http.host: must not be empty")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("http.tls_cert and http.tls_key: give both or neither")
        for key, path in (("http.tls_cert", self.tls_cert), ("http.tls_key", self.tls_key)):
            if path and not Path(path).is_file():
                raise ConfigError(f"{key}: {path} is not a readable file")
        if self.plain_remote and not self.allow_plain_remote:
            raise ConfigError(
                f"http.host: {self.host} is not a loopback address and there is no TLS "
                "(set http.tls_cert and http.tls_key, or http.allow_plain_remote = true)"
            )
        if not 1024 <= self.max_body_bytes <= self.max_upload_bytes:
            raise ConfigError(
                "http.max_body_bytes: expected at least 1024 and at most http.max_upload_bytes"
            )
        if self.port != 0:
            _port("http.port", self.port)
        _positive("http.shutdown_timeout_s", self.shutdown_timeout_s)
        if self.tokens_file and not Path(self.tokens_file).is_file():
            raise ConfigError(
                f"http.tokens_file: {self.tokens_file} is not a readable file (write one like "
                'config/tokens.example.toml, or set tokens_file = "" and give a token as '
                "DIALER_HTTP_ADMIN_TOKEN)"
            )


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """The web console for agents and supervisors (dialer/console/), served by the HTTP API
    under /console. People sign in with the user accounts of `dialer users`; a session ends
    after `session_idle_s` without a request. Failed sign-ins are limited per name and per
    client address within `signin_window_s`; over a limit, sign-in is refused (429) until the
    oldest failure leaves the window, without checking the password."""

    enabled: bool = True
    session_idle_s: float = 1800.0
    signin_window_s: float = 300.0
    signin_failures_per_name: int = 5
    signin_failures_per_address: int = 20
    language: str = "en"  # the default language of the console's texts: en | ru

    def check(self) -> None:
        _positive("console.session_idle_s", self.session_idle_s)
        _positive("console.signin_window_s", self.signin_window_s)
        for key, value in (
            ("console.signin_failures_per_name", self.signin_failures_per_name),
            ("console.signin_failures_per_address", self.signin_failures_per_address),
        ):
            if value < 1:
                raise ConfigError(f"{key}: must be at least 1, got {value}")
        if self.language not in ("en", "ru"):
            raise ConfigError(f"console.language: expected 'en' or 'ru', got {self.language!r}")


@dataclass(frozen=True, slots=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    pbx: PbxSettings = field(default_factory=PbxSettings)
    dialer: DialerSettings = field(default_factory=DialerSettings)
    log: LogSettings = field(default_factory=LogSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)

    def check(self) -> None:
        self.database.check()
        self.pbx.check()
        self.dialer.check()
        self.log.check()
        self.mqtt.check()
        self.http.check()
        self.console.check()


AMI_TLS_PORT = 5039  # Asterisk's usual `tlsbindaddr` port


_SECTIONS: dict[str, type[Any]] = {
    "database": DatabaseSettings,
    "pbx": PbxSettings,
    "dialer": DialerSettings,
    "log": LogSettings,
    "mqtt": MqttSettings,
    "http": HttpSettings,
    "console": ConsoleSettings,
}


def load(path: Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Read the file (if given), apply `DIALER_*` overrides, check every value."""
    settings = _assemble(path, env)
    settings.check()
    return settings


def load_database(path: Path | None, env: Mapping[str, str] | None = None) -> DatabaseSettings:
    """The database settings only, for the commands that work on the database alone (`dialer
    migrate`, `dialer leads why`, `dialer dnc` ...). The file and the environment are read as
    `load` reads them, but only the database section is checked: a PBX secret or a tokens file
    these commands do not use must not stop them. `dialer run` uses `load`."""
    database = _assemble(path, env).database
    database.check()
    return database


def _assemble(path: Path | None, env: Mapping[str, str] | None) -> Settings:
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None
    for name in raw:
        if name not in _SECTIONS:
            raise ConfigError(f"{name}: unknown section (known: {', '.join(_SECTIONS)})")
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        values = raw.get(name, {})
        if not isinstance(values, dict):
            raise ConfigError(f"{name}: expected a table")
        sections[name] = _build(name, cls, values, env)
    if sections["pbx"].port == 0:
        try:
            default = pbx_registry.adapter_for(sections["pbx"].kind).default_port
        except pbx_registry.UnknownPbxKind:
            default = 0  # check() names the kind and the known ones
        if sections["pbx"].tls and sections["pbx"].kind == "asterisk":
            default = AMI_TLS_PORT
        sections["pbx"] = dataclasses.replace(sections["pbx"], port=default)
    return Settings(**sections)


def _build(section: str, cls: type[Any], values: dict[str, Any], env: Mapping[str, str]) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(f"{section}.{key}: unknown key (known: {', '.join(sorted(known))})")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{section}.{f.name}"
        env_name = f"DIALER_{section}_{f.name}".upper()
        if env_name in env:
            kwargs[f.name] = _coerce(key, hints[f.name], env[env_name], from_env=True)
        elif f.name in values:
            kwargs[f.name] = _coerce(key, hints[f.name], values[f.name], from_env=False)
    return cls(**kwargs)


def _coerce(key: str, typ: Any, value: Any, *, from_env: bool) -> Any:
    if isinstance(typ, types.UnionType):
        typ = next(t for t in typing.get_args(typ) if t is not type(None))
    if typ is bool:
        if isinstance(value, bool):
            return value
        if from_env and str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if from_env and str(value).lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            return (
                int(value)
                if from_env or isinstance(value, int)
                else _fail(key, "an integer", value)
            )
        except ValueError:
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
    if typ is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            if from_env or isinstance(value, int | float):
                return float(value)
            return _fail(key, "a number", value)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if typ is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported setting type {typ!r}")  # pragma: no cover


def _fail(key: str, what: str, value: Any) -> Any:
    raise ConfigError(f"{key}: expected {what}, got {value!r}")


def _positive(key: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{key}: must be greater than 0, got {value}")


def _non_negative(key: str, value: float) -> None:
    if value < 0:
        raise ConfigError(f"{key}: must not be negative, got {value}")


def _port(key: str, value: int) -> None:
    if not 1 <= value <= 65535:
        raise ConfigError(f"{key}: expected an integer from 1 to 65535, got {value}")


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
