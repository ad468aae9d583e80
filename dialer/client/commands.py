"""`dialer` subcommands that talk to the running daemon's HTTP API.

The daemon's address and a token come from ``--url``/``--token`` or the environment
(DIALER_API_URL, DIALER_API_TOKEN; prefer the environment for the token: a flag shows in the
process list). Output is a table for people, or JSON with ``--json``.

Exit codes: 0 done, 1 the API refused (the message says why), 2 bad usage, 3 the daemon could
not be reached.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dialer.client.http import DEFAULT_URL, TOKEN_ENV, URL_ENV, ApiClient, ClientError
from dialer.client.render import ProgressBar, cell, pairs, percent, table
from dialer.domain import pbx_values

_DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "tab", "pipe": "|"}
EXIT_REFUSED = 1
EXIT_UNREACHABLE = 3

Handler = Callable[[ApiClient, argparse.Namespace], Any]


def _pbx_value(check: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse type checking a value bound for the PBX with the daemon's own grammar, so a
    bad one is refused here with the same reason the API would give."""

    def parse(raw: str) -> str:
        try:
            return check(raw)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


_ENDPOINT = _pbx_value(pbx_values.check_name)
_DIAL_PREFIX = _pbx_value(pbx_values.check_dial_prefix)
_CALLER_ID = _pbx_value(pbx_values.check_caller_id)
_CALLBACK_NUMBER = _pbx_value(pbx_values.check_callback_number)
_NAME_PROMPT = _pbx_value(pbx_values.check_sound_name)
_MACHINE_MESSAGE = _pbx_value(lambda raw: pbx_values.check_sound_name(raw, "machine_message"))


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument(
        "--url",
        default=os.environ.get(URL_ENV, DEFAULT_URL),
        help=f"the daemon's API (default: ${URL_ENV} or {DEFAULT_URL})",
    )
    group.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"bearer token (default: ${TOKEN_ENV}; prefer the variable)",
    )
    group.add_argument("--json", action="store_true", help="print JSON, for scripts")
    return common


