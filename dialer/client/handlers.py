"""What each `dialer` subcommand that talks to the daemon's HTTP API does with its answer: the
request made, and the answer shown as a table for people or JSON with ``--json``. The
subcommands themselves are defined in `dialer.client.commands`.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from typing import Any

from dialer.client.http import TOKEN_ENV, ApiClient, ClientError
from dialer.client.render import ProgressBar, cell, pairs, percent, table

DELIMITERS = {"comma": ",", "semicolon": ";", "tab": "tab", "pipe": "|"}
EXIT_REFUSED = 1
EXIT_UNREACHABLE = 3

Handler = Callable[[ApiClient, argparse.Namespace], Any]


def run_handler(handler: Handler, args: argparse.Namespace) -> int:
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


def campaign_list(c: ApiClient, args: argparse.Namespace) -> None:
    _out(args, c.get("/campaigns"), lambda rows: table(rows, _CAMPAIGN_COLUMNS))


def _show_campaign(data: dict[str, Any]) -> str:
    return pairs(list(data.items()))


def campaign_show(c: ApiClient, args: argparse.Namespace) -> None:
    _out(args, c.get(f"/campaigns/{_ref(args.name)}"), _show_campaign)


def _codes(values: list[str]) -> list[dict[str, str]]:
    out = []
    for value in values:
        code, _, label = value.partition("=")
        out.append({"code": code, "label": label})
    return out


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
        "lines_per_agent": args.lines_per_agent,
        "preview_timeout_s": args.preview_timeout,
        "network_failure_cap": args.network_failure_cap,
        "cause_results": _cause_results(args.cause) if args.cause else None,
    }
    return {k: v for k, v in body.items() if v is not None}


def campaign_create(c: ApiClient, args: argparse.Namespace) -> None:
    body = {"name": args.name, **_settings_body(args), "dispositions": _codes(args.disposition)}
    _out(args, c.post("/campaigns", body), _show_campaign)


def campaign_edit(c: ApiClient, args: argparse.Namespace) -> None:
    body = _settings_body(args)
    if args.rename:
        body["name"] = args.rename
    _out(
        args,
        c.request("PATCH", f"/campaigns/{_ref(args.name)}", body=body),
        _show_campaign,
    )


def campaign_action(action: str) -> Handler:
    def run(c: ApiClient, args: argparse.Namespace) -> None:
        data = c.post(f"/campaigns/{_ref(args.name)}/{action}")
        _out(args, data, lambda d: f"campaign {d['name']}: {d['status']}")

    return run


def campaign_stats(c: ApiClient, args: argparse.Namespace) -> None:
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


def campaign_dispositions(c: ApiClient, args: argparse.Namespace) -> None:
    path = f"/campaigns/{_ref(args.name)}/dispositions"
    data = c.request("PUT", path, body={"codes": _codes(args.add)}) if args.add else c.get(path)
    _out(args, data, lambda rows: table(rows, (("code", "code"), ("label", "label"))))


# -- leads ------------------------------------------------------------------------------------


def leads_import(c: ApiClient, args: argparse.Namespace) -> int:
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
                "delimiter": DELIMITERS[args.delimiter] if args.delimiter else None,
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


def leads_lists(c: ApiClient, args: argparse.Namespace) -> None:
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


def agents_list(c: ApiClient, args: argparse.Namespace) -> None:
    _out(args, c.get("/agents", campaign=args.campaign), lambda r: table(r, _AGENT_COLUMNS))


def agent_create(c: ApiClient, args: argparse.Namespace) -> None:
    body = {"name": args.name, "sip_endpoint": args.endpoint, "campaign": args.campaign}
    _out(args, c.post("/agents", body), lambda d: pairs(list(d.items())))


def agent_action(action: str) -> Handler:
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


def agent_move(c: ApiClient, args: argparse.Namespace) -> None:
    path = f"/agents/{_ref(args.agent)}/campaign"
    data = c.request("PUT", path, body={"campaign": args.target})
    when = "now" if data.get("moved") == "now" else "after its current call and wrap-up"
    _out(args, data, lambda d: f"agent {d['name']}: moved to campaign {d['campaign_id']} {when}")


def agent_dispose(c: ApiClient, args: argparse.Namespace) -> None:
    body = {"code": args.code, "note": args.note, "attempt_id": args.call}
    data = c.post(f"/agents/{_ref(args.agent)}/disposition", body)
    _out(args, data, lambda d: f"call {d['attempt_id']}: {d['code']}")


def callback(c: ApiClient, args: argparse.Namespace) -> None:
    body = {"lead_id": args.lead, "at": args.at, "agent": args.agent, "note": args.note}
    data = c.post("/callbacks", body)
    _out(args, data, lambda d: f"lead {d['lead_id']}: callback {d['id']} at {d['at']}")


def callbacks(c: ApiClient, args: argparse.Namespace) -> None:
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


def trunks(c: ApiClient, args: argparse.Namespace) -> None:
    _out(args, c.get("/trunks"), lambda rows: table(rows, _TRUNK_COLUMNS))


def trunk_create(c: ApiClient, args: argparse.Namespace) -> None:
    body = {
        "name": args.name,
        "endpoint": args.endpoint,
        "max_channels": args.max_channels,
        "max_cps": args.max_cps,
        "dial_prefix": args.prefix,
        "caller_id": args.caller_id,
    }
    _out(args, c.post("/trunks", body), lambda d: table([d], _TRUNK_COLUMNS))


def trunk_edit(c: ApiClient, args: argparse.Namespace) -> None:
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


def status(c: ApiClient, args: argparse.Namespace) -> None:
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
