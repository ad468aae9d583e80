"""The dialer daemon's App run inside a rig script (the demo, the benchmarks, the soak): its
settings for the rig's Asterisk and a scratch database, and starting it as a task."""

from __future__ import annotations

import asyncio

from dialer.app import App
from dialer.settings import (
    DatabaseSettings,
    DialerSettings,
    HttpSettings,
    LogSettings,
    PbxSettings,
    Settings,
)
from rig.ami import AmiCredentials


def rig_settings(
    url: str,
    ami: AmiCredentials,
    dialer: DialerSettings,
    log: LogSettings | None = None,
    admin_token: str = "",
) -> Settings:
    """Settings for a daemon on database `url` driving the rig's Asterisk through `ami`; its
    HTTP API on a free port (with `admin_token`, if given, as its admin token)."""
    return Settings(
        database=DatabaseSettings(url=url),
        pbx=PbxSettings(host=ami.host, port=ami.port, username=ami.username, secret=ami.secret),
        dialer=dialer,
        log=log if log is not None else LogSettings(),
        http=HttpSettings(port=0, admin_token=admin_token),
    )


async def start(app: App, install_signals: bool = True) -> asyncio.Task[int]:
    """`app.serve()` as a task, returned once the app has started, or once it has ended (it
    could not start: the task's result is its exit code)."""
    serve = asyncio.create_task(app.serve(install_signals=install_signals))
    up = asyncio.create_task(app.started.wait())
    await asyncio.wait({serve, up}, return_when=asyncio.FIRST_COMPLETED)
    up.cancel()
    return serve
