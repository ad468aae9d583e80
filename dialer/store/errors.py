"""The errors the store raises: one root, so callers can catch the store as a whole."""

from __future__ import annotations


class StoreError(Exception):
    """Root of the errors raised by `dialer.store`."""


class StoreUnavailable(StoreError):
    """Postgres cannot be reached (refused, timed out, connection lost, or it refused us).

    `target` is ``host:port/database`` (never the password), so the daemon can log
    "database unreachable at 127.0.0.1:5432/dialer" and retry with back-off.
    """

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"database unreachable at {target}: {reason}")
        self.target = target
        self.reason = reason


class StoreRefused(StoreError):
    """Postgres refused the statement for its data (a key that vanished, a value out of
    range): writing it again will not help. The message is the database's, never the bound
    values (they may hold personal data)."""


class DatabaseMissing(StoreError):
    """The server answered, but the database the URL names does not exist (`target` is
    ``host:port/database``)."""

    def __init__(self, target: str, database: str) -> None:
        server = target.rsplit("/", 1)[0]
        super().__init__(f'database "{database}" does not exist on the server at {server}')
        self.target = target
        self.server = server
        self.database = database


class NotFound(StoreError):
    """A row the caller named (campaign, list, attempt, agent ...) does not exist."""


class UnknownDispositionCode(StoreError):
    """A disposition code that is not in the attempt's campaign's list of codes."""

    def __init__(self, code: str, campaign_id: int, allowed: tuple[str, ...]) -> None:
        listed = ", ".join(allowed) if allowed else "none defined"
        super().__init__(
            f"disposition code {code!r} is not one of campaign {campaign_id}'s codes ({listed})"
        )
        self.code = code
        self.campaign_id = campaign_id
        self.allowed = allowed
