"""Record Event Socket transcripts from a real FreeSWITCH into tests/data/esl/.

    .venv/bin/python scripts/esl/record.py [--out tests/data/esl] [scenario ...]

Starts FreeSWITCH (the binary from DIALER_FREESWITCH or PATH) with deploy/freeswitch/ and two
SIPp far ends (rig/sipp.py: the trunk, whose behaviour is encoded in the dialed number, see
rig/numbers.py, and the agents' headsets), all on free 127.0.0.1 ports; runs each scenario on
its own event-socket connection and writes, per scenario, `<name>.rx` (every byte FreeSWITCH
sent, as received) and `<name>.tx` (every byte we sent). The codec and translation tests replay
the `.rx` files. Everything started here is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from esl_bridge import codec  # noqa: E402
from rig.freeswitch import Freeswitch, FreeswitchSettings, find_freeswitch, free_port  # noqa: E402
from rig.numbers import Behaviour, make_number  # noqa: E402
from rig.sipp import HEADSET_SCENARIO, TRUNK_SCENARIO, Sipp  # noqa: E402

logger = logging.getLogger("esl-record")

# More than the client needs (CHANNEL_EXECUTE, CHANNEL_PARK, CHANNEL_HANGUP): the transcripts
# show what happens, and the translator must ignore what it does not use.
EVENTS = [
    "CHANNEL_CREATE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_EXECUTE",
    "CHANNEL_PARK",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "PLAYBACK_START",
    "BACKGROUND_JOB",
]

# Rig numbers (rig/numbers.py): the SIPp trunk's behaviour is encoded in the dialed number.
ANSWER_3S = make_number(Behaviour.ANSWER, ring_s=1.0, talk_s=3.0, serial=1)
HOLD = make_number(Behaviour.ANSWER_HOLD, ring_s=0.5, serial=2)
BUSY = make_number(Behaviour.BUSY, ring_s=0.5, serial=3)
RING_FOREVER = make_number(Behaviour.NO_ANSWER, serial=4)
FAIL_503 = make_number(Behaviour.FAIL, ring_s=0.2, serial=5)


class RecordError(Exception):
    """FreeSWITCH did not answer as the scenario expects."""


def expect_reply(reply: codec.Message, ok: bool = True) -> codec.CommandReply:
    if not isinstance(reply, codec.CommandReply) or reply.ok != ok:
        raise RecordError(f"unexpected reply: {reply}")
    return reply


class Session:
    """One recorded event-socket connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.rx = bytearray()
        self.tx = bytearray()
        self.decoder = codec.Decoder()
        self.replies: asyncio.Queue[codec.Message] = asyncio.Queue()
        self.events: list[codec.Event] = []
        self.changed = asyncio.Event()
        self.closed = False
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> codec.Message:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        self._task = asyncio.create_task(self._read())
        return await self.reply()

    async def _read(self) -> None:
        assert self._reader is not None
        while True:
            data = await self._reader.read(65536)
            if not data:
                self.closed = True
                self.changed.set()
                return
            self.rx += data
            for message in self.decoder.feed(data):
                if isinstance(message, codec.Event):
                    self.events.append(message)
                    self.changed.set()
                else:
                    self.replies.put_nowait(message)

    async def reply(self, within: float = 10.0) -> codec.Message:
        return await asyncio.wait_for(self.replies.get(), within)

    async def send(self, data: bytes) -> codec.Message:
        assert self._writer is not None
        self.tx += data
        self._writer.write(data)
        await self._writer.drain()
        return await self.reply()

    async def setup(self, password: str, fmt: str = "plain") -> None:
        expect_reply(await self.send(codec.auth_command(password)))
        for data in (
            codec.event_command(EVENTS, fmt),
            codec.filter_command("variable_dialer_leg", "customer"),
            codec.filter_command("variable_dialer_leg", "agent"),
            codec.filter_command("Event-Name", "BACKGROUND_JOB"),
        ):
            expect_reply(await self.send(data))

    async def api(self, command: str) -> str:
        reply = await self.send(codec.api_command(command))
        if not isinstance(reply, codec.ApiResponse):
            raise RecordError(f"unexpected reply to api {command}: {reply}")
        return reply.body

    async def wait(self, name: str, uid: str, within: float = 15.0) -> codec.Event:
        """Wait for an event of this name about this channel (or this job)."""
        deadline = time.monotonic() + within
        while True:
            for event in self.events:
                if event.name == name and uid in (event.get("Unique-ID"), event.get("Job-UUID")):
                    return event
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                raise TimeoutError(f"no {name} for {uid}")
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)

    async def close(self) -> None:
        if self._writer is not None and not self.closed:
            with contextlib.suppress(OSError, TimeoutError):
                await self.send(codec.encode_command("exit"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_closed(), 5)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()

    async def _wait_closed(self) -> None:
        while not self.closed:
            self.changed.clear()
            await self.changed.wait()


def originate(
    channel_id: str, dial: str, extension: str, leg: str, timeout_s: int = 20, extra: str = ""
) -> bytes:
    variables = (
        f"origination_uuid={channel_id},dialer_leg={leg},originate_timeout={timeout_s},"
        f"origination_caller_id_number=+15550000000{extra}"
    )
    return codec.bgapi_command(
        f"originate {{{variables}}}{dial} {extension} XML dialer", channel_id
    )


Scenario = Callable[[Session, FreeswitchSettings], Awaitable[None]]


async def auth_ok(s: Session, fs: FreeswitchSettings) -> None:
    expect_reply(await s.send(codec.auth_command(fs.esl_password)))
    await s.api("status")
    await s.api("nosuchcommand")
    await s.send(codec.encode_command("nosuchcommand"))


async def auth_wrong(s: Session, fs: FreeswitchSettings) -> None:
    expect_reply(await s.send(codec.auth_command("not-the-password")), ok=False)
    await s.reply()  # the disconnect notice
    await s._wait_closed()


async def subscribe(s: Session, fs: FreeswitchSettings) -> None:
    await s.setup(fs.esl_password)
    await s.send(codec.encode_command("noevents"))
    await s.send(codec.event_command(["BACKGROUND_JOB"], "json"))
    job = str(uuid.uuid4())
    await s.send(codec.bgapi_command("status", job))
    await s.wait("BACKGROUND_JOB", job)


async def answered_bridged(s: Session, fs: FreeswitchSettings) -> None:
    """Agent leg up and parked; customer answers, is bridged; the customer hangs up."""
    await s.setup(fs.esl_password)
    agent, customer = str(uuid.uuid4()), str(uuid.uuid4())
    await s.send(originate(agent, "user/agent1", "dialer-agent", "agent"))
    await s.wait("CHANNEL_PARK", agent)
    await s.send(
        originate(customer, f"sofia/gateway/trunk/{ANSWER_3S}", "dialer-customer", "customer")
    )
    await s.wait("CHANNEL_ANSWER", customer)
    # The leg takes a uuid_bridge/uuid_transfer only once the originate handed it to the
    # dialplan, which its BACKGROUND_JOB (+OK) reports (see abandon_at_answer).
    await s.wait("BACKGROUND_JOB", customer)
    logger.info("uuid_bridge: %s", (await s.api(f"uuid_bridge {customer} {agent}")).strip())
    await s.wait("CHANNEL_BRIDGE", customer)
    # FreeSWITCH writes its channel and call tables from a background SQL queue: a listing
    # taken right after the CHANNEL_BRIDGE did not pair the legs yet.
    await asyncio.sleep(0.5)
    await s.api("show channels as json")
    await s.api("show calls as json")
    await s.wait("CHANNEL_HANGUP_COMPLETE", customer)
    await asyncio.sleep(1.0)
    await s.api("show channels as json")
    await s.api("show calls as json")
    await s.api(f"uuid_kill {agent} NORMAL_CLEARING")
    await s.wait("CHANNEL_HANGUP_COMPLETE", agent)


async def agent_hangs_up(s: Session, fs: FreeswitchSettings) -> None:
    """A bridged call ended by the dialer hanging up the agent's side."""
    await s.setup(fs.esl_password)
    agent, customer = str(uuid.uuid4()), str(uuid.uuid4())
    await s.send(originate(agent, "user/agent2", "dialer-agent", "agent"))
    await s.wait("CHANNEL_PARK", agent)
    await s.send(originate(customer, f"sofia/gateway/trunk/{HOLD}", "dialer-customer", "customer"))
    await s.wait("CHANNEL_ANSWER", customer)
    await s.wait("BACKGROUND_JOB", customer)
    await s.api(f"uuid_bridge {customer} {agent}")
    await s.wait("CHANNEL_BRIDGE", customer)
    await asyncio.sleep(0.5)
    await s.api(f"uuid_kill {agent} NORMAL_CLEARING")
    await s.wait("CHANNEL_HANGUP_COMPLETE", agent)
    await s.wait("CHANNEL_HANGUP_COMPLETE", customer)


async def busy(s: Session, fs: FreeswitchSettings) -> None:
    await s.setup(fs.esl_password)
    cid = str(uuid.uuid4())
    await s.send(originate(cid, f"sofia/gateway/trunk/{BUSY}", "dialer-customer", "customer"))
    await s.wait("CHANNEL_HANGUP_COMPLETE", cid)
    await s.wait("BACKGROUND_JOB", cid)


async def busy_json(s: Session, fs: FreeswitchSettings) -> None:
    await s.setup(fs.esl_password, fmt="json")
    cid = str(uuid.uuid4())
    await s.send(originate(cid, f"sofia/gateway/trunk/{BUSY}", "dialer-customer", "customer"))
    await s.wait("CHANNEL_HANGUP_COMPLETE", cid)
    await s.wait("BACKGROUND_JOB", cid)


async def no_answer(s: Session, fs: FreeswitchSettings) -> None:
    await s.setup(fs.esl_password)
    cid = str(uuid.uuid4())
    dial = f"sofia/gateway/trunk/{RING_FOREVER}"
    await s.send(originate(cid, dial, "dialer-customer", "customer", timeout_s=3))
    await s.wait("CHANNEL_HANGUP_COMPLETE", cid)
    await s.wait("BACKGROUND_JOB", cid)


async def cancel(s: Session, fs: FreeswitchSettings) -> None:
    """The dialer gives up on a ringing call."""
    await s.setup(fs.esl_password)
    cid = str(uuid.uuid4())
    await s.send(
        originate(cid, f"sofia/gateway/trunk/{RING_FOREVER}", "dialer-customer", "customer")
    )
    await s.wait("CHANNEL_PROGRESS", cid)
    await s.api(f"uuid_kill {cid} ORIGINATOR_CANCEL")
    await s.wait("CHANNEL_HANGUP_COMPLETE", cid)
    await s.wait("BACKGROUND_JOB", cid)


async def failure_503(s: Session, fs: FreeswitchSettings) -> None:
    await s.setup(fs.esl_password)
    cid = str(uuid.uuid4())
    await s.send(originate(cid, f"sofia/gateway/trunk/{FAIL_503}", "dialer-customer", "customer"))
    await s.wait("CHANNEL_HANGUP_COMPLETE", cid)
    await s.wait("BACKGROUND_JOB", cid)


async def failure_unreachable(s: Session, fs: FreeswitchSettings) -> None:
    """Nothing listens at the far end's port."""
    await s.setup(fs.esl_password)
    cid = str(uuid.uuid4())
    dead = free_port()
    dial = f"sofia/dialer/{BUSY}@127.0.0.1:{dead}"
    await s.send(originate(cid, dial, "dialer-customer", "customer"))
    await s.wait("BACKGROUND_JOB", cid)
    with contextlib.suppress(TimeoutError):
        await s.wait("CHANNEL_HANGUP_COMPLETE", cid, within=3)


async def failure_no_gateway(s: Session, fs: FreeswitchSettings) -> None:
    """An unknown trunk: FreeSWITCH refuses before any channel exists."""
    await s.setup(fs.esl_password)
    cid = str(uuid.uuid4())
    await s.send(originate(cid, f"sofia/gateway/nosuch/{BUSY}", "dialer-customer", "customer"))
    await s.wait("BACKGROUND_JOB", cid)


async def abandon_timeout(s: Session, fs: FreeswitchSettings) -> None:
    """Answered, nobody bridges it: the dialplan abandons it after the hold time."""
    await s.setup(fs.esl_password)
    cid = str(uuid.uuid4())
    await s.send(originate(cid, f"sofia/gateway/trunk/{HOLD}", "dialer-customer", "customer"))
    await s.wait("CHANNEL_HANGUP_COMPLETE", cid, within=20)


async def abandon_dialer(s: Session, fs: FreeswitchSettings) -> None:
    """Answered; the dialer sends it to the abandon message as soon as it can."""
    await s.setup(fs.esl_password)
    cid = str(uuid.uuid4())
    await s.send(originate(cid, f"sofia/gateway/trunk/{HOLD}", "dialer-customer", "customer"))
    await s.wait("BACKGROUND_JOB", cid)
    await s.api(f"uuid_transfer {cid} dialer-abandon XML dialer")
    await s.wait("CHANNEL_HANGUP_COMPLETE", cid, within=20)


SCENARIOS: dict[str, Scenario] = {
    "auth_ok": auth_ok,
    "auth_wrong": auth_wrong,
    "subscribe": subscribe,
    "answered_bridged": answered_bridged,
    "agent_hangs_up": agent_hangs_up,
    "busy": busy,
    "busy_json": busy_json,
    "no_answer": no_answer,
    "cancel": cancel,
    "failure_503": failure_503,
    "failure_unreachable": failure_unreachable,
    "failure_no_gateway": failure_no_gateway,
    "abandon_timeout": abandon_timeout,
    "abandon_dialer": abandon_dialer,
}


async def run(names: list[str], out: Path, fs: FreeswitchSettings) -> None:
    for name in names:
        session = Session(fs.esl_port)
        greeting = await session.open()
        if not isinstance(greeting, codec.AuthRequest):
            raise RecordError(f"no greeting: {greeting}")
        try:
            await SCENARIOS[name](session, fs)
        finally:
            await session.close()
            (out / f"{name}.rx").write_bytes(bytes(session.rx))
            (out / f"{name}.tx").write_bytes(bytes(session.tx))
        logger.info("%s: %d bytes in, %d events", name, len(session.rx), len(session.events))
        await asyncio.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "esl")
    parser.add_argument("--workdir", type=Path, help="keep FreeSWITCH's and SIPp's files here")
    parser.add_argument("scenario", nargs="*", help=f"any of: {', '.join(SCENARIOS)}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    binary = find_freeswitch()
    if binary is None:
        logger.error("no FreeSWITCH binary: set DIALER_FREESWITCH or put freeswitch on PATH")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    names = args.scenario or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    udp = socket.SOCK_DGRAM
    trunk = Sipp("esl-record-trunk", TRUNK_SCENARIO, free_port(udp), free_port(udp))
    headsets = Sipp("esl-record-headsets", HEADSET_SCENARIO, free_port(udp), free_port(udp))
    settings = FreeswitchSettings(
        esl_port=free_port(),
        sip_port=free_port(udp),
        trunk_proxy=f"127.0.0.1:{trunk.port}",
        agent_host=f"127.0.0.1:{headsets.port}",
    )
    with tempfile.TemporaryDirectory(prefix="esl-record-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        fs = Freeswitch(binary, work / "fs", settings)
        try:
            trunk.start()
            headsets.start()
            fs.start()
            logger.info("FreeSWITCH pid %s, event socket on %d", fs.pid, settings.esl_port)
            asyncio.run(run(names, args.out, settings))
        finally:
            fs.stop()
            trunk.stop()
            headsets.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
