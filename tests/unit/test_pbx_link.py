"""The plumbing both PBX adapters share (dialer/pbx_link.py): the back-off between reconnect
tries, and a loss reported once. The reconnect itself is shown on the rig
(tests/integration/test_ami_reconnect.py, and the campaign tests' link drop)."""

from __future__ import annotations

import itertools
import logging

import pytest

from dialer import pbx
from dialer.pbx_link import PbxLink, backoff_delays


def test_the_back_off_doubles_up_to_its_cap() -> None:
    assert list(itertools.islice(backoff_delays(0.5, 10.0), 8)) == [
        0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0,
    ]  # fmt: skip
    assert list(itertools.islice(backoff_delays(3.0, 3.0), 3)) == [3.0, 3.0, 3.0]


@pytest.mark.parametrize(("first", "cap"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_a_back_off_that_never_waits_or_shrinks_is_refused(first: float, cap: float) -> None:
    with pytest.raises(ValueError, match="back-off"):
        backoff_delays(first, cap)
    with pytest.raises(ValueError, match="back-off"):
        PbxLink(
            "x", "x", logging.getLogger(__name__),
            reconnect_min_s=first, reconnect_max_s=cap, ping_every_s=5.0,
        )  # fmt: skip


def _link() -> PbxLink:
    return PbxLink(
        "AMI connection",
        "AMI",
        logging.getLogger(__name__),
        reconnect_min_s=0.5,
        reconnect_max_s=10.0,
        ping_every_s=5.0,
    )


async def test_a_loss_is_reported_once_and_never_while_closing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    link = _link()
    link.lost("before any connection")  # never up: nothing to report
    assert link.drain_ready() == []
    link.connected()
    link.lost("ping unanswered")
    link.lost("connection reset")  # the socket's own close after the ping's drop
    [event] = link.drain_ready()
    assert isinstance(event, pbx.ConnectionLost) and event.reason == "ping unanswered"
    assert not link.up
    assert caplog.messages == ["lost the AMI connection: ping unanswered"]
    link.connected()
    link.closing = True
    link.lost("closed by us")
    assert link.drain_ready() == [] and not link.up
