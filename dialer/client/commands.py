"""`dialer` subcommands that talk to the running daemon's HTTP API.

The daemon's address and a token come from ``--url``/``--token`` or the environment
(DIALER_API_URL, DIALER_API_TOKEN; prefer the environment for the token: a flag shows in the
process list). Output is a table for people, or JSON with ``--json``.

Exit codes: 0 done, 1 the API refused (the message says why), 2 bad usage, 3 the daemon could
not be reached.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dialer.client.handlers import (
    DELIMITERS,
    Handler,
    agent_action,
    agent_create,
    agent_dispose,
    agent_move,
    agents_list,
    callback,
    callbacks,
    campaign_action,
    campaign_create,
    campaign_dispositions,
    campaign_edit,
    campaign_list,
    campaign_show,
    campaign_stats,
    leads_import,
    leads_lists,
    run_handler,
    status,
    trunk_create,
    trunk_edit,
    trunks,
)
from dialer.client.http import DEFAULT_URL, TOKEN_ENV, URL_ENV
from dialer.domain import pbx_values


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
        p.set_defaults(func=lambda args: run_handler(handler, args))
        return p

    # campaigns
    camp = sub.add_parser(
        "campaign",
        help="create, edit, start, pause, resume, stop campaigns; statistics",
        description="Campaigns. NAME may also be the campaign's numeric id.",
    )
    csub = camp.add_subparsers(dest="action", required=True, metavar="ACTION")
    cmd(csub, "list", campaign_list, "list campaigns")
    p = cmd(csub, "show", campaign_show, "show one campaign")
    p.add_argument("name", metavar="NAME")
    p = cmd(csub, "create", campaign_create, "create a campaign (status draft)")
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
    p = cmd(csub, "edit", campaign_edit, "change a campaign's settings (at once)")
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
        p = cmd(csub, action, campaign_action(action), text)
        p.add_argument("name", metavar="NAME")
    p = cmd(csub, "stats", campaign_stats, "live statistics")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--window", type=float, default=3600.0, help="seconds (default 3600)")
    p = cmd(csub, "dispositions", campaign_dispositions, "list or add disposition codes")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--add", action="append", default=[], metavar="CODE[=LABEL]")

    # leads
    leads = sub.add_parser("leads", help="import leads, list a campaign's lists")
    lsub = leads.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = cmd(
        lsub,
        "import",
        leads_import,
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
        "--delimiter", choices=tuple(DELIMITERS), help="default: sniffed from the header"
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
    p = cmd(lsub, "lists", leads_lists, "a campaign's lists and their leads by status")
    p.add_argument("--campaign", required=True)

    # agents
    def add_move(parent: Any) -> None:
        help_ = "move an agent to another campaign (after its current call and wrap-up if busy)"
        p = cmd(parent, "move", agent_move, help_)
        p.add_argument("agent", metavar="AGENT", help="the agent's name or id")
        p.add_argument("target", metavar="CAMPAIGN", help="the campaign's name or id")

    agents = cmd(sub, "agents", agents_list, "agents and their live state; move one")
    agents.add_argument("--campaign", help="only this campaign's agents")
    add_move(agents.add_subparsers(dest="action", required=False, metavar="ACTION"))
    agent = sub.add_parser(
        "agent",
        help="create an agent; log in, ready, pause, log out; move; dispositions",
        description="One agent. AGENT is its name or id.",
    )
    asub = agent.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = cmd(asub, "create", agent_create, "create an agent")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--endpoint", required=True, type=_ENDPOINT, help="the headset's SIP endpoint")
    p.add_argument("--campaign", help="campaign name or id")
    p = cmd(asub, "show", agent_action("show"), "show an agent")
    p.add_argument("agent", metavar="AGENT")
    for action, text in (
        ("login", "log in: the daemon calls the headset"),
        ("ready", "ready for calls (ends a pause)"),
        ("logout", "log out (after the current call and wrap-up)"),
    ):
        p = cmd(asub, action, agent_action(action), text)
        p.add_argument("agent", metavar="AGENT")
    p = cmd(asub, "pause", agent_action("pause"), "pause (after the current call)")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("--reason", required=True)
    add_move(asub)
    p = cmd(asub, "dispose", agent_dispose, "give the current or last call a result")
    p.add_argument("agent", metavar="AGENT")
    p.add_argument("code", metavar="CODE", help="one of the campaign's disposition codes")
    p.add_argument("--note", default="")
    p.add_argument("--call", help="the call's id (default: the agent's current or last)")

    # callbacks
    p = cmd(sub, "callback", callback, "schedule a callback for a lead")
    p.add_argument("lead", type=int, metavar="LEAD_ID")
    p.add_argument("--at", required=True, help="ISO time with offset, e.g. 2030-01-06T15:00+01:00")
    p.add_argument("--agent", help="give it to this agent (default: anyone)")
    p.add_argument("--note", default="")
    cmd(sub, "callbacks", callbacks, "leads with a callback").add_argument("--campaign")

    # trunks, PBX, status
    cmd(sub, "trunks", trunks, "trunks with channel limits and channels in use")
    trunk = sub.add_parser("trunk", help="add or change a trunk (admin)")
    tsub = trunk.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = cmd(tsub, "create", trunk_create, "add a trunk")
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
    p = cmd(tsub, "edit", trunk_edit, "change a trunk's limits")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--endpoint", type=_ENDPOINT)
    p.add_argument("--max-channels", type=int)
    p.add_argument("--max-cps", type=float)
    p.add_argument("--prefix", type=_DIAL_PREFIX)
    p.add_argument("--caller-id", type=_CALLER_ID, help="'' for none")
    cmd(sub, "status", status, "the daemon: PBX link, campaigns, agents")


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
        "--lines-per-agent",
        type=float,
        help="power pacing: calls in flight per ready agent (1 to 10)",
    )
    p.add_argument(
        "--preview-timeout",
        type=float,
        help="preview pacing: seconds before a lead shown to an agent is dialed by itself "
        "(0: it waits for the agent)",
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
