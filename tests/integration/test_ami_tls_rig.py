"""AMI over TLS on the real Asterisk rig: the deploy's manager.conf with a manager_tls.conf
serving 127.0.0.1:5039 and a self-signed certificate this test makes, the adapter and a whole
`dialer run` daemon logging in over it, and a certificate from another issuer refused.

The rig's Asterisk is shared by the session: TLS is turned on here with `manager reload` and
off again afterwards (the plain AMI port is untouched throughout).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from ami_bridge.client import AmiPbx
from dialer import pbx
from dialer.settings import PbxSettings
from rig.asterisk import Asterisk
from tests.fixtures.certs import self_signed
from tests.integration.api_daemon import start_daemon, truncate_all, write_config

pytestmark = [pytest.mark.rig]

TLS_PORT = 5039
_IN_ROOT = "/etc/asterisk/keys"  # where Asterisk, in its chroot, reads the certificate


@dataclass(frozen=True)
class AmiTls:
    ca: Path  # the self-signed certificate, as the dialer's pbx.tls_ca
    settings: PbxSettings


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _manager_tls(asterisk: Asterisk, enabled: bool) -> None:
    asterisk.cli("manager reload")
    deadline = time.monotonic() + 10
    while _accepts(TLS_PORT) != enabled:
        assert time.monotonic() < deadline, f"AMI TLS port {'closed' if enabled else 'open'}"
        time.sleep(0.1)


@pytest.fixture
def ami_tls(asterisk: Asterisk, tmp_path: Path) -> Iterator[AmiTls]:
    etc = asterisk.root / "etc/asterisk"
    keys = asterisk.root / _IN_ROOT.lstrip("/")
    keys.mkdir(exist_ok=True)
    cert, key = self_signed(keys, "rig-ami")
    conf = etc / "manager_tls.conf"
    conf.write_text(
        "; Written by tests/integration/test_ami_tls_rig.py. Not for production.\n"
        "tlsenable = yes\n"
        f"tlsbindaddr = 127.0.0.1:{TLS_PORT}\n"
        f"tlscertfile = {_IN_ROOT}/{cert.name}\n"
        f"tlsprivatekey = {_IN_ROOT}/{key.name}\n"
    )
    ca = tmp_path / "ami-ca.pem"
    ca.write_bytes(cert.read_bytes())
    c = asterisk.credentials
    settings = PbxSettings(
        host=c.host,
        port=TLS_PORT,
        username=c.username,
        secret=c.secret,
        tls=True,
        tls_ca=str(ca),
        connect_timeout_s=3.0,
    )
    try:
        _manager_tls(asterisk, enabled=True)
        yield AmiTls(ca, settings)
    finally:
        conf.unlink()
        for path in (cert, key):
            path.unlink()
        _manager_tls(asterisk, enabled=False)


async def test_the_adapter_logs_in_over_tls(ami_tls: AmiTls) -> None:
    adapter = AmiPbx(ami_tls.settings)
    await adapter.start()
    try:
        assert adapter.connected
        manager = adapter._manager
        assert manager is not None
        tls = manager.protocol.transport.get_extra_info("ssl_object")
        assert tls is not None and tls.version() in ("TLSv1.2", "TLSv1.3"), tls
        # Actions go through the encrypted link: the channel listing answers.
        assert isinstance(await adapter.live_channels(), list)
    finally:
        await adapter.close()


async def test_a_certificate_from_another_issuer_is_refused(
    ami_tls: AmiTls, tmp_path: Path
) -> None:
    other, _ = self_signed(tmp_path, "other")
    adapter = AmiPbx(replace(ami_tls.settings, tls_ca=str(other)))
    with pytest.raises(pbx.PbxUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        await adapter.start()
    await adapter.close()


def test_a_daemon_logs_in_over_tls(
    ami_tls: AmiTls, asterisk: Asterisk, store_db_url: str, tmp_path: Path
) -> None:
    asyncio.run(truncate_all(store_db_url))
    config = write_config(tmp_path, asterisk, store_db_url)
    env = {
        "DIALER_PBX_TLS": "true",
        "DIALER_PBX_TLS_CA": str(ami_tls.ca),
        "DIALER_PBX_PORT": str(TLS_PORT),
    }
    daemon = start_daemon(tmp_path, config, env=env)
    try:
        log = daemon.log()
        assert f"connected to Asterisk AMI at 127.0.0.1:{TLS_PORT} over TLS as" in log, log
        with daemon.client(None) as anyone:
            health = anyone.get("/health")
        assert health.json() == {"ok": True, "pbx_connected": True}, health.text
    finally:
        assert daemon.stop() == 0, daemon.log()[-3000:]
