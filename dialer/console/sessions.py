"""Console sessions: the cookie's secret, the person it stands for, a CSRF token, idle expiry.

Rules:
- The cookie holds a random 256-bit key; only its SHA-256 is kept here, so a memory dump gives
  no usable cookie.
- Every change made with a session (any method but GET, HEAD, OPTIONS) must carry the
  session's CSRF token in a header: a page of another site can make the browser send the
  cookie, but cannot read the token.
- A session ends `idle_s` after its last request (`get(..., touch=True)` renews it; the event
  stream reads without renewing), when its person signs out, or when the account is disabled or
  its password changed (`end_user`, and the periodic re-check through `credential`).
- Kept in memory: a restarted daemon signs everyone out. Pure: every call takes the time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

COOKIE = "dialer_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_SESSIONS = 10_000  # past this the idlest sessions end first


def credential_of(password_hash: str) -> str:
    """What a session remembers of the password it was opened with (a digest of its hash):
    a changed password ends the sessions opened with the old one."""
    return hashlib.sha256(password_hash.encode()).hexdigest()


@dataclass(slots=True)
class Session:
    user_id: int
    user_name: str
    role: str
    agent_id: int | None
    credential: str
    csrf_token: str
    created_at: float
    last_seen: float
    checked_at: float  # when the account was last read from the database
    key_digest: str = field(default="", repr=False)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class SessionTable:
    def __init__(self, idle_s: float, max_sessions: int = MAX_SESSIONS) -> None:
        self.idle_s = idle_s
        self._max = max_sessions
        self._by_digest: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._by_digest)

    def __repr__(self) -> str:
        return f"SessionTable({len(self._by_digest)} sessions)"

    def open(
        self,
        *,
        user_id: int,
        user_name: str,
        role: str,
        agent_id: int | None,
        credential: str,
        now: float,
    ) -> tuple[str, Session]:
        """A new session: the cookie's value (give it to the browser, keep it nowhere) and the
        session."""
        self._sweep(now)
        while len(self._by_digest) >= self._max:
            idlest = min(self._by_digest.values(), key=lambda s: s.last_seen)
            del self._by_digest[idlest.key_digest]
        key = secrets.token_urlsafe(32)
        session = Session(
            user_id=user_id,
            user_name=user_name,
            role=role,
            agent_id=agent_id,
            credential=credential,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen=now,
            checked_at=now,
            key_digest=_digest(key),
        )
        self._by_digest[session.key_digest] = session
        return key, session

    def get(self, key: str, now: float, *, touch: bool = True) -> Session | None:
        """The live session of a cookie's value, renewed when `touch`; None when there is none
        or it has been idle too long (it ends then)."""
        if not key:
            return None
        digest = _digest(key)
        session = self._by_digest.get(digest)
        if session is None:
            return None
        if now - session.last_seen > self.idle_s:
            del self._by_digest[digest]
            return None
        if touch:
            session.last_seen = now
        return session

    def end(self, key: str) -> Session | None:
        return self._by_digest.pop(_digest(key), None) if key else None

    def end_user(self, user_id: int) -> int:
        """End every session of one account; returns how many there were."""
        gone = [d for d, s in self._by_digest.items() if s.user_id == user_id]
        for d in gone:
            del self._by_digest[d]
        return len(gone)

    def _sweep(self, now: float) -> None:
        stale = [d for d, s in self._by_digest.items() if now - s.last_seen > self.idle_s]
        for d in stale:
            del self._by_digest[d]


def csrf_ok(session: Session, method: str, header: str | None) -> bool:
    """A change made with a session carries the session's CSRF token."""
    if method.upper() in SAFE_METHODS:
        return True
    return header is not None and hmac.compare_digest(
        header.encode("utf-8", "surrogatepass"), session.csrf_token.encode()
    )
