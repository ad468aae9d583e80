"""`dialer` subcommands for the calling rules, talking to the database (not the daemon):

    dialer leads why LEAD            dialable now? if not, every reason and until when
    dialer leads history LEAD        every attempt: result, agent, disposition, note
    dialer campaign reasons NAME     the campaign's leads counted by reason
    dialer campaign rules NAME       show or set calling hours, caps, preset, retry rules and
                                     the AMD false-positive rate (UK abandonment estimate)
    dialer dnc list|add|import|remove|opt-out

The database comes from ``--db-url`` or the configuration (``--config``, ``DIALER_DATABASE_URL``);
only the database settings are read and checked.
Exit codes: 0 done, 1 not found or refused, 2 bad usage or configuration, 3 database
unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from dialer import settings
from dialer.domain.results import CallResult
from dialer.rules.abandonment import validate_false_positive_rate
from dialer.rules.caps import Caps
from dialer.rules.dnc import DncSource, normalize
from dialer.rules.policy import CampaignRules, Preset, customise, preset_rules
from dialer.rules.retry import DEFAULT_RESULT_RULES, ResultRule
from dialer.store.records import mask_phone

Job = Callable[[Any, argparse.Namespace], Awaitable[int]]


def _subparsers(sub: Any, name: str, help_: str) -> Any:
    """The subparsers of command `name`, registering the command if nobody has yet (the HTTP
    client's `leads` and `campaign` commands exist already: we add actions to them)."""
    parser = sub.choices.get(name)
    if parser is None:
        parser = sub.add_parser(name, help=help_)
        return parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action in parser._actions:  # argparse keeps a command's subparsers among its actions
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest="action", required=True, metavar="ACTION")


def _db_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, help="TOML configuration file")
    p.add_argument("--db-url", default=None, help="database URL (default: from the config)")