def add_commands(sub: Any) -> None:
    """Register the API subcommands on the `dialer` parser's subparsers."""
    common = _common()

    def cmd(
        parent: Any, name: str, handler: Handler, help_: str, desc: str | None = None
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(
            name, parents=[common], help=help_, description=desc or help_
        )
        p.set_defaults(func=lambda args: _run(handler, args))
        return p

    # campaigns
    camp = sub.add_parser(
        "campaign",
        help="create, edit, start, pause, resume, stop campaigns; statistics",
        description="Campaigns. NAME may also be the campaign's numeric id.",
    )
    csub = camp.add_subparsers(dest="action", required=True, metavar="ACTION")
    cmd(csub, "list", _campaign_list, "list campaigns")
    p = cmd(csub, "show", _campaign_show, "show one campaign")
    p.add_argument("name", metavar="NAME")
    p = cmd(csub, "create", _campaign_create, "create a campaign (status draft)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--trunk", required=True, help="trunk name or id")
    p.add_argument(
        "--caller-id",
        type=_CALLER_ID,
        help="number shown to the called party (default: the trunk's; one of the two is needed "
        "to start the campaign)",
    )
    _campaign_options(p)
    p.add_argument(
        "--disposition",
        action="append",
        default=[],
        metavar="CODE[=LABEL]",
        help="a result agents may give calls (repeat for each)",
    )
    p = cmd(csub, "edit", _campaign_edit, "change a campaign's settings (at once)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--rename", help="new name")
    p.add_argument("--trunk", help="trunk name or id")
    p.add_argument("--caller-id", type=_CALLER_ID, help="'' to use the trunk's")
    _campaign_options(p)
    for action, text in (
        ("start", "start dialing (the campaign's agents are called to log in)"),
        ("pause", "no new calls; calls in progress go on"),
        ("resume", "dial again after a pause"),
        ("stop", "stop: no new calls, leased leads go back to the list"),
    ):
        p = cmd(csub, action, _campaign_action(action), text)
        p.add_argument("name", metavar="NAME")
    p = cmd(csub, "stats", _campaign_stats, "live statistics")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--window", type=float, default=3600.0, help="seconds (default 3600)")
    p = cmd(csub, "dispositions", _campaign_dispositions, "list or add disposition codes")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--add", action="append", default=[], metavar="CODE[=LABEL]")

    # leads
    leads = sub.add_parser("leads", help="import leads, list a campaign's lists")
    lsub = leads.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = cmd(
        lsub,
        "import",
        _leads_import,
        "import a CSV or JSON file of leads into a campaign's list",
        "Import leads. Numbers are normalised to E.164 (national numbers need --region or a "
        "country column); the time zone comes from a time zone column or from the number. "
        "Rows that are rejected are listed with their line number and reason; the others are "
        "stored.",
    )
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--campaign", required=True, help="campaign name or id")
    p.add_argument("--list", default="default", help="list name (created if new)")
    p.add_argument("--region", help="default country of national numbers, e.g. US, FR, GB")
    p.add_argument("--time-zone", default="UTC", help="zone when the number does not tell")
    p.add_argument(
        "--check",
        choices=("valid", "possible", "format"),
        default="valid",
        help="valid: assigned numbers only (default); possible: right length; "
        "format: any E.164 (test numbers)",
    )
    p.add_argument("--format", choices=("csv", "json"), help="default: from the file name")
    p.add_argument(
        "--delimiter", choices=tuple(_DELIMITERS), help="default: sniffed from the header"
    )
    p.add_argument("--phone-column", help="the phone column's name, if not phone/number/...")
    p.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress bar on stderr (auto: when it is a terminal)",
    )
    p.add_argument(
        "--show-rejected",
        type=int,
        default=50,
        metavar="N",
        help="rejected rows to print (default 50; all with --json or --rejected-file)",
    )
    p.add_argument("--rejected-file", type=Path, help="write every rejected row to this CSV")
    p = cmd(lsub, "lists", _leads_lists, "a campaign's lists and their leads by status")
    p.add_argument("--campaign", required=True)

    # agents
    def add_move(parent: Any) -> None:
        help_ = "move an agent to another campaign (after its current call and wrap-up if busy)"
        p = cmd(parent, "move", _agent_move, help_)
        p.add_argument("agent", metavar="AGENT", help="the agent's name or id")
        p.add_argument("target", metavar="CAMPAIGN", help="the campaign's name or id")

    agents = cmd(sub, "agents", _agents_list, "agents and their live state; move one")
    agents.add_argument("--campaign", help="only this campaign's agents")
    add_move(agents.add_subparsers(dest="action", required=False, metavar="ACTION"))
    agent = sub.add_parser(
        "agent",
        help="create an agent; log in, ready, pause, log out; move; dispositions",
        description="One agent. AGENT is its name or id.",
    )
    asub = agent.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = cmd(asub, "create", _agent_create, "create an agent")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--endpoint", required=True, type=_ENDPOINT, help="the headset's SIP endpoint")
    p.add_argument("--campaign", help="campaign name or id")
    p = cmd(asub, "show", _agent_action("show"), "show an agent")
    p.add_argument("agent", metavar="AGENT")
    for action, text in (
        ("login", "log in: the daemon calls the headset"),
        ("ready", "ready for calls (ends a pause)"),
        ("logout", "log out (after the current call and wrap-up)"),
    ):
        p = cmd(asub, action, _agent_action(action), text)
        p.add_argument("agent", metavar="AGENT")
    p = cmd(asub, "pause", _agent_action("pause"), "pause (after the current call)")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("--reason", required=True)
    add_move(asub)
    p = cmd(asub, "dispose", _agent_dispose, "give the current or last call a result")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("code", metavar="CODE", help="one of the campaign's disposition codes")
    p.add_argument("--note", default="")
    p.add_argument("--call", help="the call's id (default: the agent's current or last)")

    # callbacks
    p = cmd(sub, "callback", _callback, "schedule a callback for a lead")
    p.add_argument("lead", type=int, metavar="LEAD_ID")
    p.add_argument("--at", required=True, help="ISO time with offset, e.g. 2030-01-06T15:00+01:00")
    p.add_argument("--agent", help="give it to this agent (default: anyone)")
    p.add_argument("--note", default="")
    cmd(sub, "callbacks", _callbacks, "leads with a callback").add_argument("--campaign")

    # trunks, PBX, status
    cmd(sub, "trunks", _trunks, "trunks with channel limits and channels in use")
    trunk = sub.add_parser("trunk", help="add or change a trunk (admin)")
    tsub = trunk.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = cmd(tsub, "create", _trunk_create, "add a trunk")
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--endpoint", required=True, type=_ENDPOINT, help="the PBX's name for it (PJSIP endpoint)"
    )
    p.add_argument("--max-channels", type=int, required=True)
    p.add_argument("--max-cps", type=float, required=True, help="calls started per second")
    p.add_argument(
        "--prefix", default="", type=_DIAL_PREFIX, help="digits dialled before each number"
    )
    p.add_argument(
        "--caller-id",
        default="",
        type=_CALLER_ID,
        help="number shown by campaigns that have no caller ID",
    )
    p = cmd(tsub, "edit", _trunk_edit, "change a trunk's limits")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--endpoint", type=_ENDPOINT)
    p.add_argument("--max-channels", type=int)
    p.add_argument("--max-cps", type=float)
    p.add_argument("--prefix", type=_DIAL_PREFIX)
    p.add_argument("--caller-id", type=_CALLER_ID, help="'' for none")
    cmd(sub, "status", _status, "the daemon: PBX link, campaigns, agents")


