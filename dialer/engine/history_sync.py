"""Campaign history, a service of the driver: each campaign's stored history read when its run
starts (`RestoreHistory` -> `HistoryRead`), the calls other daemons finished on our campaigns
added to its windows every `abandonment_sync_s` (`OthersRead`), and the predictive pacers'
calibrations kept in the campaigns' rows so a restart goes on from them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from dialer.core import inputs as ev
from dialer.core.machine import Core
from dialer.engine.follow import HistorySource
from dialer.pacing.history import CampaignHistory
from dialer.pacing.predictive import PredictivePacer
from dialer.store.records import Campaign

logger = logging.getLogger(__name__)

RESTORE_TRIES = 3  # reads of a campaign's history before it is dialed without it


class HistorySync:
    def __init__(
        self,
        history: HistorySource,
        core: Core,
        feed: Callable[[ev.Input], object],
        core_now: Callable[[], float],
        sync_s: float,
    ) -> None:
        self._history = history
        self._core = core
        self._feed = feed
        self._core_now = core_now
        self._sync_s = sync_s
        self._saved: dict[int, tuple[float, int]] = {}  # campaign -> calibration last saved
        self._others_failing = False

    async def restore(self, campaign: Campaign, token: int, ledgers: bool) -> None:
        """Read the campaign's stored history for the core; after `RESTORE_TRIES` failed
        reads the core is told there is none (it dials without, logged as an error)."""
        name = campaign.name
        history: CampaignHistory | None = None
        for attempt in range(1, RESTORE_TRIES + 1):
            try:
                history = await self._history.campaign_history(campaign)
                break
            except Exception as exc:
                logger.warning(
                    "campaign %s: reading its history failed (%d of %d): %s",
                    name,
                    attempt,
                    RESTORE_TRIES,
                    exc,
                    extra={"campaign": name},
                )
                if attempt < RESTORE_TRIES:
                    await asyncio.sleep(1.0)
        # The core time at which it was read (the read may have taken a while).
        read_at = self._core_now()
        if history is not None:
            read_at -= max(0.0, time.time() - history.wall_now)
        self._feed(ev.HistoryRead(campaign.id, token, ledgers, history, read_at))

    def saved(self, campaign_id: int) -> tuple[float, int] | None:
        """The campaign's pacer calibration as last saved here (None: not yet)."""
        return self._saved.get(campaign_id)

    async def sync(self) -> None:
        await self.count_others()
        await self.save_calibrations()

    async def save_calibrations(self) -> None:
        """Keep each predictive pacer's calibration (the threshold its feedback loop
        tuned) in the campaign's row. Only once the run's history was read (which restores
        it), and only when it changed."""
        for run in list(self._core.campaigns.values()):
            pacer = run.pacer
            if not isinstance(pacer, PredictivePacer) or run.others is None:
                continue
            calibration = pacer.calibration
            if calibration == self._saved.get(run.campaign.id):
                continue
            try:
                await self._history.save_calibration(run.campaign.id, *calibration)
            except Exception as exc:
                logger.warning(
                    "saving the pacer's calibration failed: %s",
                    exc,
                    extra={"campaign": run.campaign.name},
                )
                return
            self._saved[run.campaign.id] = calibration

    async def count_others(self) -> None:
        """Read the calls other daemons finished on our campaigns that their CDRs show, for the
        core to add to its windows (dialer/pacing/others.py): with several daemons on a
        campaign, each brakes on its true rate. One statement per campaign."""
        for run in list(self._core.campaigns.values()):
            tally = run.others
            if tally is None:
                continue
            name = run.campaign.name
            since = tally.next_since(time.time())
            try:
                rows = await self._history.others_minutes(
                    run.campaign.id, datetime.fromtimestamp(since, UTC)
                )
            except Exception as exc:
                if not self._others_failing:
                    logger.warning(
                        "counting other daemons' calls failed (tried again every %.0f s): %s",
                        self._sync_s,
                        exc,
                        extra={"campaign": name},
                    )
                self._others_failing = True
                continue
            if self._others_failing:
                logger.info("counting other daemons' calls works again", extra={"campaign": name})
                self._others_failing = False
            self._feed(ev.OthersRead(run.campaign.id, tally, since, rows, time.time()))
