"""The abandon message's recorded prompts, spoken by espeak-ng and converted by sox.

The fixed prompts (deploy/asterisk/sounds/dialer/, committed) are remade with

    python -m dialer.prompts fixed [--out deploy/asterisk/sounds/dialer]

and a campaign's name prompt, a stand-in until someone records the real thing, with

    python -m dialer.prompts campaign 7 "Acme Energy" --sounds-dir /usr/share/asterisk/sounds

which writes <sounds-dir>/dialer/campaign-7.wav and prints the sound name to give the campaign
(`dialer campaign edit NAME --name-prompt dialer/campaign-7`). A real recording replaces that
file under the same name (8 kHz, mono, 16-bit WAV; see deploy/asterisk/README.md).

Every file is 8 kHz mono 16-bit signed PCM WAV (what Asterisk's format_wav reads without
transcoding for a G.711 call), with espeak-ng's leading and trailing silence trimmed so the
message starts at once, and 0.15 s of silence added at the end as a pause before the next part.
The same text, espeak-ng and sox give the same bytes (no dither).
Several processes may render at once: each writes a temporary file and renames it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from dialer.domain.abandon import campaign_prompt_name

VOICE: Final = "en-us"
WORDS_PER_MINUTE: Final = 160
FIXED: Final = {
    "abandon-sorry": "Sorry we missed you.",
    "abandon-from": "This call was from",
    "abandon-callback": "Please call us back on",
}
"""The fixed prompts by file name (without .wav): [dialer-abandon] in extensions.conf."""
DEPLOY_SOUNDS: Final = Path(__file__).resolve().parent.parent / "deploy/asterisk/sounds/dialer"
_SOX_OUT: Final = ("-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "wav")
# Drop silence quieter than 0.5% at both ends (espeak-ng pads about 0.1 s before and 0.3 s
# after the speech), then end on a short pause.
_SOX_EFFECTS: Final = (
    "silence", "1", "0.01", "0.5%", "reverse", "silence", "1", "0.01", "0.5%", "reverse",
    "pad", "0", "0.15",
)  # fmt: skip
MAX_TEXT: Final = 200


class PromptError(Exception):
    """A prompt could not be made (a tool missing or failing, bad text)."""


@dataclass(frozen=True, slots=True)
class Rendered:
    path: Path
    seconds: float


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PromptError(f"{name} is not installed (apt-get install {package})")
    return path


def _run(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    except subprocess.TimeoutExpired:
        raise PromptError(f"{Path(command[0]).name} took more than 60 s") from None
    if done.returncode != 0:
        raise PromptError(f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr}")
    return done.stdout


def check_text(text: str) -> str:
    spoken = " ".join(text.split())
    if not spoken:
        raise PromptError("the prompt's text is empty")
    if len(spoken) > MAX_TEXT:
        raise PromptError(f"the prompt's text is longer than {MAX_TEXT} characters")
    return spoken


def render(text: str, target: Path, *, voice: str = VOICE) -> Rendered:
    """Speak `text` into the WAV file `target` (replaced if it exists)."""
    spoken = check_text(text)
    espeak = _tool("espeak-ng", "espeak-ng")
    sox = _tool("sox", "sox")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dialer-prompt-") as tmp:
        raw = Path(tmp) / "spoken.wav"
        # "--" so a text starting with "-" is not read as an option.
        _run([espeak, "-v", voice, "-s", str(WORDS_PER_MINUTE), "-w", str(raw), "--", spoken])
        fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".wav", dir=target.parent)
        os.close(fd)
        try:
            # -D: no dither, so the same text gives the same bytes (sox dithers with noise
            # when it lowers the resolution after resampling).
            _run([sox, "-D", str(raw), *_SOX_OUT, partial, *_SOX_EFFECTS])
            seconds = float(_run([sox, "--i", "-D", partial]).strip())
            os.chmod(partial, 0o644)
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)
    if seconds <= 0.2:
        raise PromptError(f"espeak-ng said nothing audible for {spoken!r}")
    return Rendered(target, seconds)


def render_fixed(out_dir: Path = DEPLOY_SOUNDS) -> dict[str, Rendered]:
    """Every fixed prompt of the abandon message into `out_dir` (`<name>.wav`)."""
    return {name: render(text, out_dir / f"{name}.wav") for name, text in FIXED.items()}


def render_campaign(campaign_id: int, text: str, sounds_dir: Path) -> tuple[str, Rendered]:
    """A campaign's name prompt, spoken by espeak-ng, as `<sounds_dir>/dialer/campaign-<id>.wav`.

    Returns the sound name for the campaign's `name_prompt` and the file. `sounds_dir` is the
    PBX's sounds directory (Asterisk on Debian: /usr/share/asterisk/sounds)."""
    name = campaign_prompt_name(campaign_id)
    return name, render(text, sounds_dir / f"{name}.wav")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dialer.prompts",
        description="Make the abandon message's prompts with espeak-ng and sox "
        "(8 kHz mono 16-bit WAV).",
    )
    sub = parser.add_subparsers(dest="what", required=True)
    fixed = sub.add_parser("fixed", help="the fixed prompts (sorry / this call was from / ...)")
    fixed.add_argument("--out", type=Path, default=DEPLOY_SOUNDS, help="default: %(default)s")
    camp = sub.add_parser(
        "campaign",
        help="a campaign's name prompt, spoken by espeak-ng (a stand-in for a real recording)",
    )
    camp.add_argument("campaign_id", type=int, metavar="CAMPAIGN_ID")
    camp.add_argument("text", metavar="TEXT", help='what to say, e.g. "Acme Energy"')
    camp.add_argument(
        "--sounds-dir",
        type=Path,
        required=True,
        help="the PBX's sounds directory (Debian Asterisk: /usr/share/asterisk/sounds)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.what == "fixed":
            for rendered in render_fixed(args.out).values():
                print(f"{rendered.path} ({rendered.seconds:.2f} s)")
        else:
            if args.campaign_id < 1:
                print("dialer.prompts: CAMPAIGN_ID must be positive", file=sys.stderr)
                return 2
            name, rendered = render_campaign(args.campaign_id, args.text, args.sounds_dir)
            print(f"{rendered.path} ({rendered.seconds:.2f} s)")
            print(f"name_prompt: {name}")
    except PromptError as exc:
        print(f"dialer.prompts: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
