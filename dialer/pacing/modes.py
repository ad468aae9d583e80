"""Campaign pacing modes and the one place that turns settings into a pacer.

- preview: the agent sees the lead first and starts the call (`PreviewPacer`)
- progressive: one call per ready agent (`ProgressivePacer`)
- power: a fixed number of lines per ready agent (`PowerPacer`)
- predictive: look-ahead against a target abandonment and a hard cap (`PredictivePacer`)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dialer.pacing.base import Pacer, ProgressivePacer
from dialer.pacing.predictive import PredictivePacer, PredictiveSettings
from dialer.pacing.ratio import PowerPacer, PreviewPacer


class PacingMode(enum.StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    POWER = "power"
    PREDICTIVE = "predictive"


@dataclass(frozen=True, slots=True)
class PacingSettings:
    mode: PacingMode = PacingMode.PROGRESSIVE
    lines_per_agent: float = 2.0  # power mode only
    predictive: PredictiveSettings = field(default_factory=PredictiveSettings)

    def __post_init__(self) -> None:
        if not isinstance(self.mode, PacingMode):
            raise TypeError("mode must be a PacingMode")
        if not 1.0 <= self.lines_per_agent <= self.predictive.max_lines_per_agent:
            raise ValueError("lines_per_agent must be between 1 and max_lines_per_agent")


def make_pacer(settings: PacingSettings) -> Pacer:
    """A fresh pacer for one campaign (pacers hold per-campaign estimates: never share one)."""
    if settings.mode is PacingMode.PREVIEW:
        return PreviewPacer()
    if settings.mode is PacingMode.PROGRESSIVE:
        return ProgressivePacer()
    if settings.mode is PacingMode.POWER:
        p = settings.predictive
        return PowerPacer(
            settings.lines_per_agent,
            p.max_lines_per_agent,
            cap=p.cap,
            target=p.target,
            windows_s=p.windows_s,
            min_answered=p.brake_min_answered,
        )
    return PredictivePacer(settings.predictive)
