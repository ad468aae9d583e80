"""The HTTP API over TLS with a certificate the test makes, and the rule for plain HTTP on an
address other machines may reach. Local sockets only (127.0.0.1)."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from dialer.api.server import HttpServer
from dialer.settings import ConfigError, HttpSettings
from tests.fixtures.certs import self_signed


async def test_the_api_serves_https_with_its_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    server = HttpServer(app, "127.0.0.1", 0, tls_cert=str(cert), tls_key=str(key))
    await server.start()
    try:
        assert server.url.startswith("https://127.0.0.1:")
        trusted = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(verify=trusted) as client:
            r = await client.get(f"{server.url}/health")
        assert r.json() == {"ok": True}
        plain = server.url.replace("https://", "http://")
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.HTTPError):
                (await client.get(f"{plain}/health")).raise_for_status()
    finally:
        await server.stop()


def test_plain_http_on_a_reachable_address_needs_saying_so(tmp_path: Path) -> None:
    HttpSettings(host="127.0.0.1").check()  # loopback: fine
    with pytest.raises(ConfigError, match="not a loopback address and there is no TLS"):
        HttpSettings(host="0.0.0.0").check()
    HttpSettings(host="0.0.0.0", allow_plain_remote=True).check()
    cert, key = self_signed(tmp_path)
    HttpSettings(host="0.0.0.0", tls_cert=str(cert), tls_key=str(key)).check()
    with pytest.raises(ConfigError, match="give both or neither"):
        HttpSettings(tls_cert=str(cert)).check()
    with pytest.raises(ConfigError, match="is not a readable file"):
        HttpSettings(tls_cert="/nonexistent.pem", tls_key=str(key)).check()
