"""People who sign in to the web console: name, role, password hash, the agent an agent's
account acts as, and whether the account is disabled.

Only hashes are stored (dialer.console.passwords makes and checks them); this module never sees
a password. The database enforces that an agent's account names exactly one agent and that
only agents' accounts name one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.store.errors import NotFound
from dialer.store.tables import USER_ROLES, agents, users


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: str  # admin | supervisor | agent
    password_hash: str
    agent_id: int | None
    agent_name: str | None
    disabled: bool
    created_at: datetime
    updated_at: datetime

    def __repr__(self) -> str:  # the hash stays out of logs and tracebacks
        return f"User(id={self.id}, name={self.name!r}, role={self.role!r})"


_COLUMNS = (
    users.c.id,
    users.c.name,
    users.c.role,
    users.c.password_hash,
    users.c.agent_id,
    agents.c.name.label("agent_name"),
    users.c.disabled,
    users.c.created_at,
    users.c.updated_at,
)


def _user(row: Any) -> User:
    return User(
        id=row.id,
        name=row.name,
        role=row.role,
        password_hash=row.password_hash,
        agent_id=row.agent_id,
        agent_name=row.agent_name,
        disabled=row.disabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _select() -> Any:
    return select(*_COLUMNS).select_from(users.outerjoin(agents, agents.c.id == users.c.agent_id))


def check_user_name(name: str) -> str:
    """A user's name: 1 to 100 printable characters, no surrounding spaces; raises ValueError."""
    if not 1 <= len(name) <= 100:
        raise ValueError("a user's name has 1 to 100 characters")
    if name != name.strip() or not name.isprintable():
        raise ValueError("a user's name has no control characters nor surrounding spaces")
    return name


async def create_user(
    session: AsyncSession,
    *,
    name: str,
    role: str,
    password_hash: str,
    agent_id: int | None = None,
) -> User:
    check_user_name(name)
    if role not in USER_ROLES:
        raise ValueError(f"role must be one of {', '.join(USER_ROLES)}, got {role!r}")
    if (role == "agent") != (agent_id is not None):
        raise ValueError("an agent's account names its agent, and only an agent's does")
    new_id = (
        await session.execute(
            insert(users)
            .values(name=name, role=role, password_hash=password_hash, agent_id=agent_id)
            .returning(users.c.id)
        )
    ).scalar_one()
    return await get_user(session, int(new_id))


async def get_user(session: AsyncSession, user_id: int) -> User:
    row = (await session.execute(_select().where(users.c.id == user_id))).one_or_none()
    if row is None:
        raise NotFound(f"no user with id {user_id}")
    return _user(row)


async def find_user(session: AsyncSession, name: str) -> User | None:
    row = (await session.execute(_select().where(users.c.name == name))).one_or_none()
    return None if row is None else _user(row)


async def user_by_name(session: AsyncSession, name: str) -> User:
    found = await find_user(session, name)
    if found is None:
        raise NotFound(f"no user named {name!r}")
    return found


async def list_users(session: AsyncSession) -> list[User]:
    rows = await session.execute(_select().order_by(users.c.name))
    return [_user(r) for r in rows]


async def set_password_hash(session: AsyncSession, user_id: int, password_hash: str) -> None:
    await _update(session, user_id, password_hash=password_hash)


async def set_disabled(session: AsyncSession, user_id: int, disabled: bool) -> None:
    await _update(session, user_id, disabled=disabled)


async def _update(session: AsyncSession, user_id: int, **values: object) -> None:
    done = await session.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(**values, updated_at=func.now())
        .returning(users.c.id)
    )
    if done.first() is None:
        raise NotFound(f"no user with id {user_id}")
