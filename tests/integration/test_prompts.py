"""`python -m dialer.prompts`: the abandon message's prompts made with espeak-ng and sox, in the
format Asterisk plays without transcoding (8 kHz, mono, 16-bit WAV)."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

from dialer.prompts import FIXED, render_fixed
from tests.fixtures.db import ROOT


def _format(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path)) as wav:
        rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
        return rate, channels, width, wav.getnframes() / rate


def test_fixed_prompts_are_made_again(tmp_path: Path) -> None:
    made = render_fixed(tmp_path)
    assert set(made) == set(FIXED)
    for name, rendered in made.items():
        assert rendered.path == tmp_path / f"{name}.wav"
        rate, channels, width, seconds = _format(rendered.path)
        assert (rate, channels, width) == (8000, 1, 2)
        assert abs(seconds - rendered.seconds) < 0.01
        assert 0.5 < seconds < 2.5
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.wav" for n in FIXED)


def test_campaign_prompt_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dialer.prompts", "campaign", "7", "Acme Energy",
         "--sounds-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "name_prompt: dialer/campaign-7" in done.stdout
    rate, channels, width, seconds = _format(tmp_path / "dialer" / "campaign-7.wav")
    assert (rate, channels, width) == (8000, 1, 2)
    assert 0.4 < seconds < 3.0
    bad = subprocess.run(
        [sys.executable, "-m", "dialer.prompts", "campaign", "7", "   ",
         "--sounds-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "text is empty" in bad.stderr
