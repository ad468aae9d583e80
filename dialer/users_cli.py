"""`dialer users`: the web console's accounts, on the database (not the daemon):

    dialer users add NAME --role admin|supervisor|agent [--agent AGENT]
    dialer users passwd NAME        a new password (the account's console sessions end)
    dialer users disable NAME       no more sign-ins (its console sessions end)
    dialer users enable NAME
    dialer users list

An agent's account names its agent (`--agent`, its name or id): it acts as that agent only.
The password is asked for twice on the terminal, or read as one line from standard input with
`--password-stdin` (for scripts); it is never a command-line argument, which would show in the
process list. Only its Argon2 hash is stored. Every change is in the audit log.

The database comes from ``--db-url`` or the configuration (``--config``,
``DIALER_DATABASE_URL``), as for the other database commands (dialer/rules_cli.py).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from dialer.rules_cli import _audit, _cmd


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    first = getpass.getpass("new password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _hash(args: argparse.Namespace) -> str:
    from dialer.console.passwords import Passwords

    return Passwords().hash(_read_password(args))


async def _agent_id(session: Any, ref: str) -> int:
    from dialer.api.queries import agent_by_ref

    return (await agent_by_ref(session, ref)).id


async def _add(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import users

    if (args.role == "agent") != (args.agent is not None):
        raise ValueError("an agent's account needs --agent, and only an agent's takes it")
    users.check_user_name(args.name)
    if await users.find_user(session, args.name) is not None:
        raise ValueError(f"a user named {args.name!r} exists")
    agent_id = await _agent_id(session, args.agent) if args.agent is not None else None
    if agent_id is not None:
        taken = [u.name for u in await users.list_users(session) if u.agent_id == agent_id]
        if taken:
            raise ValueError(f"agent {args.agent} has an account already ({taken[0]})")
    user = await users.create_user(
        session, name=args.name, role=args.role, password_hash=_hash(args), agent_id=agent_id
    )
    await _audit(
        session,
        "create",
        f"user {user.name}",
        after={"role": user.role, "agent_id": user.agent_id},
    )
    print(f"user {user.name} ({user.role}{_agent_text(user)}) created")
    return 0


def _agent_text(user: Any) -> str:
    return f", agent {user.agent_name}" if user.agent_name is not None else ""


async def _passwd(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import users

    user = await users.user_by_name(session, args.name)
    await users.set_password_hash(session, user.id, _hash(args))
    await _audit(session, "set password", f"user {user.name}")
    print(f"password of {user.name} changed")
    return 0


async def _set_disabled(session: Any, args: argparse.Namespace, disabled: bool) -> int:
    from dialer.store import users

    user = await users.user_by_name(session, args.name)
    await users.set_disabled(session, user.id, disabled)
    await _audit(
        session,
        "disable" if disabled else "enable",
        f"user {user.name}",
        before={"disabled": user.disabled},
        after={"disabled": disabled},
    )
    print(f"user {user.name} {'disabled' if disabled else 'enabled'}")
    return 0


async def _disable(session: Any, args: argparse.Namespace) -> int:
    return await _set_disabled(session, args, True)


async def _enable(session: Any, args: argparse.Namespace) -> int:
    return await _set_disabled(session, args, False)


async def _list(session: Any, args: argparse.Namespace) -> int:
    from dialer.client.render import table
    from dialer.store import users

    rows = [
        {
            "name": u.name,
            "role": u.role,
            "agent": u.agent_name,
            "status": "disabled" if u.disabled else "active",
            "changed": f"{u.updated_at:%Y-%m-%d %H:%M}",
        }
        for u in await users.list_users(session)
    ]
    columns = [(k, k) for k in ("name", "role", "agent", "status", "changed")]
    print(table(rows, columns))
    return 0


def add_commands(sub: Any) -> None:
    """Register `dialer users` on the `dialer` parser's subparsers."""
    parser = sub.add_parser("users", help="the web console's accounts (on the database)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = _cmd(actions, "add", _add, "create an account (the password is asked for)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--role", required=True, choices=["admin", "supervisor", "agent"])
    p.add_argument("--agent", help="for role agent: the agent it acts as (name or id)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p = _cmd(actions, "passwd", _passwd, "set a new password (asked for)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p = _cmd(actions, "disable", _disable, "no more sign-ins for the account")
    p.add_argument("name", metavar="NAME")
    p = _cmd(actions, "enable", _enable, "allow the account's sign-ins again")
    p.add_argument("name", metavar="NAME")
    _cmd(actions, "list", _list, "every account, its role, agent and status")