def _campaign_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pacing", choices=("preview", "progressive", "power", "predictive"), default=None
    )
    p.add_argument("--ring-timeout", type=float, help="seconds")
    p.add_argument("--max-attempts", type=int)
    p.add_argument("--wrapup", type=float, help="seconds of wrap-up after each call")
    p.add_argument("--hold", type=float, help="seconds an answered call may wait (<= 2)")
    p.add_argument(
        "--callback-number",
        type=_CALLBACK_NUMBER,
        help="number an abandoned callee is asked to call back, E.164 (e.g. +442079460123); "
        "'' for none: the caller ID is said",
    )
    p.add_argument(
        "--name-prompt",
        type=_NAME_PROMPT,
        help="the campaign's name as a PBX sound said in the abandon message (e.g. "
        "dialer/campaign-7; see deploy/asterisk/README.md); '' for none",
    )
    p.add_argument(
        "--amd",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="answering-machine detection on answered calls (--no-amd: off)",
    )
    p.add_argument(
        "--machine-message",
        type=_MACHINE_MESSAGE,
        help="with --amd: the PBX sound left on a machine after its beep (e.g. "
        "dialer/machine-message); '' : hang up on machines",
    )
    p.add_argument(
        "--network-failure-cap",
        type=int,
        help="calls in a row failing on the network before a number ends unreachable "
        "(default 5; they do not count towards --max-attempts)",
    )
    p.add_argument(
        "--cause",
        action="append",
        default=[],
        metavar="sip:CODE=RESULT|q850:CODE=RESULT",
        help="what a carrier's answer means, instead of the default (repeatable; e.g. "
        "sip:603=no_answer; results: invalid, declined, unavailable, busy, no_answer, failed)",
    )


def _cause_results(values: list[str]) -> dict[str, dict[str, str]]:
    """`sip:603=no_answer q850:21=no_answer` -> the API's cause_results."""
    out: dict[str, dict[str, str]] = {}
    for value in values:
        key, _, result = value.partition("=")
        kind, _, code = key.partition(":")
        if kind not in ("sip", "q850") or not code or not result:
            raise argparse.ArgumentTypeError(
                f"--cause {value!r}: expected sip:CODE=RESULT or q850:CODE=RESULT"
            )
        out.setdefault(kind, {})[code] = result
    return out


