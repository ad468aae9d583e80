"""The `dialer` command: run the daemon, migrate the database, simulate pacing."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from dialer import __version__, logs, settings


def _run(args: argparse.Namespace) -> int:
    try:
        cfg = settings.load(args.config)
    except settings.ConfigError as exc:
        print(f"dialer: invalid configuration: {exc}", file=sys.stderr)
        return 2
    logs.setup(args.log_level or cfg.log.level, cfg.log.format)
    from dialer.app import App

    return asyncio.run(App(cfg).serve())


def _migrate(args: argparse.Namespace) -> int:
    from dialer.store.errors import DatabaseMissing, StoreUnavailable
    from dialer.store.migrate import create_command, create_database, upgrade

    try:
        url = args.url or settings.load_database(args.config).url
    except settings.ConfigError as exc:
        print(f"dialer: invalid configuration: {exc}", file=sys.stderr)
        return 2
    try:
        try:
            upgrade(url, args.revision)
        except DatabaseMissing as exc:
            if not args.create:
                print(
                    f"dialer: {exc}; create it with `dialer migrate --create` (the role needs "
                    f"CREATEDB) or `{create_command(url)}`, then run `dialer migrate` again",
                    file=sys.stderr,
                )
                return 3
            create_database(url)
            print(f'created database "{exc.database}" on the server at {exc.server}')
            upgrade(url, args.revision)
    except StoreUnavailable as exc:
        print(f"dialer: {exc}", file=sys.stderr)
        return 3
    print(f"database migrated to {args.revision}")
    return 0


def _add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    from dialer.sim import cli as sim_cli

    sim_cli.add_arguments(parser)
    parser.set_defaults(func=sim_cli.run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dialer", description="Predictive dialer for Asterisk and FreeSWITCH."
    )
    parser.add_argument("--version", action="version", version=f"dialer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the dialer daemon")
    run.add_argument(
        "--config", type=Path, default=None, help="TOML configuration file (see config/)"
    )
    run.add_argument("--log-level", default=None, help="override log.level")
    run.set_defaults(func=_run)

    db = sub.add_parser("migrate", help="apply the database migrations (Alembic)")
    db.add_argument("--config", type=Path, default=None, help="TOML file; only [database] is read")
    db.add_argument("--url", default=None, help="database URL (default: from the config)")
    db.add_argument("--revision", default="head")
    db.add_argument(
        "--create",
        action="store_true",
        help="create the database first if it does not exist (the role needs CREATEDB)",
    )
    db.set_defaults(func=_migrate)

    simulate = sub.add_parser("simulate", help="run the pacing simulator on a scenario")
    _add_simulate_arguments(simulate)

    from dialer.client.commands import add_commands  # the running daemon's API

    add_commands(sub)

    from dialer import rules_cli  # on the database: leads why/history, campaign reasons/rules, dnc

    rules_cli.add_commands(sub)

    from dialer import users_cli  # on the database: the web console's accounts

    users_cli.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
