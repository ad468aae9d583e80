"""Owned tasks: kept to their end; a failure is logged with its traceback, never lost."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dialer.tasks import OwnedTasks


async def boom() -> None:
    raise RuntimeError("kaboom")


async def test_failure_is_logged_and_the_task_forgotten(caplog: pytest.LogCaptureFixture) -> None:
    tasks = OwnedTasks(logging.getLogger("t"), "unit")
    task = tasks.spawn(boom(), "boom")
    with pytest.raises(RuntimeError):
        await task
    await asyncio.sleep(0)  # done callbacks run on the next loop pass
    assert len(tasks) == 0
    assert "unit task boom failed" in caplog.text
    assert "kaboom" in caplog.text


async def test_cancel_all_waits_for_every_task() -> None:
    tasks = OwnedTasks(logging.getLogger("t"), "unit")
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    t1 = tasks.spawn(forever(), "a")
    t2 = tasks.spawn(forever(), "b")
    await started.wait()
    assert len(tasks) == 2
    await tasks.cancel_all()
    assert t1.cancelled()
    assert t2.cancelled()
    await asyncio.sleep(0)  # done callbacks run on the next loop pass
    assert len(tasks) == 0