def _run(handler: Handler, args: argparse.Namespace) -> int:
    try:
        with ApiClient(args.url, args.token) as client:
            result = handler(client, args)
    except ClientError as exc:
        print(f"dialer: {exc.message}", file=sys.stderr)
        if exc.status == 401 and not args.token:
            print(f"dialer: set ${TOKEN_ENV} or pass --token", file=sys.stderr)
        return EXIT_UNREACHABLE if exc.status == 0 else EXIT_REFUSED
    except OSError as exc:
        print(f"dialer: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if isinstance(result, int):
        return result
    return 0


def _out(args: argparse.Namespace, data: Any, human: Callable[[Any], str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print(human(data))


# -- campaigns --------------------------------------------------------------------------------

_CAMPAIGN_COLUMNS = (
    ("id", "id"),
    ("name", "name"),
    ("status", "status"),
    ("pacing_mode", "pacing"),
    ("trunk_id", "trunk"),
    ("caller_id", "caller id"),
    ("max_attempts", "attempts"),
)


def _ref(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _campaign_list(c: ApiClient, args: argparse.Namespace) -> None:
    _out(args, c.get("/campaigns"), lambda rows: table(rows, _CAMPAIGN_COLUMNS))


def _show_campaign(data: dict[str, Any]) -> str:
    return pairs(list(data.items()))


def _campaign_show(c: ApiClient, args: argparse.Namespace) -> None:
    _out(args, c.get(f"/campaigns/{_ref(args.name)}"), _show_campaign)


def _codes(values: list[str]) -> list[dict[str, str]]:
    out = []
    for value in values:
        code, _, label = value.partition("=")
        out.append({"code": code, "label": label})
    return out


def _settings_body(args: argparse.Namespace) -> dict[str, Any]:
    body = {
        "pacing_mode": args.pacing,
        "ring_timeout_s": args.ring_timeout,
        "max_attempts": args.max_attempts,
        "wrapup_s": args.wrapup,
        "hold_s": args.hold,
        "trunk": args.trunk,
        "caller_id": args.caller_id,
        "callback_number": args.callback_number,
        "name_prompt": args.name_prompt,
        "amd_enabled": args.amd,
        "machine_message": args.machine_message,
        "network_failure_cap": args.network_failure_cap,
        "cause_results": _cause_results(args.cause) if args.cause else None,
    }
    return {k: v for k, v in body.items() if v is not None}


def _campaign_create(c: ApiClient, args: argparse.Namespace) -> None:
    body = {"name": args.name, **_settings_body(args), "dispositions": _codes(args.disposition)}
    _out(args, c.post("/campaigns", body), _show_campaign)


def _campaign_edit(c: ApiClient, args: argparse.Namespace) -> None:
    body = _settings_body(args)
    if args.rename:
        body["name"] = args.rename
    _out(
        args,
        c.request("PATCH", f"/campaigns/{_ref(args.name)}", body=body),
        _show_campaign,
    )


def _campaign_action(action: str) -> Handler:
    def run(c: ApiClient, args: argparse.Namespace) -> None:
        data = c.post(f"/campaigns/{_ref(args.name)}/{action}")
        _out(args, data, lambda d: f"campaign {d['name']}: {d['status']}")

    return run


def _campaign_stats(c: ApiClient, args: argparse.Namespace) -> None:
    data = c.get(f"/campaigns/{_ref(args.name)}/stats", window_s=args.window)
    _out(args, data, _show_stats)


def _show_stats(d: dict[str, Any]) -> str:
    live, win, tot = d["live"], d["window"], d["total"]
    head = pairs(
        [
            ("campaign", f"{d['campaign']['name']} ({d['campaign']['status']})"),
            ("dialing here", "yes" if live["loaded"] and not live["paused"] else "no"),
            ("calls in flight", live["calls_in_flight"]),
            ("waiting for agent", live["waiting_for_agent"]),
            ("dial level", live["dial_level"]),
            ("agents", live["agents_by_state"]),
            ("pacing", live["pacing"] or "-"),
        ]
    )
    rows = [
        {"figure": "attempts", "w": win["attempts"], "t": tot["attempts"]},
        {"figure": "answered", "w": win["answered"], "t": tot["answered"]},
        {"figure": "connected", "w": win["connected"], "t": tot["connected"]},
        {"figure": "abandoned", "w": win["abandoned"], "t": tot["abandoned"]},
        {
            "figure": "abandonment rate",
            "w": percent(win["abandonment_rate"]),
            "t": percent(tot["abandonment_rate"]),
        },
        {
            "figure": "contact rate",
            "w": percent(win["contact_rate"]),
            "t": percent(tot["contact_rate"]),
        },
        {"figure": "answer→agent p50 ms", "w": win["latency_p50_ms"], "t": tot["latency_p50_ms"]},
        {"figure": "answer→agent p99 ms", "w": win["latency_p99_ms"], "t": tot["latency_p99_ms"]},
    ]
    window = f"last {cell(d['window_s'])} s"
    figures = table(rows, (("figure", ""), ("w", window), ("t", "all time")))
    out = f"{head}\n\n{figures}\n\nleads: {cell(d['leads'])}"
    if d.get("lists"):
        out += "\n\n" + table(d["lists"], _LIST_COLUMNS)
    if d.get("compliance"):
        out += "\n\n" + _show_compliance(d["compliance"])
    return out


def _show_compliance(c: dict[str, Any]) -> str:
    """Abandonment as the regulators count it: US over life / 30 days, UK over 24 h."""
    fp = c["amd_false_positive_rate"]
    source = "default assumption" if c["amd_false_positive_rate_is_default"] else "measured"
    rows = []
    for key, name in (
        ("life", "life"),
        ("last_30d", "last 30 days"),
        ("last_24h", "last 24 hours"),
        ("worst_24h", "worst 24 hours"),
    ):
        w = c.get(key)
        if w is None:
            continue
        rows.append(
            {
                "span": name if key != "worst_24h" else f"{name} (from {w['start'][:16]})",
                "live": w["connected"] + w["abandoned"],
                "abandoned": w["abandoned"],
                "machines": w["machines"],
                "us": percent(w["us_rate"]),
                "uk": percent(w["uk_rate"]),
            }
        )
    cols = (
        ("span", "abandonment"),
        ("live", "live"),
        ("abandoned", "abandoned"),
        ("machines", "machines"),
        ("us", "US rate"),
        ("uk", "UK rate"),
    )
    return f"{table(rows, cols)}\nUK rate counts {fp:.1%} of machine verdicts as people ({source})"


def _campaign_dispositions(c: ApiClient, args: argparse.Namespace) -> None:
    path = f"/campaigns/{_ref(args.name)}/dispositions"
    data = c.request("PUT", path, body={"codes": _codes(args.add)}) if args.add else c.get(path)
    _out(args, data, lambda rows: table(rows, (("code", "code"), ("label", "label"))))


# -- leads ------------------------------------------------------------------------------------


def _leads_import(c: ApiClient, args: argparse.Namespace) -> int:
    data = args.file.read_bytes()
    fmt = args.format or ("json" if args.file.suffix.lower() == ".json" else "csv")
    show_bar = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    bar = ProgressBar(sys.stderr) if show_bar else None
    try:
        report = c.upload(
            f"/campaigns/{_ref(args.campaign)}/leads",
            data,
            content_type="application/json" if fmt == "json" else "text/csv",
            params={
                "list": args.list,
                "region": args.region,
                "time_zone": args.time_zone,
                "check": args.check,
                "format": fmt,
                "delimiter": _DELIMITERS[args.delimiter] if args.delimiter else None,
                "phone_column": args.phone_column,
            },
            on_progress=bar.update if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.close()
    if args.rejected_file is not None:
        with args.rejected_file.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["line", "code", "reason", "value"])
            for r in report["rejected"]:
                writer.writerow([r["line"], r["code"], r["reason"], r["value"]])
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    counts = report["counts"]
    print(
        f"{report['rows']} rows read from {args.file.name} into list {report['list_name']!r}: "
        f"{report['inserted']} stored, {report['rejected_count']} rejected "
        f"({counts.get('invalid', 0)} invalid, {counts.get('duplicate_in_file', 0)} duplicate "
        f"in the file, {counts.get('already_in_list', 0)} already in the list, "
        f"{counts.get('bad_field', 0)} bad field) in {report['seconds']:.2f} s"
    )
    print(f"time zones: {cell(report['zone_sources'])}; blank lines: {report['blank_lines']}")
    rejected = report["rejected"]
    if rejected and args.show_rejected > 0:
        shown = rejected[: args.show_rejected]
        print()
        print(table(shown, (("line", "line"), ("reason", "reason"), ("value", "value as written"))))
        if len(rejected) > len(shown):
            print(f"... and {len(rejected) - len(shown)} more (--rejected-file FILE for all)")
    return 0


def _leads_lists(c: ApiClient, args: argparse.Namespace) -> None:
    data = c.get(f"/campaigns/{_ref(args.campaign)}/lists")
    _out(args, data, lambda rows: table(rows, _LIST_COLUMNS))


_LIST_COLUMNS = (
    ("id", "id"),
    ("name", "name"),
    ("leads", "leads"),
    ("invalid", "invalid numbers"),
    ("unreachable", "unreachable"),
)


# -- agents -----------------------------------------------------------------------------------

_AGENT_COLUMNS = (
    ("id", "id"),
    ("name", "name"),
    ("sip_endpoint", "endpoint"),
    ("campaign_id", "campaign"),
    ("state", "state"),
    ("pause_reason", "pause reason"),
    ("calls", "calls"),
    ("owner", "owner"),
)


def _agents_list(c: ApiClient, args: argparse.Namespace) -> None:
    _out(args, c.get("/agents", campaign=args.campaign), lambda r: table(r, _AGENT_COLUMNS))


def _agent_create(c: ApiClient, args: argparse.Namespace) -> None:
    body = {"name": args.name, "sip_endpoint": args.endpoint, "campaign": args.campaign}
    _out(args, c.post("/agents", body), lambda d: pairs(list(d.items())))


def _agent_action(action: str) -> Handler:
    def run(c: ApiClient, args: argparse.Namespace) -> None:
        path = f"/agents/{_ref(args.agent)}"
        if action == "show":
            data = c.get(path)
        elif action == "pause":
            data = c.post(f"{path}/pause", {"reason": args.reason})
        else:
            data = c.post(f"{path}/{action}")
        _out(args, data, lambda d: f"agent {d['name']}: {d['state']}")

    return run


def _agent_move(c: ApiClient, args: argparse.Namespace) -> None:
    path = f"/agents/{_ref(args.agent)}/campaign"
    data = c.request("PUT", path, body={"campaign": args.target})
    when = "now" if data.get("moved") == "now" else "after its current call and wrap-up"
    _out(args, data, lambda d: f"agent {d['name']}: moved to campaign {d['campaign_id']} {when}")


def _agent_dispose(c: ApiClient, args: argparse.Namespace) -> None:
    body = {"code": args.code, "note": args.note, "attempt_id": args.call}
    data = c.post(f"/agents/{_ref(args.agent)}/disposition", body)
    _out(args, data, lambda d: f"call {d['attempt_id']}: {d['code']}")


def _callback(c: ApiClient, args: argparse.Namespace) -> None:
    body = {"lead_id": args.lead, "at": args.at, "agent": args.agent, "note": args.note}
    data = c.post("/callbacks", body)
    _out(args, data, lambda d: f"lead {d['lead_id']}: callback {d['id']} at {d['at']}")


def _callbacks(c: ApiClient, args: argparse.Namespace) -> None:
    columns = (
        ("id", "id"),
        ("lead_id", "lead"),
        ("campaign_id", "campaign"),
        ("at", "due at"),
        ("agent_name", "agent"),
        ("status", "status"),
        ("by", "by"),
        ("note", "note"),
    )
    _out(args, c.get("/callbacks", campaign=args.campaign), lambda r: table(r, columns))


# -- trunks and status ------------------------------------------------------------------------

_TRUNK_COLUMNS = (
    ("id", "id"),
    ("name", "name"),
    ("endpoint", "endpoint"),
    ("in_use", "in use"),
    ("max_channels", "channels"),
    ("max_cps", "max cps"),
    ("dial_prefix", "prefix"),
    ("caller_id", "caller id"),
)


def _trunks(c: ApiClient, args: argparse.Namespace) -> None:
    _out(args, c.get("/trunks"), lambda rows: table(rows, _TRUNK_COLUMNS))


def _trunk_create(c: ApiClient, args: argparse.Namespace) -> None:
    body = {
        "name": args.name,
        "endpoint": args.endpoint,
        "max_channels": args.max_channels,
        "max_cps": args.max_cps,
        "dial_prefix": args.prefix,
        "caller_id": args.caller_id,
    }
    _out(args, c.post("/trunks", body), lambda d: table([d], _TRUNK_COLUMNS))


def _trunk_edit(c: ApiClient, args: argparse.Namespace) -> None:
    body = {
        "endpoint": args.endpoint,
        "max_channels": args.max_channels,
        "max_cps": args.max_cps,
        "dial_prefix": args.prefix,
        "caller_id": args.caller_id,
    }
    body = {k: v for k, v in body.items() if v is not None}
    data = c.request("PATCH", f"/trunks/{_ref(args.name)}", body=body)
    _out(args, data, lambda d: table([d], _TRUNK_COLUMNS))


def _status(c: ApiClient, args: argparse.Namespace) -> None:
    _out(args, c.get("/status"), _show_status)


def _show_status(d: dict[str, Any]) -> str:
    pbx = d["pbx"]
    link = "connected" if pbx["connected"] else "DISCONNECTED"
    head = pairs(
        [
            (
                "dialer",
                f"{d['version']}, up {cell(d['uptime_s'])} s"
                + (" (stopping)" if d["stopping"] else ""),
            ),
            ("pbx", f"{pbx['kind']} at {pbx['host']}:{pbx['port']}: {link}"),
            ("CDRs queued", d["cdr_pending"]),
        ]
    )
    columns = (
        ("id", "id"),
        ("name", "campaign"),
        ("status", "status"),
        ("calls_in_flight", "in flight"),
        ("dialed", "dialed"),
        ("answered", "answered"),
        ("dial_level", "level"),
        ("agents_by_state", "agents"),
    )
    return f"{head}\n\n{table(d['campaigns'], columns)}"
