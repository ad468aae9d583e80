"""Prometheus metrics scraped over HTTP after real calls on the Asterisk rig.

The daemon serves `Metrics.exposition()` at GET /metrics of its HTTP API (port 0 here: a free
loopback port); the test scrapes it while the daemon runs, once the calls have ended.
"""

from __future__ import annotations

import asyncio
import dataclasses
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dialer.app import App
from dialer.pacing.base import ProgressivePacer
from dialer.store.engine import Database
from rig.asterisk import Asterisk
from rig.campaign import seed
from rig.numbers import Behaviour, make_number
from tests.integration.test_campaign_rig import rig_settings

pytestmark = [pytest.mark.rig, pytest.mark.slow]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:  # 127.0.0.1 only
        return response.headers["Content-Type"], response.read().decode()


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def get(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"{name}{labels} not exported"
    return samples[key]


async def test_scrape_after_real_calls(
    asterisk: Asterisk, sipp_trunk: Any, agent_headsets: Any, store_db: Database, store_db_url: str
) -> None:
    numbers = [
        make_number(Behaviour.ANSWER, 0.3, 1.0, 1),
        make_number(Behaviour.BUSY, 0.2, 0.0, 2),
        make_number(Behaviour.FAIL, 0.2, 0.0, 3),
    ]
    await seed(store_db, name="metrics", numbers=numbers, agents=1, wrapup_s=0.2)
    settings = rig_settings(asterisk, store_db_url)
    settings = dataclasses.replace(settings, http=dataclasses.replace(settings.http, port=0))
    app = App(settings, lambda _c: ProgressivePacer())
    app.metrics.interval_s = 0.1
    serve = asyncio.create_task(app.serve(install_signals=False))
    try:
        await asyncio.wait_for(app.started.wait(), 30)
        engine = app.engine
        assert engine is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(engine.finished) < 3:
            assert loop.time() < deadline and not serve.done(), engine.stats()
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.6)  # the wrap-up ends; the sampler runs every 0.1 s
        assert app.http is not None, "the HTTP API is not serving"
        content_type, text = await asyncio.to_thread(scrape, f"{app.http.url}/metrics")
    finally:
        app.request_stop()
        code = await asyncio.wait_for(serve, 60)
    assert code == 0
    assert content_type.startswith("text/plain")
    s = parse(text)
    c = {"campaign": "metrics"}
    assert get(s, "dialer_calls_originated_total", **c) == 3
    assert get(s, "dialer_call_attempts_total", **c, result="connected") == 1
    assert get(s, "dialer_call_attempts_total", **c, result="busy") == 1
    assert get(s, "dialer_call_attempts_total", **c, result="failed") == 1
    assert get(s, "dialer_call_attempts_total", **c, result="abandoned") == 0
    assert get(s, "dialer_calls_answered_total", **c) == 1
    assert get(s, "dialer_calls_abandoned_total", **c) == 0
    assert get(s, "dialer_answer_to_agent_seconds_count", **c) == 1
    latency = get(s, "dialer_answer_to_agent_seconds_sum", **c)
    assert 0 < latency < 0.5
    assert get(s, "dialer_answer_to_agent_seconds_bucket", **c, le="0.5") == 1
    assert get(s, "dialer_abandonment_ratio", **c, window="24h") == 0
    assert get(s, "dialer_abandonment_window_answered_calls", **c, window="30d") == 1
    assert get(s, "dialer_abandonment_window_answered_calls", **c, window="life") == 1
    assert get(s, "dialer_agents", **c, state="ready") == 1
    assert get(s, "dialer_agents", **c, state="on_call") == 0
    assert get(s, "dialer_calls_in_flight", **c) == 0
    assert get(s, "dialer_pbx_up") == 1
    assert get(s, "dialer_trunk_channels_max", trunk="metrics-trunk") == 200
    assert get(s, "dialer_trunk_channels_in_use", trunk="metrics-trunk") == 0
    writes = get(s, "dialer_db_write_duration_seconds_count", operation="write_starts")
    assert writes >= 1
    db_s = get(s, "dialer_db_write_duration_seconds_sum", operation="write_ends")
    assert 0 < db_s < 5
    assert get(s, "dialer_cdr_last_write_seconds") > 0
    assert get(s, "dialer_cdr_pending_records") == 0
    print(
        f"\nscraped {len(text)} bytes, {len(s)} samples; answer-to-agent {latency * 1000:.1f} ms;"
        f" {writes:.0f} CDR start batches"
    )
