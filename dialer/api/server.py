"""uvicorn embedded in the daemon's event loop, without its signal handling.

`uvicorn.Server.serve` installs SIGINT/SIGTERM handlers of its own (`capture_signals`) and, on
a failed bind, calls `sys.exit`. The daemon owns the signals (dialer/app.py) and must report a
busy port as a clear start-up error, so here the socket is bound first (a failure raises
`HttpStartError` naming `http.port`), uvicorn gets that socket, and `capture_signals` does
nothing. `stop` asks the server to exit the way uvicorn's own handler would (`should_exit`):
it stops accepting, lets requests in progress finish within the shutdown timeout, then closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator
from typing import Any

import uvicorn
from starlette.types import ASGIApp

logger = logging.getLogger(__name__)


class HttpStartError(Exception):
    """The API could not listen (port in use, address not local ...)."""


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The daemon's handlers stay in place; App.request_stop stops us through `stop()`.
        yield


class HttpServer:
    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        access_log: bool = False,
        shutdown_timeout_s: float = 5.0,
        tls_cert: str = "",
        tls_key: str = "",
    ) -> None:
        self._app = app
        self._tls = (tls_cert, tls_key) if tls_cert else None
        self.host = host
        self.port = port
        self._access_log = access_log
        self._shutdown_timeout_s = shutdown_timeout_s
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}"

    async def start(self) -> None:
        try:
            sock = socket.create_server(
                (self.host, self.port), family=_family(self.host), backlog=128
            )
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise HttpStartError(
                f"http.port: cannot listen on {self.host}:{self.port}: {reason}"
            ) from None
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self._app,
            log_config=None,  # logging is the daemon's (dialer/logs.py masks numbers)
            access_log=self._access_log,
            lifespan="off",
            timeout_graceful_shutdown=int(max(1, self._shutdown_timeout_s)),
            server_header=False,
            ssl_certfile=self._tls[0] if self._tls else None,
            ssl_keyfile=self._tls[1] if self._tls else None,
        )
        server = _Server(config)
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="http")
        while not server.started:
            if self._task.done():
                sock.close()
                failure = self._task.exception()
                raise HttpStartError(f"the HTTP server did not start: {failure}")
            await asyncio.sleep(0.01)
        logger.info("HTTP API listening on %s", self.url)

    async def stop(self) -> None:
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), self._shutdown_timeout_s + 2)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except Exception:
            logger.exception("the HTTP server failed while stopping")
        self._server = self._task = None


def _family(host: str) -> Any:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