def _cmd(parent: Any, name: str, job: Job, help_: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = parent.add_parser(name, help=help_, description=help_)
    _db_args(p)
    p.set_defaults(func=lambda args: _run(job, args))
    return p


def _run(job: Job, args: argparse.Namespace) -> int:
    from dialer.store.engine import Database
    from dialer.store.errors import NotFound, StoreUnavailable

    try:
        url = args.db_url or settings.load_database(args.config).url
    except settings.ConfigError as exc:
        print(f"dialer: invalid configuration: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        db = Database(url)
        try:
            async with db.transaction() as session:
                return await job(session, args)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except StoreUnavailable as exc:
        print(f"dialer: {exc}", file=sys.stderr)
        return 3
    except (NotFound, ValueError) as exc:
        print(f"dialer: {exc}", file=sys.stderr)
        return 1


def _at(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    value = datetime.fromisoformat(text)
    return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)


async def _campaign_id(session: Any, ref: str) -> int:
    from dialer.store import campaigns as campaign_repo

    if ref.isascii() and ref.isdigit():
        return (await campaign_repo.get_campaign(session, int(ref))).id
    return (await campaign_repo.get_campaign_by_name(session, ref)).id


# -- leads ---------------------------------------------------------------------------------


async def _audit(
    session: Any,
    action: str,
    target: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Record a change made from the database-side CLI, by the operating-system user."""
    from dialer.store import audit

    await audit.record(
        session,
        who=f"cli:{getpass.getuser()}",
        role="cli",
        action=action,
        target=target,
        before=before,
        after=after,
    )


async def _audit_list(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import audit

    found = await audit.entries(
        session, since=_at(args.since) if args.since else None, target=args.target, limit=args.limit
    )
    for entry in reversed(found):
        print(audit.render(entry))
    return 0


async def _why(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import explain

    e = await explain.explain_lead(session, args.lead, _at(args.at))
    print(explain.render_explanation(e))
    return 0


async def _history(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import callbacks as callback_repo
    from dialer.store import explain

    print(explain.render_history(args.lead, await explain.lead_history(session, args.lead)))
    cb = await callback_repo.open_for_lead(session, args.lead)
    if cb is not None:
        print(explain.render_callback(cb))
    return 0


async def _erase(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import erasure

    done = await erasure.erase_lead(session, args.lead, datetime.now(UTC), dnc=args.dnc)
    await _audit(session, "erase", f"lead {args.lead}", after={"dnc": args.dnc})
    print(
        f"lead {done.lead_id} erased: number and fields removed, {done.notes_cleared} notes "
        f"cleared, {done.callbacks_cancelled} callbacks cancelled"
        + ("; the number is on the opt-out list" if done.on_dnc else "")
    )
    return 0


# -- campaigns -----------------------------------------------------------------------------


async def _reasons(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import explain

    cid = await _campaign_id(session, args.name)
    print(
        explain.render_campaign_reasons(await explain.campaign_reasons(session, cid, _at(args.at)))
    )
    return 0


def _show_rules(rules: CampaignRules) -> str:
    days = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    lines = [f"preset: {rules.preset}", f"default time zone: {rules.default_zone}"]
    for name, windows in zip(days, rules.hours.weekdays, strict=True):
        lines.append(f"  {name}: {', '.join(map(str, windows)) or 'no calls'}")
    holidays = ", ".join(d.isoformat() for d in sorted(rules.hours.holidays)) or "none"
    lines.append(f"  holidays: {holidays}")
    lines.append(f"  on holidays: {', '.join(map(str, rules.hours.holiday_windows)) or 'no calls'}")
    caps = ", ".join(f"{k.value}={v}" for k, v in rules.caps.items()) or "none"
    lines.append(f"caps: {caps}")
    fp = rules.effective_amd_false_positive_rate
    source = "default assumption" if rules.amd_false_positive_rate is None else "measured"
    lines.append(f"AMD false-positive rate (UK abandonment estimate): {fp:.1%} ({source})")
    for result, rule in rules.retry.items():
        again = "done" if rule.final else f"again after {rule.retry_after}"
        counts = "" if rule.counts else " (not counted)"
        lines.append(f"  after {result.value}: {again}{counts}")
    return "\n".join(lines)


def _retry_arg(text: str) -> tuple[CallResult, ResultRule]:
    """``busy=10m``, ``no_answer=2h``, ``declined=48h``, ``connected=done``. Whether the
    result counts towards the caps stays the default's (a network failure never does)."""
    name, _, value = text.partition("=")
    result = CallResult(name.strip())
    base = DEFAULT_RESULT_RULES[result]
    value = value.strip()
    if value == "done":
        return result, replace(base, final=True)
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    seconds = float(value[:-1]) * units[value[-1]] if value[-1:] in units else float(value)
    return result, replace(base, final=False, retry_after=timedelta(seconds=seconds))


def _fp_rate_arg(text: str) -> float | None:
    """``0.05`` or ``5%`` (a share of machine verdicts), or ``default``."""
    value = text.strip()
    if value.lower() == "default":
        return None
    try:
        rate = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise ValueError(
            f"--amd-false-positive-rate: expected a share such as 0.05 or 5% (or 'default'), "
            f"got {text!r}"
        ) from None
    return validate_false_positive_rate(rate, "--amd-false-positive-rate")


async def _rules(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import rules_config

    cid = await _campaign_id(session, args.name)
    rules = await rules_config.get_rules(session, cid)
    changed = False
    if args.preset is not None:
        fp_rate = rules.amd_false_positive_rate  # not part of a preset: kept
        rules = preset_rules(
            Preset(args.preset), default_zone=rules.default_zone, holidays=rules.hours.holidays
        )
        rules = replace(rules, amd_false_positive_rate=fp_rate)
        changed = True
    edits: dict[str, Any] = {}
    if args.hours:
        days: list[list[str]] = [[w for w in args.hours.split(",") if w]] * 7
        edits["weekday_hours"] = days
    if args.day:
        current = [[str(w) for w in d] for d in (rules.hours.weekdays)]
        current = edits.get("weekday_hours", current)
        names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        current = [list(d) for d in current]
        for item in args.day:
            name, _, windows = item.partition("=")
            current[names.index(name.strip().lower()[:3])] = [w for w in windows.split(",") if w]
        edits["weekday_hours"] = current
    if args.holiday_hours is not None:
        edits["holiday_hours"] = [w for w in args.holiday_hours.split(",") if w]
    if args.holiday:
        edits["holidays"] = sorted(
            rules.hours.holidays | {date.fromisoformat(d) for d in args.holiday}
        )
    if args.time_zone:
        edits["default_zone"] = args.time_zone
    caps = {k: getattr(args, k) for k in ("per_day", "rolling_24h", "per_week", "per_month")}
    if any(v is not None for v in caps.values()):
        merged = {k: (v if v is not None else getattr(rules.caps, k)) for k, v in caps.items()}
        edits["caps"] = Caps(**{k: (v or None) for k, v in merged.items()})
    if args.retry:
        edits["retry"] = dict(rules.retry_overrides) | dict(_retry_arg(r) for r in args.retry)
    if args.amd_false_positive_rate is not None:
        edits["amd_false_positive_rate"] = _fp_rate_arg(args.amd_false_positive_rate)
    if edits:
        rules = customise(rules, **edits)
        changed = True
    if changed:
        before = await rules_config.get_rules(session, cid)
        await rules_config.set_rules(session, cid, rules)
        await _audit(
            session,
            "rules",
            f"campaign {args.name}",
            before={"rules": _show_rules(before)},
            after={"rules": _show_rules(rules)},
        )
    print(_show_rules(rules))
    return 0


# -- do-not-call ---------------------------------------------------------------------------


async def _dnc_list(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import dnc

    for entry, count in await dnc.list_lists(session):
        scope = "global" if entry.campaign_id is None else f"campaign {entry.campaign_id}"
        print(f"{entry.name:<30} {scope:<14} {count:>9} numbers")
    return 0


async def _target_list(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import dnc

    cid = await _campaign_id(session, args.campaign) if args.campaign else None
    return (await dnc.ensure_list(session, args.list, cid)).id


async def _dnc_add(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import dnc

    list_id = await _target_list(session, args)
    phones = [normalize(p, args.region) for p in args.phone]
    added = await dnc.add_numbers(session, list_id, phones, DncSource(args.source), args.note)
    await _audit(session, "dnc add", f"dnc list {args.list}", after={"added": added})
    print(f"{added} added to {args.list!r} ({len(phones) - added} were listed already)")
    return 0


async def _dnc_import(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import dnc

    list_id = await _target_list(session, args)
    lines = args.file.read_text(encoding="utf-8").splitlines()
    report = await dnc.import_numbers(
        session, list_id, lines, default_region=args.region, source=DncSource(args.source)
    )
    await _audit(session, "dnc import", f"dnc list {args.list}", after={"added": report.added})
    print(
        f"{report.added} added to {args.list!r}, {report.already_listed} listed already, "
        f"{len(report.rejected)} rejected"
    )
    for line, why in report.rejected[:50]:
        print(f"  line {line}: {why}")
    return 0


async def _dnc_remove(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import dnc

    found = await dnc.get_list(session, args.list)
    phone = normalize(args.phone, args.region)
    removed = await dnc.remove_number(session, found.id, phone)
    if removed:
        await _audit(
            session, "dnc remove", f"dnc list {args.list}", before={"number": mask_phone(phone)}
        )
    print("removed" if removed else "not on the list")
    return 0 if removed else 1


async def _dnc_opt_out(session: Any, args: argparse.Namespace) -> int:
    from dialer.store import dnc

    cid = await _campaign_id(session, args.campaign) if args.campaign else None
    phone = normalize(args.phone, args.region)
    target = await dnc.opt_out(session, phone, campaign_id=cid, note=args.note)
    await _audit(
        session, "dnc opt-out", f"dnc list {target.name}", after={"number": mask_phone(phone)}
    )
    print(f"opted out: on list {target.name!r}")
    return 0


def add_commands(sub: Any) -> None:
    """Register the rules subcommands on the `dialer` parser's subparsers."""
    p = _cmd(sub, "audit", _audit_list, "who changed what and when (supervisors, admins, CLI)")
    p.add_argument("--since", help="from this ISO time (UTC if no offset)")
    p.add_argument("--target", help='one thing only, e.g. "campaign spring" or "lead 42"')
    p.add_argument("--limit", type=int, default=100, help="at most this many, newest (100)")
    leads = _subparsers(sub, "leads", "leads")
    p = _cmd(leads, "why", _why, "is the lead dialable now, and if not every reason")
    p.add_argument("lead", type=int, metavar="LEAD")
    p.add_argument("--at", help="evaluate at this ISO time instead of now (UTC if no offset)")
    p = _cmd(leads, "history", _history, "every attempt: result, agent, disposition, note")
    p.add_argument("lead", type=int, metavar="LEAD")
    p = _cmd(
        leads,
        "erase",
        _erase,
        "erase a person's data (number, fields, notes); call records stay, anonymised",
    )
    p.add_argument("lead", type=int, metavar="LEAD")
    p.add_argument("--dnc", action="store_true", help="put the number on the opt-out list first")

    camp = _subparsers(sub, "campaign", "campaigns")
    p = _cmd(camp, "reasons", _reasons, "the campaign's leads counted by reason (why not dialed)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--at", help="evaluate at this ISO time instead of now")
    p = _cmd(camp, "rules", _rules, "show or set calling hours, caps, retry rules, policy preset")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--preset", choices=[x.value for x in Preset], help="start from a preset")
    p.add_argument("--hours", help="every day's windows, e.g. 09:00-12:00,14:00-20:00")
    p.add_argument(
        "--day",
        action="append",
        default=[],
        metavar="DAY=WINDOWS",
        help="one weekday's windows, e.g. sat=10:00-14:00 or sun= (no calls)",
    )
    p.add_argument("--holiday", action="append", default=[], metavar="YYYY-MM-DD")
    p.add_argument("--holiday-hours", metavar="WINDOWS", help="windows on holidays ('' = none)")
    p.add_argument("--time-zone", help="default zone for leads whose zone is unknown")
    for cap in ("per_day", "rolling_24h", "per_week", "per_month"):
        p.add_argument(
            f"--{cap.replace('_', '-')}",
            dest=cap,
            type=int,
            metavar="N",
            help=f"cap {cap} (0 = none)",
        )
    p.add_argument(
        "--retry",
        action="append",
        default=[],
        metavar="RESULT=DELAY",
        help="e.g. busy=10m, no_answer=2h, declined=48h (the refusal period), connected=done",
    )
    p.add_argument(
        "--amd-false-positive-rate",
        metavar="RATE",
        help="share of machine verdicts that were really people, measured (e.g. 0.05 or 5%%; "
        "'default' for the default assumption): the UK abandonment rate's estimate",
    )

    dnc_cmd = sub.add_parser("dnc", help="do-not-call lists")
    dsub = dnc_cmd.add_subparsers(dest="action", required=True, metavar="ACTION")
    _cmd(dsub, "list", _dnc_list, "the lists and their sizes")
    for name, job, text in (
        ("add", _dnc_add, "add numbers to a list (created if new)"),
        ("import", _dnc_import, "import a file, one number per line (created if new)"),
    ):
        p = _cmd(dsub, name, job, text)
        p.add_argument("--list", required=True)
        p.add_argument("--campaign", help="a new list belongs to this campaign (else global)")
        p.add_argument("--region", help="country of national numbers, e.g. US")
        p.add_argument(
            "--source",
            choices=[s.value for s in DncSource],
            default=DncSource.MANUAL.value if name == "add" else DncSource.IMPORT.value,
        )
        if name == "add":
            p.add_argument("phone", nargs="+")
            p.add_argument("--note", default="")
        else:
            p.add_argument("file", type=Path)
    p = _cmd(dsub, "remove", _dnc_remove, "remove a number from a list")
    p.add_argument("--list", required=True)
    p.add_argument("--region")
    p.add_argument("phone")
    p = _cmd(dsub, "opt-out", _dnc_opt_out, "the callee asked not to be called again")
    p.add_argument("phone")
    p.add_argument("--campaign", help="only for this campaign (default: every campaign)")
    p.add_argument("--region")
    p.add_argument("--note", default="")
