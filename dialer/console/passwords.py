"""Passwords: Argon2id hashes (argon2-cffi, its default parameters: RFC 9106's second
recommended option), checked in constant time. Only hashes are ever stored.

A name that matches no account is checked against a dummy hash, so an answer takes as long for
an unknown name as for a wrong password.
"""

from __future__ import annotations

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 1024


def check_password(password: str) -> str:
    """A new password: 10 to 1024 characters; raises ValueError saying what is wrong."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password has at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"a password has at most {MAX_LENGTH} characters")
    return password


@dataclass(frozen=True, slots=True)
class Checked:
    ok: bool
    needs_rehash: bool = False  # the hash was made with weaker parameters than today's


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash("not a password of anyone's")

    def hash(self, password: str) -> str:
        return self._hasher.hash(check_password(password))

    def verify(self, stored_hash: str | None, password: str) -> Checked:
        """Whether `password` matches `stored_hash` (None: no such account; the dummy hash is
        checked so the time taken says nothing)."""
        if len(password) > MAX_LENGTH:
            return Checked(False)
        try:
            self._hasher.verify(stored_hash or self._dummy, password)
        except (VerificationError, InvalidHashError):
            return Checked(False)
        if stored_hash is None:
            return Checked(False)
        return Checked(True, self._hasher.check_needs_rehash(stored_hash))
